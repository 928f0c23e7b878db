"""ResNet-B, -C and -D of "Bag of Tricks" (He et al. 2019, arXiv:1812.01187), as edits of a built ResNet.

- ResNet-B moves a Bottleneck's stride from the first 1x1 to the 3x3 (torchvision's "v1.5",
  ``stride_on="3x3"``): a strided 1x1 reads 1 of every 4 positions and throws 3 away.
- ResNet-C replaces the 7x7 stem conv by three 3x3 convs (32, 32, 64 filters; the first strided).
- ResNet-D also fixes the *shortcut*: its strided 1x1 projection throws away 3 of 4 positions
  too (like option A's ``x[..., ::2, ::2]``); an average pool first lets every position count.

    >>> from course_utils.models.resnet import count_params, resnet50
    >>> count_params(resnet50_tweaked("D"))   # timm's resnet50d has the same count
    25576264
"""

from __future__ import annotations

from torch import Tensor, nn

from course_utils.blocks import conv1x1, conv3x3
from course_utils.models.resnet import CifarResNet, ResNet, resnet50

__all__ = ["VARIANTS", "AvgPoolShortcut", "deep_stem", "use_avgpool_shortcuts", "resnet50_tweaked"]

VARIANTS = ("A", "B", "C", "D")


class AvgPoolShortcut(nn.Module):
    """ResNet-D's projection shortcut: 2x2 average pool (stride s), then 1x1 conv (stride 1) and BN.

    Every input position reaches the output, where a strided 1x1 reads only 1 in s*s.
    (B, in_planes, H, W) -> (B, out_planes, ceil(H/s), ceil(W/s)).
    """

    def __init__(self, in_planes: int, out_planes: int, stride: int = 2) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False)
        self.conv = conv1x1(in_planes, out_planes)
        self.bn = nn.BatchNorm2d(out_planes)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(self.pool(x)))


def deep_stem(out_planes: int = 64) -> nn.Sequential:
    """ResNet-C's stem conv: 3x3/2 (32) -> BN-ReLU -> 3x3 (32) -> BN-ReLU -> 3x3 (out_planes).

    The model's own ``bn1`` and ``relu`` follow it, as they follow the 7x7. (B, 3, H, W) -> (B, 64, H/2, W/2).
    """
    mid = out_planes // 2
    return nn.Sequential(
        conv3x3(3, mid, 2),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        conv3x3(mid, mid),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        conv3x3(mid, out_planes),
    )


def use_avgpool_shortcuts(model: ResNet | CifarResNet) -> ResNet | CifarResNet:
    """Swap every strided ``conv1x1 + BN`` projection for an :class:`AvgPoolShortcut` (in place); returns ``model``.

    Works on torchvision-style ResNets and on option-B CIFAR nets (option A has no projection to swap).
    """
    for block in model.modules():
        down = getattr(block, "downsample", None)
        if isinstance(down, nn.Sequential) and isinstance(down[0], nn.Conv2d) and down[0].stride[0] > 1:
            conv = down[0]
            block.downsample = AvgPoolShortcut(conv.in_channels, conv.out_channels, conv.stride[0])
    return model


def resnet50_tweaked(variant: str, *, num_classes: int = 1000) -> ResNet:
    """ResNet-50 as variant A (stride on the first 1x1), B (on the 3x3), C (B + deep stem) or D (C + avg-pool
    shortcuts). (B, 3, H, W) -> (B, num_classes)."""
    variant = variant.upper() if isinstance(variant, str) else variant
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    net = resnet50(num_classes=num_classes, stride_on="1x1" if variant == "A" else "3x3")
    if variant in ("C", "D"):
        net.conv1 = deep_stem(64)
        net._init_weights(zero_init_residual=False)
    if variant == "D":
        use_avgpool_shortcuts(net)
        net._init_weights(zero_init_residual=False)
    return net
