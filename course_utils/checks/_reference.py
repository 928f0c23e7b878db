"""Reference implementations and probes the shape and block checkers compare answers with.

Everything here is built from ``course_utils.models`` or torch itself, so a checker's
truth is never a second hand-written formula.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from course_utils import models
from course_utils.checks._verdict import report

__all__ = [
    "torch_conv_out",
    "reference_block",
    "reference_stage",
    "projections_everywhere",
    "try_forward",
    "trace",
    "first_difference",
    "weight_shape_differences",
    "build_block",
    "load_reference",
    "randomize",
    "tell",
    "pool_symptoms",
    "compare_nets",
]


def torch_conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """The truth from torch itself: the output width of a real ``nn.Conv2d`` (0 if nothing fits)."""
    conv = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation, bias=False)
    try:
        with torch.no_grad():
            return conv(torch.zeros(1, 1, size, size)).shape[-1]
    except RuntimeError:  # "kernel size can't be greater than actual input size"
        return 0


def reference_block(kind: str, in_planes: int, planes: int, stride: int = 1, stride_on: str = "3x3") -> nn.Module:
    """models.BasicBlock / Bottleneck with an option-B projection where the shape changes.

    ``kind`` is ``"basic"`` or ``"bottleneck"``; the block maps (B, in_planes, H, W) to
    (B, planes * expansion, H/stride, W/stride).
    """
    block = models.BasicBlock if kind == "basic" else models.Bottleneck
    out = planes * block.expansion
    down = None
    if stride != 1 or in_planes != out:
        down = nn.Sequential(models.conv1x1(in_planes, out, stride), nn.BatchNorm2d(out))
    return (
        models.BasicBlock(in_planes, planes, stride, down)
        if kind == "basic"
        else models.Bottleneck(in_planes, planes, stride, down, stride_on=stride_on)
    )


def reference_stage(block: type, in_planes: int, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
    """A second implementation of ``_make_layer``: the first block changes the shape, the rest keep it.

    (B, in_planes, H, W) -> (B, planes * block.expansion, H/stride, W/stride).
    """
    kind = "basic" if block is models.BasicBlock else "bottleneck"
    first = reference_block(kind, in_planes, planes, stride)
    return nn.Sequential(first, *[block(planes * block.expansion, planes) for _ in range(1, blocks)])


def projections_everywhere(model: nn.Module) -> nn.Module:
    """Option C: give every identity-shortcut ``models.BasicBlock`` a 1x1 conv + BN projection (in place)."""
    for block in model.modules():
        if isinstance(block, models.BasicBlock) and block.downsample is None:
            c = block.conv1.in_channels
            block.downsample = nn.Sequential(models.conv1x1(c, c), nn.BatchNorm2d(c))
    return model


def try_forward(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor | None, str]:
    """Run ``model(x)`` without autograd: ``(output, "")``, or ``(None, "in <innermost module>: <error>")``.

    Any exception a student's module raises becomes that message, naming the innermost
    submodule that was running when it failed.
    """
    stack: list[str] = []
    names = {m: n for n, m in model.named_modules()}

    def enter(m: nn.Module, args: Any) -> None:
        stack.append(f"{names[m]} ({type(m).__name__})" if names[m] else "")

    def leave(m: nn.Module, args: Any, out: Any) -> None:
        stack.pop()

    hooks = [h for m in model.modules() for h in (m.register_forward_pre_hook(enter), m.register_forward_hook(leave))]
    try:
        with torch.no_grad():
            return model(x), ""
    except Exception as err:
        where = next((n for n in reversed(stack) if n), "forward")
        return None, f"in {where}: {type(err).__name__}: {str(err).splitlines()[0]}"
    finally:
        for h in hooks:
            h.remove()


def trace(model: nn.Module, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], str]:
    """The located forward pass: every named submodule's first output during ``model(x)``, and the error.

    Returns ``({name: output}, "")`` in the order the modules finished, or, when the forward
    pass fails, the outputs up to the failure and ``try_forward``'s message.
    """
    names = {m: n for n, m in model.named_modules() if n}
    seen: dict[str, torch.Tensor] = {}

    def keep(m: nn.Module, args: Any, out: Any) -> None:
        if isinstance(out, torch.Tensor) and names[m] not in seen:
            seen[names[m]] = out.detach().clone()

    hooks = [m.register_forward_hook(keep) for m in names]
    try:
        _, err = try_forward(model, x)
    finally:
        for h in hooks:
            h.remove()
    return seen, err


def first_difference(model: nn.Module, ref: nn.Module, x: torch.Tensor, values: bool = True) -> str:
    """Where ``model`` first departs from ``ref`` on ``x``: the first module (in the reference's order)
    whose output has another shape (or, with ``values``, other values, for models with the same weights).

    Returns e.g. ``"layer1.0.conv1 (Conv2d) outputs (2, 256, 16, 16), the reference (2, 64, 16, 16)"``,
    or ``""`` when every module both models share agrees.
    """
    mine, _ = trace(model, x)
    theirs, _ = trace(ref, x)
    kinds = dict((n, type(m).__name__) for n, m in model.named_modules())
    for name, want in theirs.items():
        got = mine.get(name)
        if got is None:
            continue
        if got.shape != want.shape:
            return f"{name} ({kinds[name]}) outputs {tuple(got.shape)}, the reference {tuple(want.shape)}"
        if values and not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
            return f"{name} ({kinds[name]}) outputs other values than the reference's {name}, same shape"
    return ""


def weight_shape_differences(model: nn.Module, ref: nn.Module, limit: int = 3) -> list[str]:
    """The first ``limit`` tensors of ``ref``'s state_dict that ``model`` lacks or holds in another shape."""
    mine, found = model.state_dict(), []
    for name, want in ref.state_dict().items():
        got = mine.get(name)
        if got is None:
            found.append(f"{name} is missing")
        elif got.shape != want.shape:
            found.append(f"{name} has shape {tuple(got.shape)}, the reference's {tuple(want.shape)}")
    return found[:limit]


def build_block(block_cls: Any, ref: nn.Module, in_p: int, planes: int, stride: int) -> nn.Module | str:
    """The student's ``block_cls(in_p, planes, stride, ref.downsample)``, or what went wrong building it."""
    try:
        student = block_cls(in_p, planes, stride, ref.downsample)
    except Exception as err:
        name = getattr(block_cls, "__name__", "block_cls")
        return f"{name}({in_p}, {planes}, {stride}, downsample) fails: {type(err).__name__}: {err}"
    if not isinstance(student, nn.Module):
        return f"block_cls(...) returned a {type(student).__name__}, not an nn.Module."
    return student


def load_reference(student: nn.Module, ref: nn.Module, what: str, whose: str) -> str:
    """Load ``ref``'s weights into ``student``; the symptom (parameter count, layer names) when they do not fit."""
    n_ref, n_st = models.count_params(ref), models.count_params(student)
    if n_ref != n_st:
        where = "; ".join(weight_shape_differences(student, ref))
        return f"{n_st:,} parameters instead of {n_ref:,} ({what})" + (f": {where}." if where else ".")
    try:
        student.load_state_dict(ref.state_dict())
    except RuntimeError as err:
        return f"the layer names differ from {whose}: {str(err).splitlines()[0]}"
    return ""


def tell(problems: list[str], right: str) -> bool:
    """Print each problem once (in order) and the verdict line; True when there are none."""
    problems = list(dict.fromkeys(problems))
    for p in problems:
        print("❌ " + p)
    return bool(report(not problems, right, f"{len(problems)} problem(s) above."))


def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BN statistics (so BN is not the identity), in place; returned in eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in list(module.parameters()) + [b for n, b in module.named_buffers() if "running" in n]:
            t.copy_(
                torch.rand(t.shape, generator=g) * 0.5 + 0.5
                if t.dim() == 1
                else torch.randn(t.shape, generator=g) * 0.1
            )
    return module.eval()


def pool_symptoms(model: nn.Module, channels: int, sides: tuple[int, ...]) -> list[str]:
    """Each average pool run alone on the last feature maps (``sides`` x ``sides``): 1x1 or not?"""
    for name, pool in model.named_modules():
        if "AvgPool" in type(pool).__name__:
            for side in sides:
                got = tuple(pool(torch.zeros(1, channels, side, side)).shape[-2:])
                if got != (1, 1):
                    return [f"{name} turns the last {side}x{side} map into {got[0]}x{got[1]}, not 1x1."]
    return []


def compare_nets(build: Any, ref: nn.Module, sizes: tuple[int, ...], pools: list[str]) -> list[str]:
    """The symptoms of ``build()`` against the reference network (already randomised)."""
    try:
        model = build().eval()
    except Exception as err:
        return [f"build() fails: {type(err).__name__}: {err}"]
    if not isinstance(model, nn.Module):
        return [f"build() returned a {type(model).__name__}, not an nn.Module."]
    problems = pools
    for size in sizes:
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size))
        y, err = try_forward(model, x)
        if y is None:
            where = first_difference(model, ref, x, values=False)
            problems.append(f"the model fails on {size}x{size} images {err}" + (f"; first: {where}." if where else "."))
            break
    n_ref, n_st = models.count_params(ref), models.count_params(model)
    if n_ref != n_st:
        where = "; ".join(weight_shape_differences(model, ref))
        problems.append(f"{n_st:,} parameters instead of {n_ref:,}" + (f": {where}." if where else "."))
    elif not problems:
        try:
            model.load_state_dict(ref.state_dict())
        except RuntimeError as err:
            return [f"the layer names differ from the reference's: {str(err).splitlines()[0]}"]
        x = torch.randn(2, 3, sizes[0], sizes[0], generator=torch.Generator().manual_seed(2))
        if not torch.allclose(model(x), ref(x), atol=1e-4):
            where = first_difference(model, ref, x)
            problems.append(
                "same weights, the output differs from the reference's" + (f"; first: {where}." if where else ".")
            )
    return problems
