"""Residual networks for the course: CIFAR nets of He et al. 2015 and ImageNet ResNet-18..152.

The structure follows torchvision's ``models/resnet.py`` (small conv helpers,
block classes with ``expansion``, ``_make_layer``, keyword-only builders), so
``resnet18`` ... ``resnet152`` here load torchvision state_dicts with
``strict=True`` and give the same outputs. This module holds the builders (one
line each) and the name registry; the network classes ``CifarResNet`` and
``ResNet`` live in ``models.nets``, the blocks in ``course_utils.blocks``, and
both are re-exported here.

    >>> count_params(resnet_cifar(20))   # He et al. 2015, Table 6: "0.27M"
    269722
    >>> import torch
    >>> get_model("resnet56")(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])

References: He et al. 2015, "Deep Residual Learning for Image Recognition"
(arXiv:1512.03385); He et al. 2016, "Identity Mappings in Deep Residual
Networks" (arXiv:1603.05027).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from torch import nn

from course_utils.blocks import (
    SHORTCUTS,
    STRIDE_ON,
    BasicBlock,
    Block,
    Bottleneck,
    PreActBlock,
    ShortcutA,
    conv1x1,
    conv3x3,
)
from course_utils.models.nets import CifarResNet, ResNet

__all__ = [
    "SHORTCUTS",
    "STRIDE_ON",
    "conv3x3",
    "conv1x1",
    "ShortcutA",
    "BasicBlock",
    "Bottleneck",
    "PreActBlock",
    "Block",
    "CifarResNet",
    "ResNet",
    "plain_cifar",
    "resnet_cifar",
    "preact_resnet_cifar",
    "resnet18_cifar",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "MODEL_NAMES",
    "canonical_name",
    "canonical_names",
    "get_model",
    "count_params",
]


def _cifar_layers(depth: int) -> list[int]:
    """6n+2 layers = 1 stem conv + 3 stages x n blocks x 2 convs + 1 fc -> [n, n, n]."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(
            f"CIFAR depth must be 6n+2 with n >= 1 (e.g. 20, 32, 44, 56, 110, 1202; "
            f"that is n = 3, 5, 7, 9, 18, 200 blocks per stage), got {depth!r}"
        )
    return [(depth - 2) // 6] * 3


def _check_shortcut(shortcut: str) -> str:
    if not isinstance(shortcut, str) or shortcut.upper() not in SHORTCUTS:
        raise ValueError(
            f"shortcut must be one of {SHORTCUTS}: 'A' = identity, subsampled and "
            f"zero-padded (no parameters), 'B' = 1x1 conv + BN projection where the "
            f"shape changes; got {shortcut!r}"
        )
    return shortcut.upper()


def plain_cifar(depth: int, *, num_classes: int = 10) -> CifarResNet:
    """Plain CIFAR net of depth 6n+2: the ResNet's layers without any shortcut."""
    return CifarResNet(BasicBlock, _cifar_layers(depth), num_classes=num_classes, shortcut=None, residual=False)


def resnet_cifar(
    depth: int, *, shortcut: str = "A", num_classes: int = 10, zero_init_residual: bool = False
) -> CifarResNet:
    """CIFAR ResNet of depth 6n+2 (He et al. 2015 used option A shortcuts)."""
    return CifarResNet(
        BasicBlock,
        _cifar_layers(depth),
        num_classes=num_classes,
        shortcut=_check_shortcut(shortcut),
        zero_init_residual=zero_init_residual,
    )


def preact_resnet_cifar(depth: int, *, shortcut: str = "B", num_classes: int = 10) -> CifarResNet:
    """Pre-activation CIFAR ResNet (He et al. 2016), 1x1 projections where the shape changes."""
    return CifarResNet(PreActBlock, _cifar_layers(depth), num_classes=num_classes, shortcut=_check_shortcut(shortcut))


def resnet18_cifar(*, num_classes: int = 10) -> ResNet:
    """ResNet-18 with a 3x3/1 stem and no max-pool (11,173,962 params for 10 classes)."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes, small_input=True)


def _resnet(block: Block, layers: list[int], num_classes: int, stride_on: str, zero_init_residual: bool) -> ResNet:
    """The ImageNet ResNet of a builder's arguments (torchvision's ``_resnet``, without the weights)."""
    return ResNet(block, layers, num_classes=num_classes, stride_on=stride_on, zero_init_residual=zero_init_residual)


def resnet18(*, num_classes: int = 1000, stride_on: str = "3x3", zero_init_residual: bool = False) -> ResNet:
    """ResNet-18 (He et al. 2015, Table 1): ``BasicBlock``, [2, 2, 2, 2] blocks per stage.

    (2+2+2+2) blocks x 2 convs + stem + fc = 18 layers; 11,689,512 parameters (1000 classes).
    Loads ``torchvision.models.resnet18`` state_dicts; keyword arguments as in :class:`ResNet`.
    """
    return _resnet(BasicBlock, [2, 2, 2, 2], num_classes, stride_on, zero_init_residual)


def resnet34(*, num_classes: int = 1000, stride_on: str = "3x3", zero_init_residual: bool = False) -> ResNet:
    """ResNet-34 (He et al. 2015, Table 1): ``BasicBlock``, [3, 4, 6, 3] blocks per stage.

    (3+4+6+3) blocks x 2 convs + stem + fc = 34 layers; 21,797,672 parameters (1000 classes).
    Loads ``torchvision.models.resnet34`` state_dicts; keyword arguments as in :class:`ResNet`.
    """
    return _resnet(BasicBlock, [3, 4, 6, 3], num_classes, stride_on, zero_init_residual)


def resnet50(*, num_classes: int = 1000, stride_on: str = "3x3", zero_init_residual: bool = False) -> ResNet:
    """ResNet-50 (He et al. 2015, Table 1): ``Bottleneck``, [3, 4, 6, 3] blocks per stage.

    (3+4+6+3) blocks x 3 convs + stem + fc = 50 layers; 25,557,032 parameters (1000 classes).
    Loads ``torchvision.models.resnet50`` state_dicts; keyword arguments as in :class:`ResNet`.
    """
    return _resnet(Bottleneck, [3, 4, 6, 3], num_classes, stride_on, zero_init_residual)


def resnet101(*, num_classes: int = 1000, stride_on: str = "3x3", zero_init_residual: bool = False) -> ResNet:
    """ResNet-101 (He et al. 2015, Table 1): ``Bottleneck``, [3, 4, 23, 3] blocks per stage.

    (3+4+23+3) blocks x 3 convs + stem + fc = 101 layers; 44,549,160 parameters (1000 classes).
    Loads ``torchvision.models.resnet101`` state_dicts; keyword arguments as in :class:`ResNet`.
    """
    return _resnet(Bottleneck, [3, 4, 23, 3], num_classes, stride_on, zero_init_residual)


def resnet152(*, num_classes: int = 1000, stride_on: str = "3x3", zero_init_residual: bool = False) -> ResNet:
    """ResNet-152 (He et al. 2015, Table 1): ``Bottleneck``, [3, 8, 36, 3] blocks per stage.

    (3+8+36+3) blocks x 3 convs + stem + fc = 152 layers; 60,192,808 parameters (1000 classes).
    Loads ``torchvision.models.resnet152`` state_dicts; keyword arguments as in :class:`ResNet`.
    """
    return _resnet(Bottleneck, [3, 8, 36, 3], num_classes, stride_on, zero_init_residual)


_REGISTRY: dict[str, Callable[..., nn.Module]] = {
    **{f"plain{d}": partial(plain_cifar, d) for d in (20, 32, 44, 56, 110)},
    **{f"resnet{d}": partial(resnet_cifar, d) for d in (20, 32, 44, 56, 110, 1202)},
    "preact_resnet110": partial(preact_resnet_cifar, 110),
    "resnet18_cifar": resnet18_cifar,
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "resnet101": resnet101,
    "resnet152": resnet152,
}
MODEL_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def canonical_name(name: str) -> str:
    """The registry name of any accepted spelling: ``"ResNet-20"`` -> ``"resnet20"``; raises on unknown names."""
    key = name.strip().lower().replace("-", "") if isinstance(name, str) else name
    if key not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}")
    return key


def canonical_names(names: str | Sequence[str]) -> list[str]:
    """Registry names of a comma- or space-separated string (``"plain20, ResNet-56"``) or a sequence of names."""
    items = names.replace(" ", ",").split(",") if isinstance(names, str) else list(names)
    return [canonical_name(n) for n in items if n]


def get_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a model by name, e.g. ``get_model("resnet56", shortcut="B")``; see ``MODEL_NAMES``."""
    return _REGISTRY[canonical_name(name)](**kwargs)


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (BN weights and biases included; BN running stats are buffers)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
