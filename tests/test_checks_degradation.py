"""course_utils.checks.degradation (notebook 01): every checker accepts the right answer,
rejects wrong ones with the hint for that slip, never raises."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils import checks, models


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


def test_check_ratio_prediction(capsys):
    # the measurement: gradient at the input of the first over that of the last of 30 layers x -> 1.3 x
    xs = [torch.tensor(1.0, requires_grad=True)]
    for _ in range(30):
        xs.append(1.3 * xs[-1])
    grads = torch.autograd.grad(xs[-1], xs)
    measured = grads[0].item() / grads[29].item()  # = 1.3 ** 29, about 2,000
    assert measured == pytest.approx(1.3**29)
    for right in (measured, measured / 8, 8 * measured):
        assert checks.check_ratio_prediction(right, measured)
        assert _says(capsys, "within the 10 allowed")
    assert checks.check_ratio_prediction(measured / 2.5, measured, factor=3)
    assert not checks.check_ratio_prediction(measured / 8, measured, factor=3)
    for wrong, text in [
        (measured / 30, "below the measured"),
        (measured / 30, "compounds"),
        (30 * measured, "above the measured"),
        (0.01, "vanishes"),
        (-5, "positive"),
    ]:
        assert not checks.check_ratio_prediction(wrong, measured)
        assert _says(capsys, text), text
    assert not checks.check_ratio_prediction(30.0, measured, seen=30.0)
    assert _says(capsys, "already measured")
    assert checks.check_ratio_prediction(300.0, 400.0, seen=300.0)  # the seen value may be right too
    assert not checks.check_ratio_prediction(10.0, None)
    assert _says(capsys, "run the measuring cell")
    assert not checks.check_ratio_prediction(None, measured)
    assert not checks.check_ratio_prediction("lots", measured)


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
