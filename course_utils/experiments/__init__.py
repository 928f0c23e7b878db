"""Named experiments, their command line, and trained networks for the notebooks.

- ``fig6``: He et al. 2015, Fig. 6 (plain vs residual nets on CIFAR-10), in a fixed order of work,
  with a time budget, resumable; ``python -m course_utils.experiments fig6 --help``
- ``provision``: trained networks for notebooks 05-07 (committed weights first, else a live run)
"""

from course_utils.experiments.cli import main
from course_utils.experiments.figure6 import EXTRA_NET, FIG6_NETS, RunSpec, default_out, fig6, plan, plan_schedule
from course_utils.experiments.provision import TrainedNet, normalizer_for, trained_networks

__all__ = [
    "fig6",
    "plan",
    "plan_schedule",
    "default_out",
    "RunSpec",
    "FIG6_NETS",
    "EXTRA_NET",
    "TrainedNet",
    "trained_networks",
    "normalizer_for",
    "main",
]
