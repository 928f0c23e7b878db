"""Exercise checks of notebook 03 (shape arithmetic): conv output sizes, receptive fields,
parameter and MAC counts, block parameters, a size-agnostic classifier head (pooled first, or scored first).

Every truth is measured on a real torch module (``nn.Conv2d``, ``models.BasicBlock``, ...);
each known slip (floor vs ceil, forgotten padding, FLOPs vs MACs, BN buffers, ...) gets its own hint.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from course_utils import models
from course_utils.checks._reference import reference_block, torch_conv_out, try_forward
from course_utils.checks._verdict import checker, first_slip, report, unanswered
from course_utils.shapes import conv_arithmetic

__all__ = [
    "check_conv_out",
    "check_receptive_field",
    "check_conv_params",
    "check_conv_macs",
    "check_block_params",
    "check_head",
    "check_score_head",
]


@checker
def check_conv_out(answer: Any, size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> bool:
    """Output size of a conv on a ``size`` x ``size`` input, checked against ``nn.Conv2d``."""
    if unanswered(answer):
        return False
    truth = torch_conv_out(size, kernel, stride, padding, dilation)
    span = dilation * (kernel - 1) + 1  # the window's extent
    inner = size + 2 * padding - span
    slips = [
        (
            inner / stride + 1,
            "the division is rounded down (floor): a window that would stick out past the padding is simply not used.",
        ),
        (inner // stride, "count the first window too: floor(...) counts the steps *after* it, so add 1."),
        (math.ceil(inner / stride) + 1, "convolutions round down (floor); only pooling with ceil_mode=True rounds up."),
        ((size + padding - span) // stride + 1, "padding goes on both sides: add 2p, not p."),
        (
            (size - span) // stride + 1,
            f"the {padding} pixel(s) of padding on each side widen the input to {size + 2 * padding}.",
        ),
        (
            (size + 2 * padding - kernel) // stride + 1,
            f"a dilated kernel spans d(k-1)+1 = {span} pixels, not {kernel}.",
        ),
    ]
    hint = first_slip(answer, truth, slips, "use out = floor((in + 2p - d(k-1) - 1) / s) + 1.")
    return report(
        answer == truth,
        f"{truth}: {conv_arithmetic(size, kernel, stride, padding, dilation)}"
        + (", as nn.Conv2d computes it." if truth else " (nn.Conv2d refuses such an input)."),
        f"{answer} is not it: {hint}",
    )


@checker
def check_receptive_field(answer: Any, layers: list[tuple[int, ...]]) -> bool:
    """Receptive field of the last layer of a stack given as ``(kernel, stride[, dilation])`` tuples."""
    if unanswered(answer):
        return False
    rf, jump, no_jump = 1, 1, 1
    for k, s, *d in layers:
        rf += (d[0] if d else 1) * (k - 1) * jump  # each tap step moves `jump` input pixels
        no_jump += (d[0] if d else 1) * (k - 1)
        jump *= s
    slips = [
        (
            no_jump,
            "after a stride-s layer, one step of a later kernel moves s input pixels: "
            "multiply each (k-1) by the product of the strides before it (the jump).",
        ),
        (
            sum(k for k, *_ in layers),
            "receptive fields do not add kernel sizes: each layer adds (k-1)·jump, two 3x3 convs see 5x5, not 6x6.",
        ),
        (math.prod(k for k, *_ in layers), "receptive fields grow by addition, not multiplication."),
    ]
    hint = first_slip(answer, rf, slips, "start at 1, then add (k-1)·jump per layer, jump *= stride.")
    return report(
        answer == rf, f"{rf}x{rf} input pixels reach one output of the last layer.", f"{answer} is not it: {hint}"
    )


@checker
def check_conv_params(answer: Any, in_channels: int, out_channels: int, kernel: int, bias: bool = False) -> bool:
    """Parameters of one ``nn.Conv2d``; the truth is counted on a real module."""
    if unanswered(answer):
        return False
    truth = models.count_params(nn.Conv2d(in_channels, out_channels, kernel, bias=bias))
    w = in_channels * out_channels * kernel * kernel
    slips = [
        (w + out_channels, "this conv has bias=False (the BN after it has its own shift)."),
        (w, f"bias=True adds one parameter per output channel (+{out_channels})."),
        (
            out_channels * kernel * kernel + bias * out_channels,
            "every filter spans all input channels: multiply by C_in.",
        ),
        (in_channels * out_channels + bias * out_channels, "each filter has k·k weights per input channel."),
        (in_channels * out_channels * kernel + bias * out_channels, "a k x k kernel has k² weights, not k."),
    ]
    hint = first_slip(answer, truth, slips, "weights = C_in · C_out · k · k (+ C_out if bias).")
    return report(
        answer == truth,
        f"{truth:,} = {in_channels}·{out_channels}·{kernel}·{kernel}" + (f" + {out_channels}" if bias else "") + ".",
        f"{answer} is not it: {hint}",
    )


@checker
def check_conv_macs(
    answer: Any,
    in_channels: int,
    out_channels: int,
    kernel: int,
    size: int,
    stride: int = 1,
    padding: int | None = None,
) -> bool:
    """Multiply-accumulates of one bias-free conv on a ``size`` x ``size`` input ("same" padding by default)."""
    if unanswered(answer):
        return False
    padding = (kernel - 1) // 2 if padding is None else padding
    out = torch_conv_out(size, kernel, stride, padding)
    per_position = in_channels * out_channels * kernel * kernel  # = the weights
    truth = per_position * out * out
    slips = [
        (2 * truth, "that is the FLOP count (one multiply + one add per MAC); count MACs."),
        (per_position * size * size, f"count per *output* position: the output is {out}x{out}, not {size}x{size}."),
        (per_position, "that is the weight count: each weight is used once per output position."),
        (out_channels * kernel * kernel * out * out, "each output value sums over all C_in input channels."),
        (
            per_position * torch_conv_out(size, kernel, stride) ** 2,
            f"the padding of {padding} keeps the border windows: the output is {out}x{out}.",
        ),
    ]
    hint = first_slip(answer, truth, slips, "MACs = C_in · k · k · C_out · H_out · W_out.")
    return report(
        answer == truth,
        f"{truth:,} = {per_position:,} weights x {out}·{out} output positions.",
        f"{answer} is not it: {hint}",
    )


@checker
def check_block_params(
    answer: Any, kind: str = "basic", in_planes: int = 64, planes: int = 64, stride: int = 1
) -> bool:
    """Parameters of one residual block (BN included, option-B projection where the shape changes)."""
    if unanswered(answer):
        return False
    block = reference_block(kind, in_planes, planes, stride)
    truth = models.count_params(block)
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in block.modules() if isinstance(m, nn.BatchNorm2d)]
    w = sum(c.weight.numel() for c in convs)
    bn = sum(2 * b.num_features for b in bns)
    down = models.count_params(block.downsample) if block.downsample is not None else 0
    slips = [
        (w, "BatchNorm learns a scale and a shift per channel: add 2·C for every BN."),
        (w + 2 * bn, "BN's running mean and variance are buffers, not parameters: 2 per channel."),
        (w + bn + sum(c.out_channels for c in convs), "the convs of a ResNet have bias=False."),
        (truth - down, "the projection shortcut (1x1 conv + BN) has parameters too."),
        (
            2 * (9 * in_planes * in_planes + 2 * in_planes),
            "a bottleneck is 1x1 -> 3x3 -> 1x1, not two 3x3 convs at full width.",
        ),
    ]
    out = planes * (4 if kind == "bottleneck" else 1)
    if down == 0:  # the shape does not change: an identity shortcut
        slips.append(
            (
                truth + in_planes * out + 2 * out,
                f"{in_planes} channels in, {out} out, stride 1: the shortcut is the identity, without parameters.",
            )
        )
    if kind == "bottleneck":
        thin = models.count_params(models.Bottleneck(in_planes, planes)) - 3 * planes * planes - 6 * planes
        slips.append((thin + down, f"conv3 expands to 4·{planes} = {out} channels, and bn3 normalises all of them."))
    hint = first_slip(answer, truth, slips, "add the conv weights (C_in·C_out·k·k each) and 2·C per BN.")
    return report(
        answer == truth,
        f"{truth:,} = {w:,} conv weights + {bn:,} BN parameters"
        + (f" (projection shortcut included: {down:,})" if down else "")
        + ".",
        f"{answer} is not it: {hint}",
    )


def _build_head(make_head: Any, channels: int, num_classes: int) -> nn.Module | None:
    """``make_head(channels, num_classes)`` in eval mode, or None (with the reason printed)."""
    if unanswered(make_head):
        return None
    if not callable(make_head):
        report(False, "", "pass the function itself (make_head), not what it returns.")
        return None
    try:
        return make_head(channels, num_classes).eval()
    except Exception as err:
        msg = f"make_head({channels}, {num_classes}) must return an nn.Module; it raised {type(err).__name__}: {err}"
        report(False, "", msg)
        return None


def _outputs_by_size(head: nn.Module, channels: int, num_classes: int) -> dict[int, torch.Tensor] | None:
    """The head's (2, num_classes) output on one feature map tiled to each side 1..8, or None (reason printed)."""
    feats = torch.randn(2, channels, 2, 2, generator=torch.Generator().manual_seed(0))
    results = {}
    for s in (1, 2, 4, 7, 8):  # 32, 64, 128, 224, 256 pixel inputs to a /32 backbone
        x = feats.repeat(1, 1, s, s) if s % 2 == 0 else feats.mean((2, 3), keepdim=True).repeat(1, 1, s, s)
        y, err = try_forward(head, x)
        if y is None:
            report(
                False,
                "",
                f"the head fails on a {s}x{s} feature map ({32 * s}x{32 * s} input) {err}. "
                "A fixed pooling window or a Linear sized for one map fits one input size only.",
            )
            return None
        if y.shape != (2, num_classes):
            report(False, "", f"on a {s}x{s} map the head returns {tuple(y.shape)}, expected (2, {num_classes}).")
            return None
        results[s] = y
    return results


@checker
def check_head(make_head: Any, channels: int = 512, num_classes: int = 10) -> bool:
    """``make_head(channels, num_classes)`` -> a module mapping (B, C, h, w) features to (B, classes) at ANY h, w."""
    head = _build_head(make_head, channels, num_classes)
    results = None if head is None else _outputs_by_size(head, channels, num_classes)
    if results is None:
        return False
    same = all(torch.allclose(results[s], results[2], atol=1e-5) for s in (4, 8))
    return report(
        same,
        "the head accepts every size and gives the same answer for the same content: "
        "global pooling, then the classifier.",
        "a map tiled to a larger size gets a different answer: pool over the whole map "
        "(nn.AdaptiveAvgPool2d(1)) before the Linear layer.",
    )


@checker
def check_score_head(make_head: Any, channels: int = 512, num_classes: int = 10) -> bool:
    """``make_head(channels, num_classes)``: the classifier first, a 1x1 conv giving one score map per class, then
    the average of each map: (B, C, h, w) -> (B, classes) at any h, w; with the same weights, the same function
    as average pooling followed by a Linear layer."""
    head = _build_head(make_head, channels, num_classes)
    if head is None:
        return False
    weighted = [m for m in head.modules() if list(m.parameters(recurse=False))]
    conv = weighted[0] if len(weighted) == 1 else None
    if not (isinstance(conv, nn.Conv2d) and conv.weight.shape == (num_classes, channels, 1, 1)):
        found = ", ".join(map(repr, weighted)) or "none"
        why = "an nn.Linear needs the map pooled first; " if "Linear" in found else ""
        return report(
            False,
            "",
            f"{why}the head's only layer with weights is a 1x1 nn.Conv2d({channels}, "
            f"{num_classes}) that scores every position (found: {found}).",
        )
    seen = []
    hook = conv.register_forward_hook(lambda m, args, out: seen.append(tuple(out.shape[-2:])))
    results = _outputs_by_size(head, channels, num_classes)
    hook.remove()
    if results is None:
        return False
    if seen[3:4] != [(7, 7)]:  # sides 1, 2, 4, 7, 8: the 7x7 map
        return report(
            False,
            "",
            "on a 7x7 map the 1x1 conv does not give 7x7 score maps: it runs after the "
            "pooling, the Linear layer in another form. Let it score all 49 positions first.",
        )
    x = torch.randn(2, channels, 5, 5, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y, scores = head(x), conv(x)
        pooled_linear = nn.functional.linear(x.mean((2, 3)), conv.weight.flatten(1), conv.bias)
    best = torch.allclose(y, scores.amax((2, 3)), atol=1e-5)
    return report(
        torch.allclose(y, pooled_linear, atol=1e-5),
        "one score map per class, averaged: at every size the same logits as AdaptiveAvgPool2d(1) + Linear "
        "with the same weights, since averaging commutes with a linear map.",
        ("max-pooling keeps each class's best position" if best else "the output is not the average of the score maps")
        + ": with the same weights, pooling then a Linear layer gives other logits.",
    )
