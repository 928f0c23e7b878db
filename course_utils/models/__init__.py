"""Residual networks for the course, one small module per family.

- ``resnet``           the builders, one line each: the CIFAR nets of He et al. 2015 (plain, ResNet, pre-act)
                       and ImageNet ResNet-18..152, plus the name registry (``get_model``, ``canonical_name(s)``,
                       ``MODEL_NAMES``)
- ``nets``             the network classes those builders make: ``CifarResNet`` and ``ResNet`` (torchvision's layout)
- ``tricks``           ResNet-A/B/C/D of "Bag of Tricks" (He et al. 2019): strides, deep stem, avg-pool shortcut
- ``resnext``          ResNeXt: grouped 3x3 convolutions (Xie et al. 2017)
- ``wide``             Wide ResNets, WRN-d-k (Zagoruyko & Komodakis 2016)
- ``stochastic_depth`` residual branches dropped at random while training (Huang et al. 2016)
- ``init_schemes``     zero-gamma, Fixup and SkipInit: deep ResNets with gentler BN or none

Everything the old single ``models`` module exported is re-exported here, so
``from course_utils import models; models.resnet_cifar(20)`` keeps working.
"""

from course_utils.models import init_schemes, resnext, stochastic_depth, tricks, wide
from course_utils.models.init_schemes import fixup_cifar, no_bn_cifar, skipinit_cifar, zero_gamma_cifar
from course_utils.models.resnet import *  # noqa: F403
from course_utils.models.resnet import __all__ as _resnet_all
from course_utils.models.resnext import resnext50_32x4d
from course_utils.models.stochastic_depth import stochastic_depth_cifar
from course_utils.models.tricks import resnet50_tweaked, use_avgpool_shortcuts
from course_utils.models.wide import wide_resnet

__all__ = [
    *_resnet_all,
    "init_schemes",
    "resnext",
    "stochastic_depth",
    "tricks",
    "wide",
    "fixup_cifar",
    "no_bn_cifar",
    "skipinit_cifar",
    "zero_gamma_cifar",
    "resnext50_32x4d",
    "stochastic_depth_cifar",
    "resnet50_tweaked",
    "use_avgpool_shortcuts",
    "wide_resnet",
]
