"""ResNeXt (Xie et al. 2017, arXiv:1611.05431): the Bottleneck's 3x3 split into ``groups`` parallel paths.

A grouped 3x3 conv with g groups of d channels each costs 1/g of a dense one of the same width, so
ResNeXt-50 (32x4d) widens the inner 3x3 from 64 to 128 channels in stage 1 at about ResNet-50's
parameters and MACs. The layer names follow torchvision, so ``resnext50_32x4d`` here loads
``torchvision.models.resnext50_32x4d`` state_dicts (25,028,904 parameters).
"""

from __future__ import annotations

from torch import nn

from course_utils.blocks import Bottleneck, conv1x1
from course_utils.models.resnet import ResNet

__all__ = ["ResNeXtBottleneck", "resnext_block", "resnext50_32x4d"]


class ResNeXtBottleneck(Bottleneck):
    """1x1 (to ``width``) -> grouped 3x3 (``groups`` groups, stride) -> 1x1 (to 4 * planes).

    ``width = int(planes * base_width / 64) * groups``: with 32 groups of 4 channels (32x4d), stage 1
    (planes 64) runs its 3x3 on 128 channels. Only the layers differ from :class:`Bottleneck` (stride on
    the 3x3, as in v1.5); its ``forward`` is reused. (B, in_planes, H, W) -> (B, 4 * planes, H/stride, W/stride).
    """

    expansion: int = 4
    groups: int = 32
    base_width: int = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        nn.Module.__init__(self)  # Bottleneck's layers are replaced by the grouped ones below
        width = int(planes * self.base_width / 64) * self.groups
        self.conv1 = conv1x1(in_planes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, padding=1, groups=self.groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample


def resnext_block(groups: int, base_width: int) -> type[ResNeXtBottleneck]:
    """A :class:`ResNeXtBottleneck` class with ``groups`` x ``base_width``d (e.g. 32, 4 for "32x4d")."""
    return type(
        f"ResNeXtBottleneck{groups}x{base_width}d", (ResNeXtBottleneck,), {"groups": groups, "base_width": base_width}
    )


def resnext50_32x4d(*, num_classes: int = 1000) -> ResNet:
    """ResNeXt-50 (32x4d): ResNet-50's stages [3, 4, 6, 3] with grouped 3x3 convs; 25,028,904 params."""
    return ResNet(resnext_block(32, 4), [3, 4, 6, 3], num_classes=num_classes)
