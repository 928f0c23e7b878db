"""Exercise checks of notebooks 05 and 07 (training on CIFAR-10, why it works)."""

from __future__ import annotations

import math
from typing import Any

import torch

from course_utils.checks._verdict import as_number, checker, numeric, report, unanswered
from course_utils.schedule import RECIPES

__all__ = [
    "check_epochs",
    "check_lr",
    "check_augmentation_views",
    "check_mean_shape",
    "check_error_noise",
    "check_response_count",
    "check_deletable_blocks",
    "check_filter_normalization",
    "check_rescaled_step",
]


# notebooks 05-06 (training on CIFAR-10, Fig. 6): the paper's recipe in numbers

_PAPER_TRAIN_IMAGES = 45_000  # the 45k/5k train/val split of He et al. 2015, sec. 4.2
_PAPER_MILESTONES = RECIPES["paper"].milestones  # (32,000, 48,000): the schedule module is the one source


@checker
def check_epochs(
    answer: Any, iterations: int = 64_000, batch_size: int = 128, n_train_images: int = _PAPER_TRAIN_IMAGES
) -> bool:
    """Exercise 05.1: epochs (passes over the training split) in ``iterations`` minibatches."""
    value = numeric(answer)
    if value is None:
        return False
    want = iterations * batch_size / n_train_images
    if abs(value - want) <= 0.05 * max(1.0, want / 100):
        return report(
            True,
            f"{iterations:,} x {batch_size} = {iterations * batch_size:,} images seen = "
            f"{want:.2f} passes over {n_train_images:,} images.",
            "",
        )
    if abs(value - iterations * batch_size / 50_000) < 0.1:
        return report(
            False,
            "",
            "that divides by all 50,000 training images; the paper's schedule was "
            f"set on the {n_train_images:,}-image training part of the 45k/5k split.",
        )
    if abs(value - iterations / batch_size) < 0.1 or abs(value - iterations / n_train_images) < 0.01:
        return report(
            False,
            "",
            "one iteration processes one minibatch of images: images seen = "
            "iterations x batch size; an epoch is one pass over the training images.",
        )
    return report(False, "", "epochs = iterations x batch size / training images.")


def _paper_lr(iteration: int, depth: int) -> float:
    """The paper's lr at 0-based ``iteration``: warm-up 0.01 for 400 its at depth >= 110, then 0.1 / 10 a milestone."""
    if depth >= 110 and iteration < 400:
        return 0.01
    return 0.1 * 0.1 ** sum(iteration >= m for m in _PAPER_MILESTONES)


@checker
def check_lr(answer: Any, iteration: int, depth: int = 56) -> bool:
    """Exercise 05.2: the paper's learning rate at ``iteration`` for a CIFAR net of ``depth`` layers."""
    value = numeric(answer)
    if value is None:
        return False
    want = _paper_lr(iteration, depth)
    if math.isclose(value, want, rel_tol=1e-6):
        return report(True, f"lr = {want:g} at iteration {iteration:,} for a depth-{depth} net.", "")
    passed = sum(iteration >= m for m in _PAPER_MILESTONES)
    if depth >= 110 and iteration < 400 and math.isclose(value, 0.1, rel_tol=1e-6):
        hint = "a net of depth >= 110 first warms up at lr 0.01 for about 400 iterations, then goes back to 0.1."
    elif value > want:
        hint = (
            f"iteration {iteration:,} is past {passed} milestone(s) ({', '.join(f'{m:,}' for m in _PAPER_MILESTONES)}):"
            " divide 0.1 by 10 once per milestone passed."
        )
    else:
        hint = (
            f"only {passed} milestone(s) of {', '.join(f'{m:,}' for m in _PAPER_MILESTONES)} lie at or before "
            f"iteration {iteration:,}."
        )
    return report(False, "", hint)


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
def check_mean_shape(answer: Any) -> bool:
    """Exercise 05.4: the shape of the paper's per-pixel mean of CIFAR-10 (PyTorch layout)."""
    if unanswered(answer):
        return False
    try:
        shape = tuple(int(s) for s in answer)
    except (TypeError, ValueError):
        return report(False, "", f"answer with a shape, e.g. (2, 5), got {answer!r}")
    hints = {
        (3,): "that is the per-channel mean; the per-pixel mean has one value per channel *and* position.",
        (32, 32, 3): "right numbers, but PyTorch stores images channels first: (C, H, W).",
        (32, 32): "each colour channel has its own mean at every position.",
        (50000, 3, 32, 32): "the mean is taken over the images: that axis disappears.",
        (45000, 3, 32, 32): "the mean is taken over the images: that axis disappears.",
    }
    return report(
        shape == (3, 32, 32),
        "one mean for every channel and pixel: (3, 32, 32), the shape of one image.",
        hints.get(shape, "average the training images (N, 3, 32, 32) over the image axis."),
    )


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
