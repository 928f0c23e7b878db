"""Stochastic depth (Huang et al. 2016, arXiv:1603.09382): drop whole residual branches while training.

Block l of L keeps its branch with probability ``p_l = 1 - l / L * (1 - p_L)`` (the linear decay rule,
``p_L = 0.5`` in the paper) and is ``relu(shortcut(x))`` otherwise; at test time every branch runs,
scaled by ``p_l``. It trains an ensemble of shallower nets, and only works because a ResNet survives
the loss of a block (the lesion study of notebook 07).

    >>> net = stochastic_depth_cifar(20, p_last=0.5)
    >>> [round(b.survival, 3) for b in net.layer3]
    [0.611, 0.556, 0.5]
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from course_utils.blocks import BasicBlock
from course_utils.models.resnet import CifarResNet, resnet_cifar

__all__ = ["StochasticDepthBlock", "linear_decay", "stochastic_depth_cifar"]


class StochasticDepthBlock(nn.Module):
    """A residual ``BasicBlock`` whose branch ``F`` is kept with probability ``survival`` in training.

    Train: ``relu(shortcut(x) + F(x))`` with probability ``survival``, else ``relu(shortcut(x))``
    (one coin per batch, as in the paper). Eval: ``relu(shortcut(x) + survival * F(x))``.
    (B, in_planes, H, W) -> (B, planes, H/stride, W/stride).
    """

    def __init__(self, block: BasicBlock, survival: float) -> None:
        super().__init__()
        if not 0.0 <= survival <= 1.0:
            raise ValueError(f"survival must be in [0, 1], got {survival}")
        if not block.residual:
            raise ValueError("stochastic depth needs a residual block: a plain block has no shortcut to fall back on")
        self.block, self.survival = block, float(survival)

    def forward(self, x: Tensor) -> Tensor:
        b = self.block
        short = x if b.downsample is None else b.downsample(x)
        if self.training and torch.rand(()).item() >= self.survival:
            return b.relu(short)  # the branch is skipped: no compute, no gradient
        out = b.bn2(b.conv2(b.relu(b.bn1(b.conv1(x)))))  # F(x)
        return b.relu(short + (out if self.training else self.survival * out))

    def extra_repr(self) -> str:
        return f"survival={self.survival:.3f}"


def linear_decay(n_blocks: int, p_last: float = 0.5) -> list[float]:
    """Survival probabilities ``1 - l / L * (1 - p_last)`` for blocks l = 1..L (Huang et al., eq. 4)."""
    return [1.0 - (i + 1) / n_blocks * (1.0 - p_last) for i in range(n_blocks)]


def stochastic_depth_cifar(depth: int, *, p_last: float = 0.5, num_classes: int = 10) -> CifarResNet:
    """CIFAR ResNet (option A) of depth 6n+2 whose blocks drop out by the linear decay rule; same parameters."""
    net = resnet_cifar(depth, num_classes=num_classes)
    stages = (net.layer1, net.layer2, net.layer3)
    probs = iter(linear_decay(sum(len(s) for s in stages), p_last))
    for stage in stages:
        for i in range(len(stage)):
            stage[i] = StochasticDepthBlock(stage[i], next(probs))
    return net
