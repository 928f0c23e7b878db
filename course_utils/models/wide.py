"""Wide ResNets, WRN-d-k (Zagoruyko & Komodakis 2016, arXiv:1605.07146): fewer, wider pre-act blocks.

WRN-d-k has (d - 4) / 6 pre-activation blocks per stage of 16k, 32k and 64k filters after a
16-filter 3x3 stem (a 1x1 projection where the width changes), then BN-ReLU, pooling and a linear
layer. The paper's Table 1 gives WRN-16-8 11.0M and WRN-28-10 36.5M parameters.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from course_utils.blocks import conv1x1, conv3x3

__all__ = ["WideBlock", "WideResNet", "wide_resnet"]


class WideBlock(nn.Module):
    """Pre-act block with optional dropout between the convs: ``x + conv2(drop(relu(bn2(conv1(relu(bn1(x)))))))``.

    Where the shape changes the shortcut is a 1x1 conv of the pre-activated input.
    (B, in_planes, H, W) -> (B, planes, H/stride, W/stride).
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = conv3x3(planes, planes)
        self.shortcut = conv1x1(in_planes, planes, stride) if stride != 1 or in_planes != planes else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(x))  # (B, in_planes, H, W)
        short = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)  # (B, planes, H/s, W/s)
        out = self.conv2(self.dropout(self.relu(self.bn2(out))))
        return out + short


class WideResNet(nn.Module):
    """WRN-depth-k for 32x32 images. (B, 3, H, W) -> (B, num_classes)."""

    def __init__(self, depth: int, k: int, *, num_classes: int = 10, dropout: float = 0.0) -> None:
        super().__init__()
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
            raise ValueError(f"WRN depth must be 6n+4 with n >= 1 (e.g. 16, 22, 28, 40), got {depth!r}")
        n, widths = (depth - 4) // 6, [16 * k, 32 * k, 64 * k]
        self.conv1 = conv3x3(3, 16)
        layers, in_planes = [], 16
        for i, w in enumerate(widths):
            blocks = [
                WideBlock(in_planes if j == 0 else w, w, 2 if (i > 0 and j == 0) else 1, dropout) for j in range(n)
            ]
            layers.append(nn.Sequential(*blocks))
            in_planes = w
        self.layer1, self.layer2, self.layer3 = layers
        self.bn = nn.BatchNorm2d(widths[-1])
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[-1], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)  # (B, 16, H, W)
        x = self.layer3(self.layer2(self.layer1(x)))  # (B, 64k, H/4, W/4)
        x = torch.flatten(self.avgpool(self.relu(self.bn(x))), 1)  # (B, 64k)
        return self.fc(x)


def wide_resnet(depth: int, k: int, *, num_classes: int = 10, dropout: float = 0.0) -> WideResNet:
    """WRN-depth-k, e.g. ``wide_resnet(28, 10)`` (36.5M parameters) or ``wide_resnet(16, 8)`` (11.0M)."""
    return WideResNet(depth, k, num_classes=num_classes, dropout=dropout)
