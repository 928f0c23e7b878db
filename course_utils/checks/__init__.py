"""Exercise checkers the notebooks call, one module per part of the course.

Each ``check_*`` takes a student's answer, prints a confirmation for a right
answer or a helpful hint for a wrong or missing one, and returns a ``Verdict``
(truthy when right, and silent as a cell's last value: no stray ``False``).
A wrong answer never raises, so a notebook with unanswered exercises still
runs top to bottom. Notebooks write ``checks.check_<name>(answer)``.

- ``degradation``: notebook 01 (depth arithmetic, a gradient-ratio prediction, shattered gradients)
- ``residuals``: notebook 02 (residual learning: the identity, a near-zero target, paths, block factors)
- ``shapes``: notebook 03 (shape arithmetic: conv output sizes, receptive fields,
  parameter and MAC counts, the classifier head)
- ``blocks``: notebook 04 (building blocks: a basic or bottleneck block, a stage, a CIFAR
  ResNet, an ImageNet-style ResNet (``check_resnet``); symptoms, not fixes)
- ``counts``: notebook 04's counting exercises (layers, projection parameters, the Bottleneck's stride)
- ``preact``: notebook 04's pre-activation exercise (a pre-activation block, the ReLUs on the shortcut path)
- ``training``: notebook 05 (training on CIFAR-10: the recipe in numbers)
- ``curves``: notebook 06 (reading Fig. 6's curves: the public full-schedule run and ours)
- ``analysis``: notebook 07 (why it works: layer responses, lesions, loss landscapes, widths)
- ``transfer``: notebook 08 (transfer learning; what came after ResNet)

Shared by all: ``_verdict`` (the printed verdict, the placeholder test, the slip lookup) and ``_reveal``
(``with checks.solution():`` folds a solution's printed answers; ``predict`` records a guess before
``reveal`` shows the measurement);
shared by ``shapes``, ``blocks``, ``counts`` and ``preact``: ``_reference`` (reference blocks, a located forward pass).
"""

from course_utils.checks import analysis, blocks, curves, degradation, preact, residuals, shapes, training, transfer
from course_utils.checks._reveal import forget_guesses, predict, reveal, solution
from course_utils.checks._verdict import Verdict, as_number, numeric, report, unanswered
from course_utils.checks.analysis import *  # noqa: F403  (each module's __all__ lists its checkers)
from course_utils.checks.blocks import *  # noqa: F403
from course_utils.checks.curves import *  # noqa: F403
from course_utils.checks.degradation import *  # noqa: F403
from course_utils.checks.preact import *  # noqa: F403
from course_utils.checks.residuals import *  # noqa: F403
from course_utils.checks.shapes import *  # noqa: F403
from course_utils.checks.training import *  # noqa: F403
from course_utils.checks.transfer import *  # noqa: F403

__all__ = [
    "Verdict",
    "as_number",
    "numeric",
    "report",
    "unanswered",
    "solution",
    "predict",
    "reveal",
    "forget_guesses",
] + [
    name
    for module in (degradation, residuals, shapes, blocks, preact, training, curves, analysis, transfer)
    for name in module.__all__
]
