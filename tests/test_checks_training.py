"""course_utils.checks.training (notebook 05): every checker agrees with the engine,
the data pipeline, the models or a simulation, and never raises."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils import checks, schedule, transforms

# --- notebooks 05-06: the paper's recipe in numbers ----------------------------


def test_check_lr_function_agrees_with_the_engine(capsys):
    def truth(it, depth):  # the engine's own schedule is the independent truth
        return schedule.paper_schedule(f"resnet{depth}").lr_at(it)

    assert checks.check_lr_function(truth)

    def late_drop(it, depth):  # > instead of >=: one step late at each milestone
        return 0.01 if depth >= 110 and it < 400 else 0.1 / 10 ** sum(it > m for m in (32_000, 48_000))

    def no_warmup(it, depth):
        return 0.1 / 10 ** sum(it >= m for m in (32_000, 48_000))

    def warm_everyone(it, depth):
        return 0.01 if it < 400 else no_warmup(it, depth)

    def epochs(it, depth):  # milestones read as epochs
        return 0.1 / 10 ** sum(it >= m for m in (91, 136))

    for wrong, said in [
        (late_drop, "32,000"),
        (no_warmup, "warms up"),
        (warm_everyone, "only the 110"),
        (epochs, "milestone passed"),
    ]:
        capsys.readouterr()
        assert not checks.check_lr_function(wrong)
        assert said in capsys.readouterr().out
    assert not checks.check_lr_function(None) and not checks.check_lr_function(0.1)
    assert not checks.check_lr_function(lambda it, depth: 1 / 0)
    capsys.readouterr()
    assert not checks.check_lr_function(lambda it, depth: None)  # the exercise's placeholder body
    assert "Not answered yet" in capsys.readouterr().out
    assert not checks.check_lr_function(lambda it, depth: None if it >= 32_000 else truth(it, depth))
    assert "returned None" in capsys.readouterr().out
    assert not checks.check_lr_function(lambda it, depth: "0.1x")
    assert "answer with a number" in capsys.readouterr().out


def test_check_augmentation_views_counts_real_augmentations():
    img = torch.arange(1, 3 * 32 * 32 + 1, dtype=torch.float32).reshape(1, 3, 32, 32)  # all pixels distinct
    views = transforms.random_crop_flip(
        img.expand(3000, -1, -1, -1).contiguous(), generator=torch.Generator().manual_seed(0)
    )
    truth = len(torch.unique(views.flatten(1), dim=0))
    assert truth == 162
    assert checks.check_augmentation_views(truth)
    for wrong in (81, 128, 64, 324, "lots", None):
        assert not checks.check_augmentation_views(wrong)


def _distinct_views(img: torch.Tensor, pad: int, draws: int = 3000, seed: int = 0) -> int:
    """Distinct results of the course's augmentation applied ``draws`` times to one image (1, 3, 32, 32)."""
    views = transforms.random_crop_flip(
        img.expand(draws, -1, -1, -1).contiguous(), pad=pad, generator=torch.Generator().manual_seed(seed)
    )
    return len(torch.unique(views.flatten(1), dim=0))


@pytest.mark.parametrize("pad", [4, 2])
def test_check_augmentation_views_of_a_symmetric_image_counts_real_augmentations(pad, capsys):
    img = torch.arange(1, 3 * 32 * 32 + 1, dtype=torch.float32).reshape(1, 3, 32, 32)
    sym = torch.cat([img[..., :16], img[..., :16].flip(-1)], dim=-1)  # its own mirror image, else all distinct
    assert torch.equal(sym, sym.flip(-1))
    truth = _distinct_views(sym, pad)
    assert truth == (2 * pad + 1) ** 2  # the augmentation itself: the flip adds no view
    assert checks.check_augmentation_views(truth, pad=pad, symmetric=True)
    assert not checks.check_augmentation_views(_distinct_views(img, pad), pad=pad, symmetric=True)
    for wrong, said in [
        (2 * truth, "adds nothing new"),
        (2 * truth - (2 * pad + 1), "*every* mirrored crop"),
        ((2 * pad + 1) * (pad + 1), "opposite sides"),
        ((2 * pad) ** 2, "inclusive"),
        (truth + 1, "which unmirrored crop"),
    ]:
        capsys.readouterr()
        assert not checks.check_augmentation_views(wrong, pad=pad, symmetric=True)
        assert said in capsys.readouterr().out
    for wrong in ("many", None, ...):
        assert not checks.check_augmentation_views(wrong, pad=pad, symmetric=True)


def test_check_views_seen_agrees_with_the_augmentation(capsys):
    img = torch.arange(1, 3 * 32 * 32 + 1, dtype=torch.float32).reshape(1, 3, 32, 32)
    draws = round(64_000 * 128 / 45_000)  # how often a 64k-iteration run draws each image of the 45k split
    measured = 100 * sum(_distinct_views(img, 4, draws, seed) for seed in range(20)) / (20 * 162)
    closed_form = 100 * (1 - (1 - 1 / 162) ** draws)  # a view missed by every draw
    assert draws == 182 and abs(measured - closed_form) < 2
    assert checks.check_views_seen(closed_form, measured, draws=draws)
    assert checks.check_views_seen(round(measured), measured, draws=draws)
    for wrong, said in [(100, "draws repeat"), (90, "too high"), (40, "too low")]:
        capsys.readouterr()
        assert not checks.check_views_seen(wrong, measured, draws=draws)
        assert said in capsys.readouterr().out
    for wrong in ("most", None, ...):
        assert not checks.check_views_seen(wrong, measured, draws=draws)


def test_check_normalizer_agrees_with_the_pipeline(capsys):
    def truth(images, train):  # the pipeline's own normalizer is the independent truth
        return transforms.Normalizer("per_pixel", mean=transforms.per_pixel_mean(train))(images)

    assert checks.check_normalizer(truth)
    slips = {
        "training images": lambda x, t: x.float() / 255 - x.float().mean(0) / 255,
        "per channel": lambda x, t: x.float() / 255 - (t.float() / 255).mean((0, 2, 3))[:, None, None],
        "averages over the channels": lambda x, t: x.float() / 255 - (t.float() / 255).mean((0, 1)),
        "0-255": lambda x, t: x.float() - t.float().mean(0),
        "negative": lambda x, t: x - t.float().mean(0).to(torch.uint8),
        "shape": lambda x, t: (x.float() / 255 - (t.float() / 255).mean(0))[0],
    }
    for said, wrong in slips.items():
        capsys.readouterr()
        assert not checks.check_normalizer(wrong)
        assert said in capsys.readouterr().out
    assert not checks.check_normalizer(None)
    capsys.readouterr()
    assert not checks.check_normalizer(lambda x, t: None)  # the exercise's placeholder body
    assert "Not answered yet" in capsys.readouterr().out


def test_check_error_noise_matches_a_simulation():
    gen = torch.Generator().manual_seed(0)
    simulated = 100 * (torch.rand(2000, 4000, generator=gen) < 0.07).float().mean(0).std().item()  # 4000 test sets
    se_2000 = 100 * math.sqrt(0.07 * 0.93 / 2000)
    assert abs(simulated - se_2000) < 0.02  # the binomial formula the check uses, confirmed by sampling
    se_10000 = 100 * math.sqrt(0.07 * 0.93 / 10_000)
    assert checks.check_error_noise(se_2000, se_10000)
    assert checks.check_error_noise(round(se_2000, 2), round(se_10000, 2))
    for wrong in [(se_2000 / 100, se_10000 / 100), (se_2000**2, se_10000**2), (se_10000, se_2000), (None, 0.2)]:
        assert not checks.check_error_noise(*wrong)
