"""course_utils: the small, tested package behind the hands-on ResNet course.

Modules, from the lower layers up (imports flow one way; ``tests/test_layout.py`` checks it):

- ``paths``, ``profile``, ``cpu``
                             where things live; run profiles (smoke | cpu | gpu: their sizes) and devices;
                             the processor (its name, its flags, native bf16)
- ``shapes``, ``blocks``     output-size formulas and summary tables; the residual blocks
- ``schedule``, ``transforms``, ``checkpoint``, ``fig6_set``, ``estimate``, ``stopping``, ``progress``
                             the recipe's lr schedule; split, normalisation, augmentation; a run's state on disk;
                             the Fig. 6 nets, their groups and order of work; how long a set takes from measured
                             times; Ctrl-C as a request to stop between two steps; a run's progress bar
- ``notebook_save``          a Jupyter server extension: after a save, ``git status`` compares content
- ``models``, ``data``, ``sources``, ``loader``, ``step``
                             CIFAR and ImageNet ResNets; CIFAR-10 in memory and its cache; where the files come
                             from; batches on the device; one SGD step
- ``budget``, ``evaluation``, ``results``, ``public``, ``diagrams``, ``drawing``, ``windows``
                             what a run sees; error %; the results contract; the public curves; markdown figures
- ``train``                  one training run (``TrainRun``, ``train_model``), resumable
- ``graphs``, ``engine``     CUDA-graph steps; groups of runs trained at once on one feed of batches
- ``probe``                  which variant (graphs / compile / bf16 / eager) is correct, and fastest, per net
- ``experiments``, ``bench``, ``pipelines``, ``plots``, ``analysis``, ``checks``, ``transfer``, ``slides``, ``embed``
                             fig6 (one loop: ``experiments/figure6.py``), its command line and the lease plan;
                             throughput and its timed pipelines; figures; inside trained nets; the exercise
                             checkers; transfer learning; slide decks and what they embed
- ``tables``                 tables and claims from result files

Import the modules you need, e.g. ``from course_utils import models``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
