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
    assert checks.check_blocks_per_stage(truth, depth=depth)
    assert _says(capsys, "Correct")
    assert not checks.check_blocks_per_stage(2 * truth, depth=depth)
    assert _says(capsys, "two of them")
    assert not checks.check_blocks_per_stage(3 * truth, depth=depth)
    assert _says(capsys, "one stage")
    assert not checks.check_blocks_per_stage(depth / 6, depth=depth)
    assert _says(capsys, "6n + 2, not 6n")
    for other in ("many", None, ...):
        assert not checks.check_blocks_per_stage(other, depth=depth)


def test_check_degradation_cause(capsys):
    assert checks.check_degradation_cause("c")
    assert checks.check_degradation_cause(" C) optimisation")
    for wrong, text in [("a", "overfitting"), ("b", "gradient norms"), ("d", "parameters"), ("z", "choose")]:
        assert not checks.check_degradation_cause(wrong)
        assert _says(capsys, text)
    assert not checks.check_degradation_cause(None)


def _lag1_right(g):
    g = np.asarray(g, dtype=float) - np.mean(g)
    return float(g[:-1] @ g[1:] / (g @ g))  # written out here, independent of analysis.autocorrelation


def test_check_lag1_autocorrelation(capsys):
    assert checks.check_lag1_autocorrelation(_lag1_right)
    wrong = {
        "subtract the mean": lambda g: float(g[:-1] @ g[1:] / (g @ g)),
        "corrcoef": lambda g: float(np.corrcoef(g[:-1], g[1:])[0, 1]),
        "lag-0 value": lambda g: float((g - g.mean())[:-1] @ (g - g.mean())[1:]),
        "raised ZeroDivisionError": lambda g: 1 / 0,
        "expected": lambda g: 0.5,
    }
    for text, fn in wrong.items():
        assert not checks.check_lag1_autocorrelation(fn)
        assert _says(capsys, text), text
    assert not checks.check_lag1_autocorrelation(0.3)
    assert not checks.check_lag1_autocorrelation(None)


def test_check_identity_init(capsys):
    state = torch.random.get_rng_state()

    def right(block):
        block.bn2.weight.zero_()

    assert checks.check_identity_init(right)
    assert torch.equal(state, torch.random.get_rng_state())  # the notebook's RNG is left alone
    assert not checks.check_identity_init(lambda b: b.conv2.weight.zero_())
    assert _says(capsys, "train mode only")
    assert not checks.check_identity_init(lambda b: b.bn1.bias.fill_(1.0))
    assert _says(capsys, "max |block(x) - x|")
    assert not checks.check_identity_init(lambda b: b.nope)
    assert _says(capsys, "AttributeError")
    assert not checks.check_identity_init("bn2")
    assert not checks.check_identity_init(None)


def test_check_sensitivity(capsys):
    x, h, target = 8.0, 8.4, 8.2  # the question, computed here from scratch
    m, r = abs(target - h) / abs(h), abs(target - h) / abs(h - x)
    assert checks.check_sensitivity(m, r)
    assert not checks.check_sensitivity(100 * m, 100 * r)
    assert _says(capsys, "fractions")
    assert not checks.check_sensitivity(m, 1.0)
    assert _says(capsys, "not 0")
    assert not checks.check_sensitivity(0.2 / 8.2, r)
    assert _says(capsys, "before")
    assert not checks.check_sensitivity(0.3, 0.3)
    assert not checks.check_sensitivity("x", r)
    assert not checks.check_sensitivity(None, r)


def test_check_gradient_factor(capsys):
    # the factor, by autograd through 50 scalar residual blocks x + 0.02 x
    x = torch.tensor(1.0, requires_grad=True)
    h = x
    for _ in range(50):
        h = h + 0.02 * h
    h.backward()
    assert checks.check_gradient_factor(x.grad.item())
    for wrong, text in [(2.0, "multiplies"), (0.02**50, "plain stack"), (1.02, "one block"), (5.0, "1 + 0.02")]:
        assert not checks.check_gradient_factor(wrong)
        assert _says(capsys, text)
    assert not checks.check_gradient_factor("big")
    assert not checks.check_gradient_factor(...)


def test_every_residuals_check_is_reexported():
    assert residuals.__all__ and all(getattr(checks, n) is getattr(residuals, n) for n in residuals.__all__)
