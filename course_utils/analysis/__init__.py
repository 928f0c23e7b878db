"""Looking inside networks: gradients, layer responses, lesions, loss landscapes.

Three modules, re-exported here so notebooks write ``analysis.<name>``:

- ``gradients``: gradient norms per layer, shattered gradients (Balduzzi et al. 2017),
  gradient flow through depth, the toy MLPs of notebooks 01-02
- ``inside``: layer responses (He et al. 2015, Fig. 7), lesion studies (Veit et al. 2016)
- ``landscape``: filter-normalised loss landscapes (Li et al. 2018)

The test error of a model is ``course_utils.evaluation.error_percent``.
"""

from course_utils.analysis.gradients import (
    MLPBlock,
    autocorrelation,
    calibrate_batchnorm,
    grad_norms_per_layer,
    gradient_flow,
    input_gradient_sweep,
    relative_change,
    residual_sensitivity,
    toy_mlp,
    two_spirals,
)
from course_utils.analysis.inside import (
    ShortcutOnly,
    layer_responses,
    lesion_plan,
    lesion_replacement,
    lesion_study,
    lesioned,
    residual_blocks,
    response_layers,
)
from course_utils.analysis.landscape import (
    filter_normalized_direction,
    loss_landscape_1d,
    loss_landscape_2d,
)

__all__ = [
    # gradients (notebooks 01-02)
    "MLPBlock",
    "toy_mlp",
    "two_spirals",
    "grad_norms_per_layer",
    "calibrate_batchnorm",
    "input_gradient_sweep",
    "autocorrelation",
    "gradient_flow",
    "relative_change",
    "residual_sensitivity",
    # inside (notebook 07)
    "response_layers",
    "layer_responses",
    "residual_blocks",
    "ShortcutOnly",
    "lesion_replacement",
    "lesioned",
    "lesion_plan",
    "lesion_study",
    # landscape (notebook 07)
    "filter_normalized_direction",
    "loss_landscape_1d",
    "loss_landscape_2d",
]
