"""Exercise checkers the notebooks call, one module per part of the course.

Each ``check_*`` takes a student's answer, prints a confirmation for a right
answer or a helpful hint for a wrong or missing one, and returns ``True`` or
``False``. A wrong answer never raises, so a notebook with unanswered exercises
still runs top to bottom. Notebooks write ``checks.check_<name>(answer)``.

- ``residuals``: notebooks 01-02 (degradation, residual learning)
- ``shapes``: notebook 03 (shape arithmetic: conv output sizes, receptive fields,
  parameter and MAC counts, the classifier head)
- ``blocks``: notebook 04 (building blocks: a residual block, a stage, a CIFAR ResNet,
  layer and projection counts, the Bottleneck's stride)
- ``training``: notebooks 05-07 (training, Fig. 6, why it works)

Shared by all: ``_verdict`` (the printed verdict, the placeholder test, the slip lookup);
shared by ``shapes`` and ``blocks``: ``_reference`` (reference blocks, a located forward pass).
"""

from course_utils.checks._verdict import as_number, numeric, report, unanswered
from course_utils.checks.blocks import (
    check_block,
    check_cifar_resnet,
    check_layer_count,
    check_make_stage,
    check_projection_params,
    check_stride_shapes,
)
from course_utils.checks.residuals import (
    check_blocks_per_stage,
    check_degradation_cause,
    check_gradient_factor,
    check_identity_init,
    check_lag1_autocorrelation,
    check_sensitivity,
)
from course_utils.checks.shapes import (
    check_block_params,
    check_conv_macs,
    check_conv_out,
    check_conv_params,
    check_head,
    check_receptive_field,
)
from course_utils.checks.training import (
    check_augmentation_views,
    check_deletable_blocks,
    check_epochs,
    check_error_noise,
    check_fig6_lines,
    check_filter_norm_reason,
    check_filter_normalization,
    check_lr,
    check_mean_shape,
    check_milestone_epoch,
    check_response_count,
    check_shortcut_params,
)

__all__ = [
    "as_number",
    "numeric",
    "report",
    "unanswered",
    # notebooks 01-02
    "check_blocks_per_stage",
    "check_degradation_cause",
    "check_lag1_autocorrelation",
    "check_identity_init",
    "check_sensitivity",
    "check_gradient_factor",
    # notebook 03
    "check_conv_out",
    "check_receptive_field",
    "check_conv_params",
    "check_conv_macs",
    "check_block_params",
    "check_head",
    # notebook 04
    "check_block",
    "check_make_stage",
    "check_cifar_resnet",
    "check_layer_count",
    "check_projection_params",
    "check_stride_shapes",
    # notebooks 05-07
    "check_epochs",
    "check_lr",
    "check_augmentation_views",
    "check_mean_shape",
    "check_fig6_lines",
    "check_shortcut_params",
    "check_milestone_epoch",
    "check_error_noise",
    "check_response_count",
    "check_deletable_blocks",
    "check_filter_normalization",
    "check_filter_norm_reason",
]
