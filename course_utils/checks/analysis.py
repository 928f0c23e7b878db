"""Exercise checks of notebook 07 (why it works): layer responses, lesions, loss landscapes, widths."""

from __future__ import annotations

import math
from typing import Any

import torch

from course_utils.checks._verdict import checker, numeric, report, unanswered

__all__ = [
    "check_response_count",
    "check_deletable_blocks",
    "check_filter_normalization",
    "check_rescaled_step",
    "check_thin_width",
]


def _cifar_blocks(depth: int) -> int:
    """Residual (or plain) blocks in a 6n+2 CIFAR net: 3 stages of n."""
    return 3 * ((depth - 2) // 6)


@checker
def check_response_count(answer: Any, depth: int = 56) -> bool:
    """Exercise 07.1: how many 3x3-layer responses Fig. 7 shows for a CIFAR net of ``depth`` layers."""
    if unanswered(answer):
        return False
    try:
        value = int(answer)
    except (TypeError, ValueError):
        return report(False, "", f"answer with a whole number, got {answer!r}")
    blocks = _cifar_blocks(depth)
    right = 2 * blocks + 1
    hints = {
        depth: "the last layer is the fully connected classifier, not a 3x3 conv.",
        2 * blocks: "the first (stem) conv is a 3x3 layer with its own BN too.",
        blocks: "each block holds two 3x3 convs, each followed by a BN.",
    }
    return report(
        value == right,
        f"{right} = 1 stem conv + {blocks} blocks x 2 convs; only the fc layer has no 3x3 response.",
        hints.get(value, f"count the 3x3 convs: the stem, then 2 per block in {blocks} blocks."),
    )


@checker
def check_deletable_blocks(answer: Any, depth: int = 56) -> bool:
    """Exercise 07.2: ``(plain, resnet)`` blocks the lesion study can delete in the depth-``depth`` nets."""
    if unanswered(answer):
        return False
    try:
        plain, resnet = (int(a) for a in answer)
    except (TypeError, ValueError):
        return report(False, "", f"answer with a pair of whole numbers (plain, resnet), got {answer!r}")
    blocks = _cifar_blocks(depth)
    if (plain, resnet) == (blocks - 2, blocks):
        return report(
            True,
            f"plain-{depth}: {blocks - 2} of {blocks} (two blocks change the shape and have "
            f"no other path); ResNet-{depth}: all {blocks}, the two downsampling blocks fall "
            f"back on their option-A shortcut.",
            "",
        )
    if plain != blocks - 2:
        hint = (
            f"plain-{depth} has {blocks} blocks; a block can only be removed if its input and output "
            f"shapes match (which blocks halve the size and double the width?)."
        )
    else:
        hint = (
            "every residual block keeps a path when its residual branch is deleted: its shortcut "
            "(identity, or option A's subsample + zero channels where the shape changes)."
        )
    return report(False, "", hint)


@checker
def check_filter_normalization(fn: Any) -> bool:
    """Exercise 07.3: ``fn(direction, weight)`` rescales each filter of ``direction`` to the norm of
    the same filter of ``weight`` (Li et al. 2018); filter = slice along dim 0."""
    if unanswered(fn):
        return False
    if not callable(fn):
        return report(False, "", "pass your function itself: check_filter_normalization(normalize_filters)")

    gen = torch.Generator().manual_seed(7)
    for shape in [(8, 4, 3, 3), (10, 16)]:  # a conv weight, a linear weight
        w = torch.randn(shape, generator=gen) * torch.rand(shape[0], *[1] * (len(shape) - 1), generator=gen) * 3
        d = torch.randn(shape, generator=gen)
        try:
            out = fn(d.clone(), w.clone())
        except Exception as err:
            return report(False, "", f"your function raised {type(err).__name__}: {err}")
        if unanswered(out):  # the placeholder body still returns None
            return False
        if not isinstance(out, torch.Tensor) or out.shape != d.shape:
            return report(False, "", f"return a tensor of the direction's shape {tuple(shape)}")
        w_n, o_n = w.flatten(1).norm(dim=1), out.flatten(1).norm(dim=1)
        if not torch.allclose(o_n, w_n, rtol=1e-4):
            if torch.allclose(out.norm(), w.norm(), rtol=1e-4):
                return report(
                    False, "", "the whole tensor has the right norm, but each *filter* out[i] must match w[i]'s."
                )
            return report(False, "", "each filter out[i] should have the norm of w[i].")
        cos = torch.nn.functional.cosine_similarity(out.flatten(1), d.flatten(1), dim=1)
        if not torch.allclose(cos, torch.ones_like(cos), atol=1e-4):
            return report(False, "", "only rescale each filter of the direction; do not change where it points.")
    return report(
        True, "every filter of the direction now has its weight filter's norm, in conv and linear weights.", ""
    )


@checker
def check_rescaled_step(guess: Any, measured: float, centre: float) -> bool:
    """Exercise 07.4 (predict, then run): the loss of a copy with every conv filter x10 after a step alpha = 1
    along its own filter-normalised direction. ``measured``: that loss; ``centre``: the loss at alpha = 0."""
    value = numeric(guess)
    if value is None:
        return False
    off = f"you guessed {value:.3g}, the measurement is {measured:.3g} ({100 * (value - measured) / measured:+.0f}%)"
    if abs(value - measured) <= max(0.05 * abs(measured), 0.02):
        return report(
            True,
            f"{off}. BN (batch statistics) undoes each filter's scale, and the filter-normalised "
            "step grows with the filters: the x10 net and its step are the original and its step, x10.",
            "",
        )
    if abs(value - centre) <= max(0.05 * abs(centre), 0.02):
        hint = "that is the loss at alpha = 0; the step moves every filter by its own norm, in both nets."
    elif value > measured:
        hint = "BN divides each conv's output by its batch std: a filter x10 gives the same normalised output."
    else:
        hint = "the step is as large as each filter in *both* nets: filter normalisation scales it x10 too."
    return report(False, "", f"{off}; {hint}")


def cifar_params(depth: int, width: int = 16, num_classes: int = 10) -> int:
    """Parameters of a 6n+2 CIFAR ResNet with option A shortcuts and stage widths ``width``, 2x, 4x:
    9 C_in C_out per 3x3 conv, 2 per BN channel, the fc layer's weights and biases."""
    n = (depth - 2) // 6
    total = 9 * 3 * width + 2 * width  # stem conv + its BN
    c_in = width
    for c in (width, 2 * width, 4 * width):
        for _ in range(n):
            total += 9 * c_in * c + 9 * c * c + 2 * 2 * c  # conv1, conv2, two BNs
            c_in = c
    return total + c_in * num_classes + num_classes


@checker
def check_thin_width(answer: Any, depth: int = 1202, budget_depth: int = 110) -> bool:
    """Exercise 07.6: the largest base width k (stages k, 2k, 4k) at which ResNet-``depth`` has no more
    parameters than ResNet-``budget_depth`` at the paper's width 16."""
    value = numeric(answer)
    if value is None:
        return False
    budget = cifar_params(budget_depth)
    want = max(k for k in range(1, 17) if cifar_params(depth, k) <= budget)

    def count(k: int) -> str:
        return f"{cifar_params(depth, k):,}"

    if value == want:
        return report(
            True,
            f"k = {want}: ResNet-{depth} at widths {want}, {2 * want}, {4 * want} has {count(want)} parameters, "
            f"ResNet-{budget_depth} {budget:,}; k = {want + 1} would have {count(want + 1)}.",
            "",
        )
    linear = 16 * budget_depth / depth  # the width scaled by the depth ratio, as if parameters grew linearly
    if abs(value - linear) < 0.01 or value in (math.floor(linear), round(linear)):
        hint = "parameters grow with the square of the width (9 C_in C_out per 3x3 conv), not linearly with it."
    elif value < 1:
        hint = "a layer needs at least one channel: k is a whole number >= 1."
    elif value != int(value):
        hint = "a width is a whole number of channels: the largest whole k that fits."
    elif value > want:
        k = int(value)
        hint = (
            f"k = {k} gives ResNet-{depth} {count(k)} parameters, more than ResNet-{budget_depth}'s {budget:,}."
            if k <= 64
            else f"far too wide: the paper's width 16 already gives {count(16)} parameters."
        )
        if k == want + 1:
            hint += " Round down, not to the nearest k."
    else:
        k = int(value)
        hint = (
            f"k = {k} fits ({count(k)} parameters), but so does a wider net: the *largest* k with at most "
            f"{budget:,}. Parameters grow about as k squared."
        )
    return report(False, "", hint)
