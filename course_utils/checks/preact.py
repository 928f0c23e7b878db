"""Exercise checks of notebook 04's pre-activation exercise (He et al. 2016): a student's pre-activation block
compared with ``models.PreActBlock`` under the same weights, and the ReLUs on a network's shortcut path.

As in ``blocks``, the block check names symptoms, not fixes: a ReLU left after the addition (the block no
longer returns its input once its branch is silenced), a projection fed the raw input, the first layer whose
output departs from the reference's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from course_utils import models
from course_utils.checks._reference import build_block, first_difference, load_reference, randomize, tell, try_forward
from course_utils.checks._verdict import checker, first_slip, numeric, report, unanswered

__all__ = ["check_preact_block", "check_shortcut_relus"]

_CASES = [(16, 16, 1), (16, 32, 2)]  # an identity shortcut, then a projection (a bare 1x1 conv, stride 2)


def _silenced(student: nn.Module, x: torch.Tensor) -> str:
    """With conv2's weights at zero, F(x) = 0 and a pre-activation block returns x itself; else the symptom."""
    probe = copy.deepcopy(student)
    with torch.no_grad():
        probe.conv2.weight.zero_()
    y, _ = try_forward(probe, x.clone())
    if y is None or y.shape != x.shape or torch.allclose(y, x, atol=1e-6):
        return ""
    if (y >= 0).all():
        return (
            "with conv2's weights at zero (F(x) = 0) the block should return its input, negative values "
            "included; yours returns none below zero: a ReLU after the addition cuts them off the shortcut."
        )
    return (
        "with conv2's weights at zero (F(x) = 0) the block does not return its input: something besides "
        "the addition sits on the shortcut path."
    )


def _symptoms(block_cls: Callable, in_p: int, planes: int, stride: int) -> list[str]:
    """What differs between ``block_cls(in_p, planes, stride, downsample)`` and ``models.PreActBlock``."""
    down = models.conv1x1(in_p, planes, stride) if stride != 1 or in_p != planes else None
    ref = randomize(models.PreActBlock(in_p, planes, stride, down))
    what = f"block {in_p}->{planes}, stride {stride}"
    student = build_block(block_cls, ref, in_p, planes, stride)
    if isinstance(student, str):
        return [student]
    wrong = load_reference(student, ref, what, "models.PreActBlock's")
    if wrong:
        return [wrong]
    x = torch.randn(2, in_p, 8, 8, generator=torch.Generator().manual_seed(1))  # half of it negative
    with torch.no_grad():
        y_ref = ref(x.clone())
        raw = ref.conv2(ref.relu(ref.bn2(ref.conv1(ref.relu(ref.bn1(x)))))) + (x if down is None else down(x))
    y, err = try_forward(student.eval(), x.clone())
    if y is None:
        return [f"{what} fails {err}."]
    if y.shape != y_ref.shape:
        where = first_difference(student, ref, x, values=False)
        return [
            f"{what} returns {tuple(y.shape)}, expected {tuple(y_ref.shape)}" + (f"; first: {where}." if where else ".")
        ]
    if torch.allclose(y, y_ref, atol=1e-5):
        return []
    if down is not None and torch.allclose(y, raw, atol=1e-5):
        return [
            f"{what}: the projection reads the raw input x; models.PreActBlock, like the authors' code, gives it "
            "relu(bn1(x)), the pre-activated input that the branch reads too."
        ]
    silenced = _silenced(student, x) if down is None and hasattr(student, "conv2") else ""
    if silenced:
        return [silenced]
    where = first_difference(student, ref, x)
    if where:
        where = f"; first: {where}."
    elif (y >= 0).all() and (y_ref < 0).any():
        where = ": it has no negative value, the reference's output has many. What runs after the addition?"
    return [f"same weights, the output differs from models.PreActBlock's ({what})" + (where or ".")]


@checker
def check_preact_block(block_cls: Any) -> bool:
    """Compare a student's pre-activation block with ``models.PreActBlock`` under the same weights.

    ``block_cls(in_planes, planes, stride=1, downsample=None)`` has the layer names bn1, conv1, bn2, conv2
    (and downsample) and maps (B, in_planes, H, W) to (B, planes, H/stride, W/stride) as
    ``x + conv2(relu(bn2(conv1(relu(bn1(x))))))``; checked with an identity shortcut and with a projection.
    """
    if unanswered(block_cls):
        return False
    if not callable(block_cls):
        return report(False, "", "pass the class itself: check_preact_block(MyPreActBlock)")
    problems = [p for case in _CASES for p in _symptoms(block_cls, *case)]
    return tell(
        problems,
        "same parameters, same layer names and the same outputs as models.PreActBlock, with an identity "
        "shortcut and with a projection; with its branch silenced, the block returns its input exactly.",
    )


@checker
def check_shortcut_relus(answer: Any, depth: int = 110, preact: bool = True) -> bool:
    """ReLUs on the path through every shortcut (never a residual branch) from the input of ``layer1`` to the
    output of ``layer3`` in the CIFAR ResNet-``depth`` with option-B shortcuts: the pre-activation network
    (``models.preact_resnet_cifar``) or, with ``preact=False``, the original (``models.resnet_cifar``)."""
    value = numeric(answer)
    if value is None:
        return False
    net = models.preact_resnet_cifar(depth) if preact else models.resnet_cifar(depth, shortcut="B")
    blocks = [m for m in net.modules() if isinstance(m, (models.BasicBlock, models.PreActBlock))]
    projections = sum(b.downsample is not None for b in blocks)
    truth = projections if preact else len(blocks)  # pre-activation: the ReLU the projection reads; else one per block
    if preact:
        slips = [
            (
                0,
                "where the shape changes, the projection reads the pre-activated input relu(bn1(x)): that ReLU "
                "(and that BN) lie on the shortcut path.",
            ),
            (
                len(blocks),
                "one ReLU per block is the original block's, after the addition; the pre-activation "
                "block has nothing after it.",
            ),
            (projections + 1, "the final BN-ReLU runs after layer3's output, outside the path asked for."),
        ]
    else:
        slips = [
            (projections, "every original block ends with a ReLU after the addition, not only the projection blocks."),
            (0, "the ReLU after each addition sits on the shortcut path: the next block receives relu(F(x) + x)."),
        ]
    hint = first_slip(value, truth, slips, "follow x through each block's shortcut, block by block.")
    right = (
        f"{truth}: the ReLUs that pre-activate the input of the {projections} blocks with a projection; "
        "every other block leaves its shortcut untouched."
        if preact
        else f"{truth}: one ReLU after the addition of each of the {len(blocks)} blocks."
    )
    return report(value == truth, right, f"{answer} is not it: {hint}")
