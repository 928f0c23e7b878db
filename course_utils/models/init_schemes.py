"""Training deep ResNets with gentler BN or none: zero-gamma, Fixup and SkipInit, on the CIFAR layout.

- zero-gamma (Goyal et al. 2017, arXiv:1706.02677): the last BN of each branch starts at gamma = 0,
  so every block starts as its shortcut (``resnet_cifar(..., zero_init_residual=True)``).
- Fixup (Zhang et al. 2019, arXiv:1901.09321): no BN; scalar biases around each conv, a scalar
  multiplier, the last conv of each branch at 0 and the first scaled by ``L ** (-1 / (2m - 2))``
  (L blocks of m = 2 layers), the classifier at 0.
- SkipInit (De & Smith 2020, arXiv:2002.10444): no BN; each branch times a learnable scalar
  ``alpha`` that starts at 0.
Without BN and without either fix, a He-initialised 56-layer ResNet doubles its signal's variance
in every block: ``no_bn_cifar`` builds that net for comparison.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from course_utils.blocks import ShortcutA, conv3x3
from course_utils.models.resnet import CifarResNet, _cifar_layers, resnet_cifar

__all__ = ["SCHEMES", "NoBNBlock", "NoBNResNet", "zero_gamma_cifar", "fixup_cifar", "skipinit_cifar", "no_bn_cifar"]

SCHEMES = ("fixup", "skipinit", "none")


class NoBNBlock(nn.Module):
    """A BN-free basic block: ``relu(shortcut(x + b1a) + scale * conv2(relu(conv1(x + b1a) + b1b) + b2a) + b2b)``.

    ``scheme``: "fixup" (the four scalar biases, ``scale`` = multiplier starting at 1), "skipinit"
    (``scale`` = alpha starting at 0, biases stay 0 and frozen) or "none" (scale 1, no biases: He init only).
    (B, in_planes, H, W) -> (B, planes, H/stride, W/stride).
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1, scheme: str = "fixup") -> None:
        super().__init__()
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.conv2 = conv3x3(planes, planes)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = ShortcutA(in_planes, planes, stride) if stride != 1 or in_planes != planes else nn.Identity()
        fixup = scheme == "fixup"
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(1), requires_grad=fixup) for _ in range(4)])
        self.scale = nn.Parameter(
            torch.full((1,), 0.0 if scheme == "skipinit" else 1.0), requires_grad=scheme != "none"
        )

    def forward(self, x: Tensor) -> Tensor:
        b1a, b1b, b2a, b2b = self.biases
        x = x + b1a
        out = self.relu(self.conv1(x) + b1b)  # (B, planes, H/s, W/s)
        out = self.conv2(out + b2a) * self.scale + b2b  # the branch F(x)
        return self.relu(self.shortcut(x) + out)


class NoBNResNet(nn.Module):
    """The CIFAR ResNet layout (6n+2 layers, option A) without BN, initialised by ``scheme``.

    (B, 3, H, W) -> (B, num_classes).
    """

    def __init__(self, depth: int, scheme: str, *, num_classes: int = 10) -> None:
        super().__init__()
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
        n = _cifar_layers(depth)[0]
        self.conv1 = conv3x3(3, 16)
        self.bias1 = nn.Parameter(torch.zeros(1), requires_grad=scheme == "fixup")
        self.relu = nn.ReLU(inplace=True)
        stages, in_planes = [], 16
        for i, w in enumerate((16, 32, 64)):
            stride = 1 if i == 0 else 2
            blocks = [NoBNBlock(in_planes if j == 0 else w, w, stride if j == 0 else 1, scheme) for j in range(n)]
            stages.append(nn.Sequential(*blocks))
            in_planes = w
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if scheme == "fixup":  # Zhang et al., sec. 3: rescale the first conv, zero the last, zero the classifier
            for b in self.modules():
                if isinstance(b, NoBNBlock):
                    b.conv1.weight.data.mul_((3 * n) ** (-1 / (2 * 2 - 2)))
                    nn.init.zeros_(b.conv2.weight)
            nn.init.zeros_(self.fc.weight)
            nn.init.zeros_(self.fc.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.conv1(x) + self.bias1)  # (B, 16, H, W)
        x = self.layer3(self.layer2(self.layer1(x)))  # (B, 64, H/4, W/4)
        return self.fc(torch.flatten(self.avgpool(x), 1))  # (B, num_classes)


def zero_gamma_cifar(depth: int, *, num_classes: int = 10) -> CifarResNet:
    """The CIFAR ResNet (option A, with BN) whose blocks start as their shortcut: last BN gamma = 0."""
    return resnet_cifar(depth, num_classes=num_classes, zero_init_residual=True)


def fixup_cifar(depth: int, *, num_classes: int = 10) -> NoBNResNet:
    """Fixup-initialised CIFAR ResNet without BN (Zhang et al. 2019)."""
    return NoBNResNet(depth, "fixup", num_classes=num_classes)


def skipinit_cifar(depth: int, *, num_classes: int = 10) -> NoBNResNet:
    """SkipInit CIFAR ResNet without BN: each branch times alpha = 0 at the start (De & Smith 2020)."""
    return NoBNResNet(depth, "skipinit", num_classes=num_classes)


def no_bn_cifar(depth: int, *, num_classes: int = 10) -> NoBNResNet:
    """The CIFAR ResNet without BN and with He init only: its activations grow about sqrt(2) per block."""
    return NoBNResNet(depth, "none", num_classes=num_classes)
