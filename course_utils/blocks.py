"""The residual blocks of He et al. 2015/2016, in torchvision's structure, and their small conv helpers.

- ``BasicBlock``: two 3x3 convs (ResNet-18/34 and the CIFAR nets), ``expansion = 1``;
- ``Bottleneck``: 1x1 reduce, 3x3, 1x1 expand (ResNet-50/101/152), ``expansion = 4``;
- ``PreActBlock``: the pre-activation block of "Identity Mappings in Deep Residual Networks";
- ``ShortcutA``: the parameter-free option A shortcut (subsample + zero channels).

``models`` assembles them into networks (and re-exports every name here).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "SHORTCUTS",
    "STRIDE_ON",
    "conv3x3",
    "conv1x1",
    "check_stride_on",
    "check_input",
    "ShortcutA",
    "BasicBlock",
    "Bottleneck",
    "PreActBlock",
    "Block",
]

SHORTCUTS = ("A", "B")
STRIDE_ON = ("3x3", "1x1")


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 conv, padding 1, no bias (the BN that follows has its own shift)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 conv, no padding, no bias: mixes channels, or projects a shortcut."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def check_stride_on(stride_on: str) -> str:
    if stride_on not in STRIDE_ON:
        raise ValueError(
            f"stride_on must be one of {STRIDE_ON} ('3x3' = torchvision v1.5, "
            f"'1x1' = original Caffe v1), got {stride_on!r}"
        )
    return stride_on


def check_input(x: Tensor) -> None:
    """Fail early, with a readable message, on anything but a (B, 3, H, W) batch."""
    if x.dim() != 4 or x.shape[1] != 3:
        hint = " (a single image? add a batch dimension: x.unsqueeze(0))" if x.dim() == 3 else ""
        raise ValueError(f"expected 3 input channels (B, 3, H, W), got shape {tuple(x.shape)}{hint}")


class ShortcutA(nn.Module):
    """Option A shortcut (He et al. 2015): identity, subsampled by ``stride``, zero-padded channels.

    Parameter-free. ``x[..., ::s, ::s]`` keeps pixels 0, s, 2s, ...: exactly the
    centres of a 3x3/stride-s/pad-1 conv, so both paths see the same positions.
    (B, in_planes, H, W) -> (B, planes, ceil(H/s), ceil(W/s)).
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        if planes < in_planes:
            raise ValueError(f"option A can only add channels, got {in_planes} -> {planes}")
        self.in_planes, self.planes, self.stride = in_planes, planes, stride

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]  # (B, C_in, H/s, W/s)
        return F.pad(x, (0, 0, 0, 0, 0, self.planes - self.in_planes))  # (B, planes, H/s, W/s)

    def extra_repr(self) -> str:
        return f"{self.in_planes}, {self.planes}, stride={self.stride}"


class BasicBlock(nn.Module):
    """Two 3x3 convs: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``.

    ``residual=False`` gives the *plain* block of the paper: the same layers, no shortcut.
    (B, in_planes, H, W) -> (B, planes, H/stride, W/stride).
    """

    expansion: int = 1

    def __init__(
        self, in_planes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, residual: bool = True
    ) -> None:
        super().__init__()
        if downsample is not None and not residual:
            raise ValueError("a plain block (residual=False) has no shortcut, so no downsample")
        # conv1 and the downsample both reduce the size when stride != 1
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.residual = residual

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))  # (B, planes, H/s, W/s)
        out = self.bn2(self.conv2(out))  # F(x), same shape
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))  # F(x) + x
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 (reduce) -> 3x3 -> 1x1 (expand x4), for ResNet-50/101/152.

    Where the stride sits: the original Caffe model (He et al. 2015, "v1") strides the
    first 1x1, which simply drops 3 of every 4 positions before any 3x3 has seen them;
    torchvision ("v1.5", ``stride_on="3x3"``) strides the 3x3 instead, which costs
    more MACs and is ~0.5% more accurate on ImageNet. The parameters are identical.
    (B, in_planes, H, W) -> (B, 4 * planes, H/stride, W/stride).
    """

    expansion: int = 4

    def __init__(
        self, in_planes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, stride_on: str = "3x3"
    ) -> None:
        super().__init__()
        s1, s3 = (stride, 1) if check_stride_on(stride_on) == "1x1" else (1, stride)
        self.conv1 = conv1x1(in_planes, planes, s1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, s3)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))  # (B, planes, H or H/s, W or W/s)
        out = self.relu(self.bn2(self.conv2(out)))  # (B, planes, H/s, W/s)
        out = self.bn3(self.conv3(out))  # (B, 4 * planes, H/s, W/s)
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class PreActBlock(nn.Module):
    """Pre-activation block (He et al. 2016): ``x + conv2(relu(bn2(conv1(relu(bn1(x))))))``.

    BN-ReLU come *before* each conv and nothing follows the addition, so the
    shortcut path is a clean identity from block to block. Where the shape
    changes, the shortcut takes the pre-activated input, as in the authors' code.
    (B, in_planes, H, W) -> (B, planes, H/stride, W/stride).
    """

    expansion: int = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(x))  # pre-activation, (B, in_planes, H, W)
        shortcut = x if self.downsample is None else self.downsample(out)
        out = self.conv1(out)  # (B, planes, H/s, W/s)
        out = self.conv2(self.relu(self.bn2(out)))
        return out + shortcut


Block = type[BasicBlock] | type[Bottleneck] | type[PreActBlock]
