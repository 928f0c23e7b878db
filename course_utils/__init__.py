"""course_utils: the small, tested package behind the hands-on ResNet course.

Modules (data flows one way: data -> train -> experiments -> results/*.json -> plots):

- ``profile``     run profiles (smoke | cpu | gpu) and device choice
- ``shapes``      output-size formulas, receptive field, per-layer summary tables
- ``models``      CIFAR plain/ResNet nets, pre-activation, ResNet-18..152
- ``data``        CIFAR-10 sources, cache, split, normalisation, augmentation
- ``train``       the paper's schedule, training loop, evaluation, checkpoints
- ``experiments`` named experiments (``fig6``) and their command line
- ``bench``       training throughput: our pipeline vs a DataLoader baseline
- ``plots``       paper-style curves and tables from result files
- ``analysis``    gradient correlation, layer responses, lesions, loss landscape
- ``checks``      the exercise checkers the notebooks call

Import the modules you need, e.g. ``from course_utils import models``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
