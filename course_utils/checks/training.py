"""Exercise checks of notebook 05 (training on CIFAR-10): the paper's recipe in numbers."""

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
    "check_views_seen",
    "check_error_noise",
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
                raw = fn(it, depth)
            except Exception as err:
                return report(False, "", f"lr_at({it}, {depth}) raised {type(err).__name__}: {err}")
            if raw is None and it == 0 and depth == 20:  # the placeholder body, untouched
                unanswered(raw)
                return False
            if raw is None:
                return report(False, "", f"lr_at({it:,}, {depth}) returned None: every path must return a number.")
            got = as_number(raw)
            if got is None:  # not a number: as_number has said so
                return False
            if math.isclose(got, want, rel_tol=1e-6):
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
def check_augmentation_views(answer: Any, pad: int = 4, symmetric: bool = False) -> bool:
    """Exercise 05.3: distinct training views of one image under pad-``pad`` crop + horizontal flip;
    ``symmetric``: of an image that equals its own mirror image (and so does its zero-padded copy)."""
    value = numeric(answer)
    if value is None:
        return False
    offsets = 2 * pad + 1
    if symmetric:
        want = offsets * offsets
        hints = {
            offsets * offsets * 2: (
                f"mirroring a symmetric image adds nothing new: the mirrored crop at column offset dx is the "
                f"unmirrored crop at offset {2 * pad} - dx."
            ),
            offsets * offsets * 2 - offsets: (
                "not only the centred crops: *every* mirrored crop equals an unmirrored one, at the mirrored offset."
            ),
            offsets * (pad + 1): (
                f"the unmirrored crops at dx and {2 * pad} - dx differ (the black border lies on opposite sides); "
                "only a crop and the mirrored crop at the mirrored offset coincide."
            ),
            offsets * (pad + 1) * 2: (
                f"the unmirrored crops at dx and {2 * pad} - dx differ (the black border lies on opposite sides); "
                "only a crop and the mirrored crop at the mirrored offset coincide."
            ),
            (2 * pad) ** 2: f"the offsets run from 0 to {2 * pad} *inclusive*: {offsets} values per axis.",
        }
        right = (
            f"{offsets} x {offsets} crop offsets; each mirrored crop is the unmirrored crop at the mirrored "
            f"offset, so the flip adds no view: {want} instead of {2 * want}."
        )
        fallback = "mirror a crop of the symmetric image: which unmirrored crop does it equal?"
    else:
        want = offsets * offsets * 2
        hints = {
            offsets * offsets: "and each crop can also be mirrored: x2.",
            (2 * pad) ** 2 * 2: f"the offsets run from 0 to {2 * pad} *inclusive*: {offsets} values per axis.",
            (2 * pad) ** 2: f"the offsets run from 0 to {2 * pad} inclusive ({offsets} values), and mirroring doubles.",
            offsets * 2: "the crop moves along both axes independently: offsets x offsets.",
            offsets * offsets * 4: "only horizontal flips: x2, not x4.",
        }
        right = f"{offsets} x {offsets} crop offsets x 2 (mirrored or not) = {want}."
        fallback = f"count the crop positions per axis in a {32 + 2 * pad}-pixel padded image, then the flips."
    return report(value == want, right, hints.get(value, fallback))


@checker
def check_views_seen(guess: Any, measured: float, draws: int, views: int = 162, tolerance: float = 5.0) -> bool:
    """Exercise 05.4 (predict, then run): the percentage of an image's ``views`` that ``draws`` uniform random
    draws show at least once; ``measured``: that percentage, counted on the augmentation itself."""
    value = numeric(guess)
    if value is None:
        return False
    expected = 100 * (1 - (1 - 1 / views) ** draws)
    off = f"you guessed {value:g}%, the run's augmentation showed {measured:.1f}%"
    if abs(value - measured) <= tolerance:
        return report(
            True,
            f"{off}. A view is missed by all {draws} draws with probability (1 - 1/{views})^{draws} "
            f"= {1 - expected / 100:.2f}: about {expected:.0f}% are seen, the rest never.",
            "",
        )
    if value >= 95:
        hint = (
            f"{draws} draws for {views} views does not show every view: draws repeat. What is the chance that "
            f"one given view is missed by every draw?"
        )
    elif value > measured:
        hint = f"too high: a view is missed by all {draws} draws with probability (1 - 1/{views})^{draws}."
    else:
        hint = (
            f"too low: {draws} draws of {views} views, each view with probability 1/{views} per draw; "
            f"missed by all with (1 - 1/{views})^{draws}."
        )
    return report(False, "", f"{off}; {hint}")


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
    if unanswered(got):  # the placeholder body still returns None
        return False
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
