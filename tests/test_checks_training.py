"""course_utils.checks.training (notebooks 05-07): every checker agrees with the engine,
the data pipeline, the models or a simulation, and never raises."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from course_utils import analysis, checks, models, schedule, transforms

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


# --- notebook 07: responses, lesions, filter normalisation -------------------


@pytest.mark.parametrize("depth", [20, 56, 110])
def test_check_response_count_agrees_with_the_model(depth, capsys):
    truth = len(analysis.response_layers(models.resnet_cifar(depth)))  # hooks on a real net
    assert checks.check_response_count(truth, depth=depth)
    for wrong in (truth - 1, depth, "many", None, ...):
        assert not checks.check_response_count(wrong, depth=depth)
    assert "Not" in capsys.readouterr().out


@pytest.mark.parametrize("depth", [20, 110])
def test_check_deletable_blocks_agrees_with_the_lesion_plan(depth):
    plain = sum(rep is not None for *_, rep in analysis.lesion_plan(models.plain_cifar(depth)))
    resnet = sum(rep is not None for *_, rep in analysis.lesion_plan(models.resnet_cifar(depth)))
    assert checks.check_deletable_blocks((plain, resnet), depth=depth)
    for wrong in [(resnet, resnet), (plain, plain), (plain,), f"{plain}, {resnet}", None]:
        assert not checks.check_deletable_blocks(wrong, depth=depth)


def _normalize_filters(d: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    scale = w.flatten(1).norm(dim=1) / d.flatten(1).norm(dim=1)  # (out,)
    return d * scale.view(-1, *[1] * (d.dim() - 1))


def test_check_filter_normalization(capsys):
    assert checks.check_filter_normalization(_normalize_filters)
    whole = lambda d, w: d * w.norm() / d.norm()
    flipped = lambda d, w: -_normalize_filters(d, w)

    def crashes(d, w):
        raise RuntimeError("student bug")

    for wrong in (whole, flipped, crashes, lambda d, w: w, lambda d: d, 3, None):
        assert not checks.check_filter_normalization(wrong)
    out = capsys.readouterr().out
    assert "each *filter*" in out and "RuntimeError" in out


def _loss_after_step(net: torch.nn.Module, direction: list[torch.Tensor], x, y) -> float:
    """Cross-entropy at theta + 1 * direction, BN in train mode (this batch's statistics), on a copy."""
    twin = copy.deepcopy(net).train()
    with torch.no_grad():
        for p, d in zip(twin.parameters(), direction, strict=True):
            p.add_(d)
        return torch.nn.functional.cross_entropy(twin(x), y).item()


def test_check_rescaled_step_agrees_with_a_measurement(capsys):
    torch.manual_seed(0)
    nn = torch.nn
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    )
    x, y = torch.randn(32, 3, 16, 16), torch.randint(0, 10, (32,))
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(60):  # fit the batch: a trained centre with a low loss that a step can raise
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    big = copy.deepcopy(net)
    with torch.no_grad():
        for m in big.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.mul_(10)
    centre = _loss_after_step(net, [torch.zeros_like(p) for p in net.parameters()], x, y)
    original = _loss_after_step(net, analysis.filter_normalized_direction(net, seed=0), x, y)
    measured = _loss_after_step(big, analysis.filter_normalized_direction(big, seed=0), x, y)
    unscaled = _loss_after_step(big, analysis.filter_normalized_direction(net, seed=0), x, y)  # a 10x smaller step
    assert measured == pytest.approx(original, rel=1e-3)  # the premise: BN + filter normalisation cancel the x10
    assert abs(unscaled - measured) > 0.1 * measured and abs(centre - measured) > 0.1 * measured
    assert checks.check_rescaled_step(measured, measured, centre)
    assert checks.check_rescaled_step(round(original, 2), measured, centre)
    capsys.readouterr()
    for wrong in (centre, 10 * measured, measured / 10, unscaled, "same", None):
        assert not checks.check_rescaled_step(wrong, measured, centre)
    out = capsys.readouterr().out
    assert "alpha = 0" in out and "batch std" in out and f"{measured:.3g}" in out
