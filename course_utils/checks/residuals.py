"""Exercise checks of notebooks 01-02 (degradation, residual learning)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from course_utils.analysis import autocorrelation
from course_utils.checks._verdict import as_number, checker, numeric, report, unanswered
from course_utils.models import BasicBlock

__all__ = [
    "check_blocks_per_stage",
    "check_degradation_cause",
    "check_lag1_autocorrelation",
    "check_identity_init",
    "check_sensitivity",
    "check_gradient_factor",
]


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
def check_degradation_cause(answer: Any) -> bool:
    """Exercise 01.2: what the degradation problem is (multiple choice a-d)."""
    if unanswered(answer):
        return False
    choice = str(answer).strip().lower()[:1]
    hints = {
        "a": "overfitting would give a deeper net a *lower* training error and a higher test error; "
        "plain-56 has the higher training error too.",
        "b": "with BN, the measured gradient norms at initialisation do not vanish: the first layers of "
        "plain-56 get gradients as large as (or larger than) the last ones.",
        "d": "plain-56 has about three times the parameters of plain-20, and a deeper net can copy a "
        "shallower one (extra layers = identity), so capacity is not what is missing.",
    }
    return report(
        choice == "c",
        "the deeper plain net fits even its training data worse: an optimisation difficulty, "
        "not overfitting and not (with BN) vanishing gradients.",
        hints.get(choice, "choose one of 'a', 'b', 'c', 'd'."),
    )


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
        except Exception as err:  # noqa: BLE001  (a student's bug must not stop the notebook)
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


@checker
def check_identity_init(fn: Any) -> bool:
    """Exercise 02.1: ``fn(block)`` changes a ``models.BasicBlock`` in place so that it computes
    the identity on non-negative inputs, in train *and* eval mode."""
    if unanswered(fn):
        return False
    if not callable(fn):
        return report(False, "", "pass your function itself: check_identity_init(make_identity)")

    gen = torch.Generator().manual_seed(5)
    with torch.random.fork_rng(devices=[]):  # leave the notebook's random state alone
        torch.manual_seed(5)
        block = BasicBlock(8, 8)
    for bn in (block.bn1, block.bn2):  # statistics of a trained block: zeroing a conv is not enough
        bn.running_mean.copy_(torch.rand(8, generator=gen) - 0.5)
        bn.running_var.copy_(torch.rand(8, generator=gen) + 0.5)
    x = torch.relu(torch.randn(4, 8, 6, 6, generator=gen))  # block inputs follow a ReLU: >= 0
    try:
        with torch.no_grad():
            fn(block)
    except Exception as err:  # noqa: BLE001
        return report(False, "", f"your function raised {type(err).__name__}: {err}")
    diffs = {}
    with torch.no_grad():
        for mode in ("train", "eval"):
            block.train(mode == "train")
            diffs[mode] = (block(x) - x).abs().max().item()
    if diffs["train"] == 0 and diffs["eval"] == 0:
        return report(
            True,
            "F(x) = 0, so the block outputs relu(0 + x) = x on its non-negative inputs. "
            "This is what zero_init_residual does: bn2.weight = 0.",
            "",
        )
    if diffs["train"] == 0:
        return report(
            False,
            "",
            f"identity in train mode only (eval-mode difference {diffs['eval']:.3g}): "
            "in eval mode BN subtracts its running mean, so a zero conv output does not stay zero. "
            "Zero the scale of the last BN instead.",
        )
    return report(
        False,
        "",
        f"max |block(x) - x| = {diffs['train']:.3g}. Make the residual branch F output exactly "
        "zero: which single parameter of the last layer of F multiplies everything it outputs?",
    )


@checker
def check_sensitivity(mapping: Any, residual: Any) -> bool:
    """Exercise 02.2: input x = 8, the block outputs H(x) = 8.4, the target is 8.2. The relative
    change needed (a fraction, not percent) of the mapping H and of the residual F = H - x."""
    if unanswered(mapping) or unanswered(residual):
        return False
    m, r = as_number(mapping), as_number(residual)
    if m is None or r is None:
        return False
    want_m, want_r = 0.2 / 8.4, 0.2 / 0.4

    def near(a: float, b: float) -> bool:
        return math.isclose(a, b, rel_tol=2e-3)

    if near(m, want_m) and near(r, want_r):
        return report(
            True,
            f"H must move by 0.2/8.4 = {want_m:.2%}, F by 0.2/0.4 = {want_r:.0%}: "
            "the same step, measured against a much smaller quantity.",
            "",
        )
    if near(m, 100 * want_m) or near(r, 100 * want_r):
        return report(False, "", "give fractions, not percent (0.5, not 50).")
    if near(r, 1.0):
        return report(False, "", "the target residual is 8.2 - 8 = 0.2, not 0: F moves from 0.4 to 0.2.")
    if near(m, 0.2 / 8.2) or near(r, 0.2 / 0.2):
        return report(False, "", "divide by the size *before* the change (H = 8.4, F = 0.4).")
    return report(
        False, "", "relative change = |after - before| / |before|, for H (8.4 -> 8.2) and for F = H - x (0.4 -> 0.2)."
    )


@checker
def check_gradient_factor(answer: Any) -> bool:
    """Exercise 02.3: 50 residual blocks, each with scalar dF/dx = 0.02: the factor
    ``dL/dx_0 / dL/dx_50`` (the gradient at the input over the gradient at the output)."""
    value = numeric(answer)
    if value is None:
        return False
    want = 1.02**50
    if math.isclose(value, want, rel_tol=1e-3):
        return report(
            True,
            f"(1 + 0.02)^50 = {want:.3f}. A plain stack with the same dF/dx would give 0.02^50 = {0.02**50:.1e}.",
            "",
        )
    hints = [
        (1 + 50 * 0.02, "the chain rule multiplies the 50 factors (1 + dF/dx); it does not add them."),
        (
            0.02**50,
            "that is the plain stack, where each layer contributes dF/dx alone; "
            "a residual block contributes 1 + dF/dx.",
        ),
        (1.02, "that is one block; there are 50."),
    ]
    for val, hint in hints:
        if math.isclose(value, val, rel_tol=1e-3):
            return report(False, "", hint)
    return report(False, "", "each block multiplies the gradient by d(x + F(x))/dx = 1 + 0.02.")
