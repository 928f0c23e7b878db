"""Reference implementations and probes the shape and block checkers compare answers with.

Everything here is built from ``course_utils.models`` or torch itself, so a checker's
truth is never a second hand-written formula.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from course_utils import models

__all__ = ["torch_conv_out", "reference_block", "try_forward", "randomize"]


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
    except Exception as err:  # noqa: BLE001 -- any student error becomes a message
        where = next((n for n in reversed(stack) if n), "forward")
        return None, f"in {where}: {type(err).__name__}: {str(err).splitlines()[0]}"
    finally:
        for h in hooks:
            h.remove()


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
