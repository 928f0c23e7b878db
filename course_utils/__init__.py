"""course_utils: the small, tested package behind the hands-on ResNet course.

Modules, from the lower layers up (imports flow one way; ``tests/test_layout.py`` checks it):

- ``paths``, ``profile``, ``cpu``
                             where things live; run profiles (smoke | cpu | gpu) and devices; the
                             processor (its name, its flags, native bf16)
- ``shapes``, ``blocks``     output-size formulas and summary tables; the residual blocks
- ``schedule``, ``transforms``, ``checkpoint``, ``fig6_set``, ``estimate``, ``stopping``
                             the recipe's lr schedule; split, normalisation, augmentation; checkpoint
                             files; the Fig. 6 nets, their groups and order of work; how long a set takes
                             from measured times; Ctrl-C as a request to stop between two steps
- ``models``, ``data``, ``loader``, ``step``
                             CIFAR and ImageNet ResNets; CIFAR-10 sources and cache; batches on the
                             device; one SGD step
- ``budget``, ``evaluation``, ``results``, ``scheduler``, ``public``, ``diagrams``
                             what a run sees; error %; the results contract; groups under a time budget
                             (and the plan); the public curves; markdown figures
- ``train``                  one training run (``TrainRun``, ``train_model``), resumable
- ``graphs``, ``engine``     CUDA-graph steps; groups of runs trained at once
- ``probe``                  which variant (graphs / compile / bf16 / eager) is correct, and fastest, per net
- ``experiments``, ``bench``, ``plots``, ``analysis``, ``checks``, ``transfer``, ``slides``
                             fig6 and its command line; throughput; figures; inside trained nets; the
                             exercise checkers; transfer learning; slide decks
- ``tables``                 tables and claims from result files

Import the modules you need, e.g. ``from course_utils import models``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
