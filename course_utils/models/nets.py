"""The network classes behind the builders of ``models.resnet``: the CIFAR nets and the ImageNet ResNet.

``CifarResNet`` is the 6n+2-layer net of He et al. 2015, section 4.2 (and its pre-activation
variant, He et al. 2016); ``ResNet`` is torchvision's ImageNet ResNet, layer names included, so
its state_dicts load with ``strict=True``. Both share ``_make_layer`` (one stage of blocks) and
the initialisation. Both map (B, 3, H, W) to (B, num_classes).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from course_utils.blocks import (
    BasicBlock,
    Block,
    Bottleneck,
    PreActBlock,
    ShortcutA,
    check_input,
    check_stride_on,
    conv1x1,
    conv3x3,
)

__all__ = ["CifarResNet", "ResNet"]


class _ResNetBase(nn.Module):
    """What the CIFAR and ImageNet nets share: ``_make_layer`` and the initialisation."""

    in_planes: int

    def _make_layer(
        self, block: Block, planes: int, blocks: int, stride: int = 1, shortcut: str | None = "B", **block_kwargs: Any
    ) -> nn.Sequential:
        """A stage: ``blocks`` blocks, the first one changes the stride and/or the width."""
        out_planes = planes * block.expansion
        downsample: nn.Module | None = None
        # only the first block changes the shape, so only it needs a non-identity shortcut
        if shortcut is not None and (stride != 1 or self.in_planes != out_planes):
            if shortcut == "A":
                downsample = ShortcutA(self.in_planes, out_planes, stride)
            elif block is PreActBlock:  # the input is already BN-ReLU'd: a bare projection
                downsample = conv1x1(self.in_planes, out_planes, stride)
            else:
                downsample = nn.Sequential(conv1x1(self.in_planes, out_planes, stride), nn.BatchNorm2d(out_planes))
        layers = [block(self.in_planes, planes, stride, downsample, **block_kwargs)]
        self.in_planes = out_planes
        layers += [block(self.in_planes, planes, **block_kwargs) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _init_weights(self, zero_init_residual: bool) -> None:
        # He et al. 2015b ("Delving deep"): std = sqrt(2 / fan_out) keeps the signal's
        # scale through ReLU layers; BN starts as the identity (weight 1, bias 0).
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # Zero the last BN of every residual branch: F(x) = 0, so each block starts as
        # relu(shortcut(x)), i.e. the identity on the (non-negative) activations it receives.
        # Goyal et al. 2017 (arXiv:1706.02677) report ~0.2-0.3% better ImageNet accuracy.
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock) and m.residual:
                    nn.init.zeros_(m.bn2.weight)


class CifarResNet(_ResNetBase):
    """The CIFAR-10 nets of He et al. 2015, section 4.2 (6n+2 layers), and their pre-act variant.

    3x3 conv (16) -> 3 stages of n blocks with 16/32/64 filters (stride 2 at the start
    of stages 2 and 3) -> global average pooling -> linear. Adaptive pooling makes it
    accept any input size, not only 32x32. With ``PreActBlock`` the stem is a bare conv and
    one final BN-ReLU (``bn``, ``relu``) runs after ``layer3`` instead.
    (B, 3, H, W) -> (B, num_classes).
    """

    def __init__(
        self,
        block: Block,
        layers: list[int],
        *,
        num_classes: int = 10,
        shortcut: str | None = "A",
        residual: bool = True,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        kw = {} if block is PreActBlock else {"residual": residual}
        self.preact = block is PreActBlock
        self.in_planes = 16
        self.conv1 = conv3x3(3, 16)
        if not self.preact:
            self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(block, 16, layers[0], 1, shortcut, **kw)
        self.layer2 = self._make_layer(block, 32, layers[1], 2, shortcut, **kw)
        self.layer3 = self._make_layer(block, 64, layers[2], 2, shortcut, **kw)
        if self.preact:
            self.bn = nn.BatchNorm2d(64 * block.expansion)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64 * block.expansion, num_classes)
        self._init_weights(zero_init_residual)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x)
        x = self.conv1(x)  # (B, 16, H, W)
        if not self.preact:
            x = self.relu(self.bn1(x))
        x = self.layer1(x)  # (B, 16, H, W)
        x = self.layer2(x)  # (B, 32, H/2, W/2)
        x = self.layer3(x)  # (B, 64, H/4, W/4)
        if self.preact:
            x = self.relu(self.bn(x))
        x = torch.flatten(self.avgpool(x), 1)  # (B, 64)
        return self.fc(x)  # (B, num_classes)


class ResNet(_ResNetBase):
    """ImageNet ResNet (torchvision's layer names): 7x7/2 conv, 3x3/2 max-pool, 4 stages, fc.

    ``small_input=True`` swaps the stem for a 3x3/1 conv without max-pool, for 32x32
    images (the "CIFAR ResNet-18" of many public reproductions). ``stride_on`` places a
    ``Bottleneck``'s stride on its 3x3 (torchvision v1.5) or first 1x1 (Caffe v1);
    ``zero_init_residual`` starts every block as its shortcut (see ``_init_weights``).
    (B, 3, H, W) -> (B, num_classes).
    """

    def __init__(
        self,
        block: Block,
        layers: list[int],
        *,
        num_classes: int = 1000,
        zero_init_residual: bool = False,
        stride_on: str = "3x3",
        small_input: bool = False,
    ) -> None:
        super().__init__()
        check_stride_on(stride_on)  # BasicBlock nets have no 1x1 to choose, but a typo is a typo
        kw = {"stride_on": stride_on} if block is Bottleneck else {}
        self.in_planes = 64
        if small_input:
            self.conv1: nn.Module = conv3x3(3, 64)
            self.maxpool: nn.Module = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(block, 64, layers[0], 1, **kw)
        self.layer2 = self._make_layer(block, 128, layers[1], 2, **kw)
        self.layer3 = self._make_layer(block, 256, layers[2], 2, **kw)
        self.layer4 = self._make_layer(block, 512, layers[3], 2, **kw)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        self._init_weights(zero_init_residual)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, 64, H/4, W/4); small: (B, 64, H, W)
        x = self.layer1(x)  # (B, 64 * e, H/4, W/4)
        x = self.layer2(x)  # (B, 128 * e, H/8, W/8)
        x = self.layer3(x)  # (B, 256 * e, H/16, W/16)
        x = self.layer4(x)  # (B, 512 * e, H/32, W/32)
        x = torch.flatten(self.avgpool(x), 1)  # (B, 512 * e)
        return self.fc(x)  # (B, num_classes)
