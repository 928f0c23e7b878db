"""course_utils.checks.residuals (notebooks 01-02): every checker accepts the right answer,
rejects wrong ones with the hint for that slip, never raises."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils import checks, models
from course_utils.checks import residuals


def _says(capsys, text: str) -> bool:
    return text in capsys.readouterr().out


@pytest.mark.parametrize("depth", [20, 56, 110])
def test_check_blocks_per_stage_agrees_with_the_model(depth, capsys):
    truth = len(models.plain_cifar(depth).layer1)
    assert checks.check_blocks_per_stage(truth, depth=depth) is True
    assert _says(capsys, "Correct")
    assert checks.check_blocks_per_stage(2 * truth, depth=depth) is False
    assert _says(capsys, "two of them")
    assert checks.check_blocks_per_stage(3 * truth, depth=depth) is False
    assert _says(capsys, "one stage")
    assert checks.check_blocks_per_stage(depth / 6, depth=depth) is False
    assert _says(capsys, "6n + 2, not 6n")
    for other in ("many", None, ...):
        assert checks.check_blocks_per_stage(other, depth=depth) is False


def test_check_degradation_cause(capsys):
    assert checks.check_degradation_cause("c") is True
    assert checks.check_degradation_cause(" C) optimisation") is True
    for wrong, text in [("a", "overfitting"), ("b", "gradient norms"), ("d", "parameters"), ("z", "choose")]:
        assert checks.check_degradation_cause(wrong) is False
        assert _says(capsys, text)
    assert checks.check_degradation_cause(None) is False


def _lag1_right(g):
    g = np.asarray(g, dtype=float) - np.mean(g)
    return float(g[:-1] @ g[1:] / (g @ g))  # written out here, independent of analysis.autocorrelation


def test_check_lag1_autocorrelation(capsys):
    assert checks.check_lag1_autocorrelation(_lag1_right) is True
    wrong = {
        "subtract the mean": lambda g: float(g[:-1] @ g[1:] / (g @ g)),
        "corrcoef": lambda g: float(np.corrcoef(g[:-1], g[1:])[0, 1]),
        "lag-0 value": lambda g: float((g - g.mean())[:-1] @ (g - g.mean())[1:]),
        "raised ZeroDivisionError": lambda g: 1 / 0,
        "expected": lambda g: 0.5,
    }
    for text, fn in wrong.items():
        assert checks.check_lag1_autocorrelation(fn) is False
        assert _says(capsys, text), text
    assert checks.check_lag1_autocorrelation(0.3) is False
    assert checks.check_lag1_autocorrelation(None) is False


def test_check_identity_init(capsys):
    state = torch.random.get_rng_state()

    def right(block):
        block.bn2.weight.zero_()

    assert checks.check_identity_init(right) is True
    assert torch.equal(state, torch.random.get_rng_state())  # the notebook's RNG is left alone
    assert checks.check_identity_init(lambda b: b.conv2.weight.zero_()) is False
    assert _says(capsys, "train mode only")
    assert checks.check_identity_init(lambda b: b.bn1.bias.fill_(1.0)) is False
    assert _says(capsys, "max |block(x) - x|")
    assert checks.check_identity_init(lambda b: b.nope) is False
    assert _says(capsys, "AttributeError")
    assert checks.check_identity_init("bn2") is False
    assert checks.check_identity_init(None) is False


def test_check_sensitivity(capsys):
    x, h, target = 8.0, 8.4, 8.2  # the question, computed here from scratch
    m, r = abs(target - h) / abs(h), abs(target - h) / abs(h - x)
    assert checks.check_sensitivity(m, r) is True
    assert checks.check_sensitivity(100 * m, 100 * r) is False
    assert _says(capsys, "fractions")
    assert checks.check_sensitivity(m, 1.0) is False
    assert _says(capsys, "not 0")
    assert checks.check_sensitivity(0.2 / 8.2, r) is False
    assert _says(capsys, "before")
    assert checks.check_sensitivity(0.3, 0.3) is False
    assert checks.check_sensitivity("x", r) is False
    assert checks.check_sensitivity(None, r) is False


def test_check_gradient_factor(capsys):
    # the factor, by autograd through 50 scalar residual blocks x + 0.02 x
    x = torch.tensor(1.0, requires_grad=True)
    h = x
    for _ in range(50):
        h = h + 0.02 * h
    h.backward()
    assert checks.check_gradient_factor(x.grad.item()) is True
    for wrong, text in [(2.0, "multiplies"), (0.02**50, "plain stack"), (1.02, "one block"), (5.0, "1 + 0.02")]:
        assert checks.check_gradient_factor(wrong) is False
        assert _says(capsys, text)
    assert checks.check_gradient_factor("big") is False
    assert checks.check_gradient_factor(...) is False


def test_every_residuals_check_is_reexported():
    assert residuals.__all__ and all(getattr(checks, n) is getattr(residuals, n) for n in residuals.__all__)
