"""Exercise checks of notebook 04 (building blocks): a student's residual blocks, stage builder,
CIFAR ResNet and ImageNet ResNet compared with ``course_utils.models``, layer and projection
counts, the Bottleneck's stride placement.

The code checks (``check_block``, ``check_make_stage``, ``check_cifar_resnet``, ``check_resnet``)
load the reference weights into the student's module and compare outputs, then name each
*symptom* found (a failure and where, a shape that differs and where, an output that differs
with the same weights), never the fix: the debugging exercise is to find it. The checks answered
with numbers (``check_layer_count``, ``check_projection_params``, ``check_stride_shapes``) live in
``counts`` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from course_utils import models
from course_utils.checks._reference import (
    build_block,
    compare_nets,
    first_difference,
    load_reference,
    pool_symptoms,
    randomize,
    reference_block,
    reference_stage,
    tell,
    torch_conv_out,
    try_forward,
)
from course_utils.checks._verdict import checker, report, unanswered
from course_utils.checks.counts import check_layer_count, check_projection_params, check_stride_shapes

__all__ = [
    "check_block",
    "check_make_stage",
    "check_cifar_resnet",
    "check_resnet",
    "check_layer_count",
    "check_projection_params",
    "check_stride_shapes",
]

_CASES = {"basic": [(16, 16, 1), (16, 32, 2)], "bottleneck": [(64, 16, 1), (64, 32, 2)]}


def _spelling(block_cls: Any) -> str:
    """Name a near-miss of ``expansion`` that the class defines, if any."""
    near = [n for n in dir(block_cls) if n != "expansion" and n.lower().startswith("exp")]
    return f" (it defines `{near[0]}`)" if near else ""


def _block_symptoms(block_cls: Callable, kind: str, in_p: int, planes: int, stride: int) -> list[str]:
    """What differs between ``block_cls(in_p, planes, stride, downsample)`` and the reference block."""
    ref = randomize(reference_block(kind, in_p, planes, stride))
    what = f"block {in_p}->{planes}, stride {stride}"
    student = build_block(block_cls, ref, in_p, planes, stride)
    if isinstance(student, str):
        return [student]
    problems = []
    for name, conv in student.named_modules():  # each 3x3 conv alone: does only its stride change the size?
        if isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3):
            got = torch_conv_out(8, 3, conv.stride[0], conv.padding[0])
            want = torch_conv_out(8, 3, conv.stride[0], 1)
            if got != want:
                problems.append(
                    f"{name} turns an 8x8 map into {got}x{got} at stride {conv.stride[0]}; "
                    f"the reference's 3x3 convs give {want}x{want}."
                )
    wrong = load_reference(student, ref, what, "torchvision's")
    if wrong:
        return problems + [wrong]
    x = torch.randn(2, in_p, 8, 8, generator=torch.Generator().manual_seed(1))
    y_ref, (y, err) = ref(x), try_forward(student.eval(), x)
    if y is None:
        problems.append(f"{what} fails {err}.")
    elif y.shape != y_ref.shape:
        where = first_difference(student, ref, x, values=False)
        problems.append(
            f"{what} returns {tuple(y.shape)}, expected {tuple(y_ref.shape)}" + (f"; first: {where}." if where else ".")
        )
    elif not torch.allclose(y, y_ref, atol=1e-5):
        with torch.no_grad():
            student.conv1.weight.add_(1.0)
        y2, _ = try_forward(student, x)
        if y2 is not None and torch.allclose(y, y2):
            problems.append("the output does not depend on conv1's weights: changing them changes nothing.")
        elif (y < 0).any():
            problems.append("the output has negative values; the reference block's never has.")
        else:
            problems.append(f"same weights, the output differs from the reference's ({what}).")
    return problems


@checker
def check_block(block_cls: Any, kind: str = "basic") -> bool:
    """Compare a student's block with ``models.BasicBlock`` (``kind="basic"``) or ``models.Bottleneck``
    (``kind="bottleneck"``) with the same weights; print each symptom found.

    ``block_cls(in_planes, planes, stride=1, downsample=None)`` must have torchvision's layer names
    (conv1, bn1, conv2, bn2[, conv3, bn3], downsample) and ``expansion`` (1 or 4); it maps
    (B, in_planes, H, W) to (B, planes * expansion, H/stride, W/stride).
    """
    if kind not in _CASES:
        raise ValueError(f"kind must be 'basic' or 'bottleneck', got {kind!r}")
    if unanswered(block_cls):
        return False
    if not callable(block_cls):
        return report(False, "", f"pass the class itself: check_block(MyBlock, kind={kind!r})")
    ref_cls = models.BasicBlock if kind == "basic" else models.Bottleneck
    problems = []
    if getattr(block_cls, "expansion", None) != ref_cls.expansion:
        problems.append(
            f"`expansion` is {getattr(block_cls, 'expansion', 'missing')}{_spelling(block_cls)}; every builder "
            f"reads `block.expansion`, and {ref_cls.__name__}'s is {ref_cls.expansion}."
        )
    for in_p, planes, stride in _CASES[kind]:
        problems += _block_symptoms(block_cls, kind, in_p, planes, stride)
    return tell(
        problems,
        f"same parameters, same layer names and the same outputs as models.{ref_cls.__name__}, "
        "with and without a projection shortcut.",
    )


def _build_stage(make_stage: Callable, block: type, args: tuple, problems: list[str]) -> nn.Module | None:
    """Call the student's builder; on a misspelled block attribute, note it and retry with an alias."""
    what = f"make_stage({block.__name__}, {', '.join(map(str, args))})"
    try:
        return make_stage(block, *args)
    except AttributeError as err:
        if not (err.name or "").lower().startswith("exp"):
            problems.append(f"{what} fails: AttributeError: {err}")
            return None
        problems.append(
            f"the builder reads `block.{err.name}`, which models.{block.__name__} and torchvision's blocks "
            "do not have: AttributeError on every block but yours."
        )
        alias = type(block.__name__, (block,), {err.name: block.expansion})  # look past the typo
        return _build_stage(make_stage, alias, args, problems)
    except Exception as err:
        problems.append(f"{what} fails: {type(err).__name__}: {err}")
        return None


@checker
def check_make_stage(make_stage: Any) -> bool:
    """``make_stage(block, in_planes, planes, blocks, stride=1) -> nn.Sequential``, for both block types."""
    if unanswered(make_stage):
        return False
    if not callable(make_stage):
        return report(False, "", "pass the function itself: check_make_stage(make_stage)")
    problems: list[str] = []
    lengths: dict[int, int] = {}
    cases = [(models.BasicBlock, 16, 16, n, 1) for n in (1, 2, 3, 5)] + [
        (models.BasicBlock, 16, 32, 3, 2),
        (models.Bottleneck, 64, 16, 3, 1),
        (models.Bottleneck, 256, 128, 2, 2),
    ]
    for block, in_p, planes, n, stride in cases:
        what = f"make_stage({block.__name__}, {in_p}, {planes}, {n}, {stride})"
        stage = _build_stage(make_stage, block, (in_p, planes, n, stride), problems)
        if not isinstance(stage, nn.Sequential):
            if stage is not None:
                problems.append(f"{what} returned a {type(stage).__name__}, not an nn.Sequential.")
            continue
        ref = reference_stage(block, in_p, planes, n, stride)
        if len(stage) != n:
            lengths[n] = len(stage)
            problems.append(f"{what} has {len(stage)} blocks, expected {n}.")
        elif models.count_params(stage) != models.count_params(ref):
            problems.append(
                f"{what} has {models.count_params(stage):,} parameters, expected {models.count_params(ref):,}."
            )
        else:
            x = torch.randn(1, in_p, 8, 8)
            y, err = try_forward(stage, x)
            if y is None or y.shape != ref(x).shape:
                problems.append(
                    f"{what}: "
                    + (f"fails {err}" if y is None else f"returns {tuple(y.shape)}, expected {tuple(ref(x).shape)}")
                )
    if len(set(lengths.values())) == 1 and len(lengths) > 1:
        got = next(iter(lengths.values()))
        problems = [p for p in problems if "blocks, expected" not in p]
        problems.append(
            f"asked for {', '.join(map(str, sorted(lengths | {got: got})))} blocks, got {got} every time "
            f"(asking for {got} gives {got}, by luck)."
        )
    return tell(
        problems,
        "right number of blocks, stride and projection only in the first block, "
        "same parameters as the reference, for BasicBlock and Bottleneck.",
    )


@checker
def check_cifar_resnet(build: Any, depth: int = 20) -> bool:
    """``build()`` must give the CIFAR ResNet-``depth`` with option-B shortcuts: same as ``models.resnet_cifar``."""
    if unanswered(build):
        return False
    if not callable(build):
        return report(False, "", "pass a function that builds the model: check_cifar_resnet(lambda: MyNet(...))")
    ref = randomize(models.resnet_cifar(depth, shortcut="B"))
    try:
        pools = pool_symptoms(build(), 64, (8, 16))  # the last map at 32x32 and 64x64 inputs
    except Exception:
        pools = []
    return tell(
        compare_nets(build, ref, (32, 64), pools),
        f"the same network as models.resnet_cifar({depth}, shortcut='B'): "
        "parameters, names and outputs, at 32x32 and 64x64.",
    )


@checker
def check_resnet(build: Any, layers: tuple[int, ...] = (3, 4, 6, 3), bottleneck: bool = True) -> bool:
    """``build()`` must give torchvision's ImageNet ResNet (ResNet-50 by default): same as
    ``models.ResNet(block, layers)`` in parameters, names and outputs at 64x64 and 80x80 inputs."""
    if unanswered(build):
        return False
    if not callable(build):
        return report(False, "", "pass a function that builds the model: check_resnet(lambda: MyResNet(...))")
    block = models.Bottleneck if bottleneck else models.BasicBlock
    ref = randomize(models.ResNet(block, list(layers)))
    try:
        pools = pool_symptoms(build(), 512 * block.expansion, (2, 3))  # the last map at 64x64 and 80x80
    except Exception:
        pools = []
    depth = sum(layers) * (3 if bottleneck else 2) + 2
    return tell(
        compare_nets(build, ref, (64, 80), pools),
        f"the same network as models.ResNet({block.__name__}, {list(layers)}) (ResNet-{depth}): "
        "parameters, names and outputs, at 64x64 and 80x80.",
    )
