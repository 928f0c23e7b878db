"""Exercise checkers the notebooks call, one module per part of the course.

Each ``check_*`` takes a student's answer, prints a confirmation for a right
answer or a helpful hint for a wrong or missing one, and returns ``True`` or
``False``. A wrong answer never raises, so a notebook with unanswered exercises
still runs top to bottom. Notebooks write ``checks.check_<name>(answer)``.

- ``residuals``: notebooks 01-02 (degradation, residual learning)
- ``blocks``: notebooks 03-04 (shape arithmetic, building blocks)
- ``training``: notebooks 05-07 (training, Fig. 6, why it works)
"""
from course_utils.checks._verdict import as_number, numeric, report, unanswered  # noqa: F401  (re-exported)
from course_utils.checks.residuals import (  # noqa: F401  (re-exported)
    check_blocks_per_stage,
    check_degradation_cause,
    check_lag1_autocorrelation,
    check_identity_init,
    check_sensitivity,
    check_gradient_factor,
)
from course_utils.checks.blocks import (  # noqa: F401  (re-exported)
    check_conv_out,
    check_receptive_field,
    check_conv_params,
    check_conv_macs,
    check_block_params,
    check_block,
    check_make_stage,
    check_cifar_resnet,
    check_head,
    check_layer_count,
    check_projection_params,
    check_stride_shapes,
)
from course_utils.checks.training import (  # noqa: F401  (re-exported)
    check_epochs,
    check_lr,
    check_augmentation_views,
    check_mean_shape,
    check_fig6_lines,
    check_shortcut_params,
    check_milestone_epoch,
    check_error_noise,
    check_response_count,
    check_deletable_blocks,
    check_filter_normalization,
    check_filter_norm_reason,
)
