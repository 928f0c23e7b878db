"""Exercise checks of notebook 06: reading Fig. 6's curves (the public full-schedule run and ours).

The answers are computed from curves, so a wrong computation fails: each checker recomputes the
value from the same curves with its own code, or runs the student's function on cases whose
answers are known.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from course_utils.checks._verdict import checker, numeric, report, unanswered

__all__ = ["check_first_for_good", "check_plain_gap"]


def _for_good(better: Sequence[float], worse: Sequence[float], its: Sequence[int]) -> int | None:
    """The first iteration from which ``better < worse`` at every later record; None if never."""
    start = None
    for it, a, b in zip(its, better, worse, strict=True):
        if a < b:
            start = it if start is None else start
        else:
            start = None
    return start


def _first_below(better: Sequence[float], worse: Sequence[float], its: Sequence[int]) -> int | None:
    return next((it for it, a, b in zip(its, better, worse, strict=True) if a < b), None)


@checker
def check_first_for_good(fn: Any, public: dict) -> bool:
    """Exercise 06.1: ``fn(better, worse, iterations)`` -> the first iteration from which ``better`` stays
    below ``worse`` (test error, %) at every later record, or None; tried on made-up curves and on every
    pair of the public run's nets (``public``: ``{model: result}``)."""
    if unanswered(fn):
        return False
    its = [100, 200, 300, 400, 500]
    cases = [  # (better, worse, iterations, want, what it tests)
        ([5, 5, 5, 5, 5], [9, 9, 9, 9, 9], its, 100, "below at every record"),
        ([9, 9, 9, 9, 9], [5, 5, 5, 5, 5], its, None, "never below"),
        ([9, 4, 9, 4, 4], [5, 5, 5, 5, 5], its, 400, "below, back above, then below for good"),
        ([4, 4, 4, 4, 9], [5, 5, 5, 5, 5], its, None, "below until the very last record"),
        ([9, 9, 5, 4, 4], [5, 5, 5, 5, 5], its, 400, "equal is not below"),
    ]
    for a in sorted(public):
        for b in sorted(public):
            ha, hb = public[a]["history"], public[b]["history"]
            want = _for_good(ha["test_error"], hb["test_error"], ha["iteration"])
            cases.append((ha["test_error"], hb["test_error"], ha["iteration"], want, f"{a} vs {b}"))
    for better, worse, grid, truth, what in cases:
        try:
            got = fn(list(better), list(worse), list(grid))
        except Exception as err:  # the student's code: report its error as a hint, never crash the notebook
            return report(False, "", f"your function raised {type(err).__name__}: {err} (case: {what})")
        if got != truth:
            slip = _first_below(better, worse, grid)
            hint = (
                "that is the first record where it is below; it must stay below at every later record too"
                if got == slip and slip != truth
                else f"expected {truth}, got {got!r}"
            )
            return report(False, "", f"{what}: {hint}.")
    rn = public["resnet56"]["history"] if "resnet56" in public and "resnet20" in public else None
    cross = _for_good(rn["test_error"], public["resnet20"]["history"]["test_error"], rn["iteration"]) if rn else None
    return report(
        True,
        "right on every case"
        + (f"; ResNet-56's test error stays below ResNet-20's from iteration {cross:,}." if cross else "."),
        "",
    )


@checker
def check_plain_gap(early: Any, final: Any, public: dict, at: int = 3128, curve: str = "test_error") -> bool:
    """Exercise 06.2: plain-56's error minus plain-20's (``curve``: ``train_error`` or ``test_error``) in the
    public run at iteration ``at`` and at its end."""
    if curve not in ("train_error", "test_error"):
        raise ValueError(f"curve must be 'train_error' or 'test_error', got {curve!r}")
    a, b = numeric(early), numeric(final)
    if a is None or b is None:
        return False
    p20, p56 = public["plain20"]["history"], public["plain56"]["history"]
    if at not in p20["iteration"]:
        return report(False, "", f"the public run has no record at iteration {at:,}; use a multiple of 391.")
    i = p20["iteration"].index(at)
    want_early = p56[curve][i] - p20[curve][i]
    want_final = p56[curve][-1] - p20[curve][-1]
    if abs(a - want_early) <= 0.05 and abs(b - want_final) <= 0.05:
        return report(
            True,
            f"{want_early:.1f} points at {at:,} iterations, {want_final:.1f} at the end: "
            f"{want_early / want_final:.0f} times larger early.",
            "",
        )
    if abs(a + want_early) <= 0.05 or abs(b + want_final) <= 0.05:
        return report(False, "", "subtract plain-20's error from plain-56's, not the other way round.")
    other = "test_error" if curve == "train_error" else "train_error"
    if abs(a - (p56[other][i] - p20[other][i])) <= 0.05 or abs(b - (p56[other][-1] - p20[other][-1])) <= 0.05:
        return report(False, "", f"that is the {other.replace('_', ' ')}; this exercise asks for {curve!r}.")
    if abs(a - want_early) > 0.05:
        return report(False, "", f"look up both errors at the record of iteration {at:,} (not its index).")
    return report(False, "", "the end is the last record of each history (index -1).")
