"""Exercise checks of notebooks 05 and 07 (training on CIFAR-10, why it works)."""

from __future__ import annotations

import math
from typing import Any

import torch

from course_utils.checks._verdict import as_number, checker, numeric, report, unanswered
from course_utils.schedule import RECIPES, paper_schedule
from course_utils.transforms import Normalizer, per_pixel_mean

__all__ = [
    "check_lr_function",
    "check_normalizer",
    "check_augmentation_views",
    "check_error_noise",
    "check_response_count",
    "check_deletable_blocks",
    "check_filter_normalization",
    "check_rescaled_step",
]


# notebooks 05-06 (training on CIFAR-10, Fig. 6): the paper's recipe in numbers


@checker
def check_lr_function(fn: Any, iterations: int = 64_000) -> bool:
    """Exercise 05.1: ``fn(iteration, depth)`` is the paper's learning rate at 0-based ``iteration`` for
    a CIFAR net of ``depth`` layers; compared at every iteration of the schedule, depths 20, 56 and 110."""
    if unanswered(fn):
        return False
    if not callable(fn):
        return report(False, "", "pass your function itself: check_lr_function(lr_at)")
    for depth in (20, 56, 110):
        sched = paper_schedule(f"resnet{depth}")
        for it in range(iterations):
            want = sched.lr_at(it)
            try:
                got = as_number(fn(it, depth))
            except Exception as err:
                return report(False, "", f"lr_at({it}, {depth}) raised {type(err).__name__}: {err}")
            if got is not None and math.isclose(got, want, rel_tol=1e-6):
                continue
            where = f"lr_at({it:,}, {depth}) = {got!r}, the paper's is {want:g}"
            if it in RECIPES["paper"].milestones:
                hint = "the drop happens *at* the milestone: step 32,000 already runs at the lower lr (>=, not >)."
            elif depth >= 110 and it < 400:
                hint = "depth 110 warms up: lr 0.01 for steps 0-399, then 0.1 (the code's 400 iterations)."
            elif depth >= 110 and it == 400:
                hint = "the warm-up covers steps 0-399 only: step 400 is back at 0.1."
            elif depth < 110 and it == 0 and math.isclose(got or 0, 0.01):
                hint = "only the 110-layer net warms up; depths 20 and 56 start at 0.1."
            else:
                hint = "lr 0.1, divided by 10 at each milestone passed (32k and 48k)."
            return report(False, "", f"{where}: {hint}")
    return report(True, f"your schedule matches the paper's at all {iterations:,} steps of depths 20, 56, 110.", "")


@checker
def check_augmentation_views(answer: Any, pad: int = 4) -> bool:
    """Exercise 05.3: distinct training views of one image under pad-``pad`` crop + horizontal flip."""
    value = numeric(answer)
    if value is None:
        return False
    offsets = 2 * pad + 1
    want = offsets * offsets * 2
    hints = {
        offsets * offsets: "and each crop can also be mirrored: x2.",
        (2 * pad) ** 2 * 2: f"the offsets run from 0 to {2 * pad} *inclusive*: {offsets} values per axis.",
        (2 * pad) ** 2: f"the offsets run from 0 to {2 * pad} inclusive ({offsets} values), and mirroring doubles.",
        offsets * 2: "the crop moves along both axes independently: offsets x offsets.",
        offsets * offsets * 4: "only horizontal flips: x2, not x4.",
    }
    return report(
        value == want,
        f"{offsets} x {offsets} crop offsets x 2 (mirrored or not) = {want}.",
        hints.get(value, f"count the crop positions per axis in a {32 + 2 * pad}-pixel padded image, then the flips."),
    )


@checker
def check_normalizer(fn: Any) -> bool:
    """Exercise 05.2: ``fn(images, train_images)`` subtracts the paper's per-pixel mean: uint8 ``(N, 3, H, W)``
    -> float ``images / 255 - mean(train_images / 255 over the image axis)``, the mean of shape ``(3, H, W)``."""
    if unanswered(fn):
        return False
    if not callable(fn):
        return report(False, "", "pass your function itself: check_normalizer(normalize)")
    gen = torch.Generator().manual_seed(11)
    train = torch.randint(0, 256, (64, 3, 32, 32), generator=gen, dtype=torch.uint8)
    train[:, 2] //= 2  # the blue channel darker on average: a per-channel mean is not a per-pixel one
    train[:, :, :16] //= 3  # and the top half darker: nor is a per-image-position grey
    test = torch.randint(0, 256, (5, 3, 32, 32), generator=gen, dtype=torch.uint8)
    want = Normalizer("per_pixel", mean=per_pixel_mean(train))(test)
    try:
        got = fn(test.clone(), train.clone())
    except Exception as err:
        return report(False, "", f"your function raised {type(err).__name__}: {err}")
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        return report(False, "", f"return a tensor of the images' shape {tuple(want.shape)}, got {shape}")
    if not got.is_floating_point():
        return report(False, "", "uint8 cannot hold negative numbers: convert to float before subtracting.")
    got = got.double()
    if torch.allclose(got, want.double(), atol=1e-5):
        return report(True, "images / 255 minus the mean training image (3, H, W): the per-pixel mean.", "")
    f = test.double() / 255
    t = train.double() / 255
    slips = [
        (f - test.double().mean(0) / 255, "that is the mean of the images you normalise; use the training images."),
        (f - t.mean((0, 2, 3))[:, None, None], "one mean per channel; the paper has one per channel *and* pixel."),
        (f - t.mean((0, 1))[None], "that averages over the channels too; keep one mean per channel and pixel."),
        (test.double() - train.double().mean(0), "right mean, but in 0-255 units: divide the images by 255 first."),
    ]
    for wrong, hint in slips:
        if torch.allclose(got, wrong, atol=1e-5):
            return report(False, "", hint)
    return report(False, "", "x / 255 - train_images.float().div(255).mean(0): average over the image axis only.")


@checker
def check_error_noise(se_2000: Any, se_10000: Any, error: float = 7.0) -> bool:
    """Exercise 06.4: standard error (percentage points) of a ``error`` % test error measured on 2,000 and
    on 10,000 test images (each image right or wrong independently: a binomial proportion)."""
    if unanswered(se_2000) or unanswered(se_10000):
        return False
    a, b = as_number(se_2000), as_number(se_10000)
    if a is None or b is None:
        return False
    p = error / 100
    want = [100 * math.sqrt(p * (1 - p) / n) for n in (2000, 10_000)]
    if all(abs(x - w) <= 0.02 for x, w in zip((a, b), want, strict=True)):
        return report(
            True,
            f"+-{want[0]:.2f} and +-{want[1]:.2f} percentage points: differences of a few tenths "
            "of a point between runs are within the noise of the measurement.",
            "",
        )
    if all(abs(x - w / 100) <= 0.0002 for x, w in zip((a, b), want, strict=True)):
        return report(False, "", "right, but as a fraction; give percentage points (multiply by 100).")
    if all(abs(x - 1e4 * p * (1 - p) / n) <= 0.002 for x, n in zip((a, b), (2000, 10_000), strict=True)):  # pp^2
        return report(False, "", "that is the variance; take its square root.")
    return report(
        False,
        "",
        "standard error of a proportion p on n images: sqrt(p (1 - p) / n), with p = "
        f"{p}; then x 100 for percentage points.",
    )


# notebook 07 (why it works): layer responses, lesions, loss landscapes
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
