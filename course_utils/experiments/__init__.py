"""Named experiments, their command line, and trained networks for the notebooks.

- ``fig6``: He et al. 2015, Fig. 6 (plain vs residual nets on CIFAR-10), in a fixed order of work,
  with a time limit, resumable; ``python -m course_utils.experiments fig6 --help``; ``--plan SECONDS``
  prints what one device lease of SECONDS finishes (``lease.plan``)
- ``provision``: trained networks for notebooks 05-07 (committed weights first, else a live run)
"""

from course_utils.experiments.cli import main
from course_utils.experiments.figure6 import default_out, fig6
from course_utils.experiments.provision import TrainedNet, normalizer_for, trained_networks

__all__ = [
    "fig6",
    "default_out",
    "TrainedNet",
    "trained_networks",
    "normalizer_for",
    "main",
]
