"""Exercise checks of notebook 01 (degradation: depth arithmetic, a gradient-ratio prediction, shattering)."""

from __future__ import annotations

from typing import Any

import numpy as np

from course_utils.analysis import autocorrelation
from course_utils.checks._verdict import as_number, checker, numeric, ratio_and_truth, report, unanswered

__all__ = ["check_blocks_per_stage", "check_ratio_prediction", "check_lag1_autocorrelation"]


@checker
def check_blocks_per_stage(answer: Any, depth: int = 110) -> bool:
    """Exercise 01.1: blocks per stage ``n`` of the CIFAR plain/residual net with ``depth = 6n + 2`` layers."""
    value = numeric(answer)
    if value is None:
        return False
    n = (depth - 2) // 6
    hints = {
        round((depth - 2) / 3, 6): "that counts the 3x3 convs of one stage; each block holds two of them.",
        round(depth / 6, 6): "the stem conv and the fc layer count too: depth = 6n + 2, not 6n.",
        3 * n: "that is the total number of blocks; the question asks for one stage (there are 3).",
    }
    return report(
        value == n,
        f"depth {depth} = 6 x {n} + 2: stem conv, 3 stages x {n} blocks x 2 convs, fc.",
        hints.get(round(value, 6), "write depth = 6n + 2 and solve for n."),
    )


@checker
def check_ratio_prediction(guess: Any, measured: Any, seen: Any = None, factor: float = 10.0) -> bool:
    """Exercise 01.2 (predict, then run): a guessed ratio of gradient norms ``guess`` against the
    ``measured`` one (e.g. plain-110's first-conv / last-conv ``||dL/dW||`` at initialisation).

    Right within ``factor`` either way (the order of magnitude): such ratios span orders of magnitude and
    move by a factor of several with the batch and the initial weights.
    ``seen``: a ratio the student has already measured (plain-56's), named in the hint when guessed again.
    """
    pair = ratio_and_truth(guess, measured, "gradient norms")
    if pair is None:
        return False
    value, truth = pair
    off = value / truth
    times = max(off, 1 / off)
    far = f"your guess {value:,.3g} is {times:,.0f} times {'above' if off > 1 else 'below'} the measured {truth:,.3g}"
    if 1 / factor <= off <= factor:
        return report(
            True,
            f"you guessed {value:,.3g}, the measurement is {truth:,.3g}: off by a factor of "
            f"{max(off, 1 / off):.1f}, within the {factor:g} allowed for an order of magnitude.",
            "",
        )
    if value < 1:
        return report(
            False,
            "",
            f"{far}. A guess below 1 says the gradient vanishes towards the input; with BN it grows.",
        )
    known = as_number(seen) if seen is not None else None
    if known and 1 / 1.5 <= value / known <= 1.5 and not 1 / 1.5 <= truth / known <= 1.5:
        return report(
            False,
            "",
            f"{far}. That is the ratio you already measured on the shallower net; "
            "every extra layer multiplies it again.",
        )
    if off < 1:
        return report(
            False,
            "",
            f"{far}. The growth compounds layer by layer: extrapolate log(ratio), not the ratio, linearly in depth.",
        )
    return report(False, "", f"{far}. Extrapolate log(ratio) linearly in depth from the two nets you measured.")


@checker
def check_lag1_autocorrelation(fn: Any) -> bool:
    """Exercise 01.3: ``fn(g)`` returns the lag-1 autocorrelation (a float) of a 1-D array ``g``."""
    if unanswered(fn):
        return False
    if not callable(fn):
        return report(False, "", "pass your function itself: check_lag1_autocorrelation(lag1)")

    rng = np.random.default_rng(3)
    cases = {
        "white noise": rng.standard_normal(256),
        "a random walk": rng.standard_normal(256).cumsum() + 5.0,
        "a sine": np.sin(np.linspace(0, 6, 64)) + 2.0,
    }
    for what, g in cases.items():
        want = float(autocorrelation(g, max_lag=1)[1])
        try:
            got = float(fn(g.copy()))
        except Exception as err:
            return report(False, "", f"your function raised {type(err).__name__}: {err}")
        if abs(got - want) > 1e-6:
            g0 = g - g.mean()
            if abs(got - float(g[:-1] @ g[1:] / (g @ g))) < 1e-6:
                return report(False, "", f"on {what}: subtract the mean first (g - g.mean()).")
            if abs(got - float(np.corrcoef(g[:-1], g[1:])[0, 1])) < 1e-6:
                return report(
                    False,
                    "",
                    f"on {what}: close, but np.corrcoef normalises each shifted copy "
                    "separately; divide by the full sum of (g - mean)^2 instead.",
                )
            if abs(got - float(g0[:-1] @ g0[1:])) < 1e-6:
                return report(False, "", f"on {what}: normalise by the lag-0 value sum((g - mean)^2), so r(0) = 1.")
            return report(
                False,
                "",
                f"on {what}: expected {want:.4f}, got {got:.4f}. "
                "r(1) = sum((g[i] - m)(g[i+1] - m)) / sum((g[i] - m)^2).",
            )
    return report(True, "white noise gives r(1) ~ 0, a random walk and a sine stay close to 1.", "")
