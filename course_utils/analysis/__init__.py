"""Looking inside networks: gradients, layer responses, lesions, loss landscapes.

Three modules, re-exported here so notebooks write ``analysis.<name>``:

- ``gradients``: gradient norms per layer, shattered gradients (Balduzzi et al. 2017),
  gradient flow through depth, the toy MLPs of notebooks 01-02
- ``inside``: layer responses (He et al. 2015, Fig. 7), lesion studies (Veit et al. 2016)
- ``landscape``: filter-normalised loss landscapes (Li et al. 2018)

The test error of a model is ``course_utils.evaluation.error_percent``; why a trained net's test error
misses the paper's (fit, BN statistics, the JPEG copy) is ``course_utils.analysis.gap``, a command of its own
(``python -m course_utils.analysis.gap``).
"""

from course_utils.analysis import gradients, inside, landscape
from course_utils.analysis.gradients import *  # noqa: F403  (each module's __all__ lists its public names)
from course_utils.analysis.inside import *  # noqa: F403
from course_utils.analysis.landscape import *  # noqa: F403

__all__ = [name for module in (gradients, inside, landscape) for name in module.__all__]
