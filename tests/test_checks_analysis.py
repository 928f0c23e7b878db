"""course_utils.checks.analysis (notebook 07): every checker agrees with the model, the lesion plan
or a measurement it makes itself."""

from __future__ import annotations

import copy

import pytest
import torch

from course_utils import analysis, blocks, checks, models


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

    def placeholder(d, w):  # the exercise cell as it is handed out
        return None

    assert not checks.check_filter_normalization(placeholder)
    assert "Not answered yet" in capsys.readouterr().out


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


def _thin_cifar_resnet(depth: int, width: int) -> torch.nn.Module:
    """A 6n+2 CIFAR ResNet (option A) with stage widths width, 2 width, 4 width, built from the course's blocks."""
    nn, n = torch.nn, (depth - 2) // 6
    layers, c_in = [nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()], width
    for c, stride in ((width, 1), (2 * width, 2), (4 * width, 2)):
        for i in range(n):
            s = stride if i == 0 else 1
            down = blocks.ShortcutA(c_in, c, s) if s != 1 or c_in != c else None
            layers.append(blocks.BasicBlock(c_in, c, s, down))
            c_in = c
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, 10))


def _torch_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_cifar_params_agrees_with_torch_and_table_6():
    for depth, table6 in [(20, 0.27e6), (56, 0.85e6), (110, 1.7e6), (1202, 19.4e6)]:  # the paper's Table 6
        torch_count = models.count_params(models.resnet_cifar(depth))
        assert checks.analysis.cifar_params(depth) == torch_count
        assert abs(torch_count - table6) / table6 < 0.03
    thin = _thin_cifar_resnet(20, 4)
    assert thin(torch.zeros(2, 3, 32, 32)).shape == (2, 10)  # a working net, not only a parameter list
    assert _torch_count(_thin_cifar_resnet(20, 16)) == models.count_params(models.resnet_cifar(20))
    for depth, width in [(20, 4), (56, 5), (110, 3)]:
        assert checks.analysis.cifar_params(depth, width) == _torch_count(_thin_cifar_resnet(depth, width))


def test_check_thin_width_agrees_with_torch_counts(capsys):
    budget = models.count_params(models.resnet_cifar(110))
    fits = {k: _torch_count(_thin_cifar_resnet(1202, k)) <= budget for k in (4, 5)}
    assert fits == {4: True, 5: False}  # parameters counted by torch on built nets: the widest that fits is 4
    assert checks.check_thin_width(4)
    for wrong, said in [
        (5, "Round down"),
        (16, "more than ResNet-110"),
        (3, "the *largest* k"),
        (1, "square of the width"),
        (16 * 110 / 1202, "square of the width"),
        (4.77, "whole number"),
        (0, "at least one channel"),
        (1000, "far too wide"),
    ]:
        capsys.readouterr()
        assert not checks.check_thin_width(wrong)
        assert said in capsys.readouterr().out
    for wrong in ("thin", None, ...):
        assert not checks.check_thin_width(wrong)
