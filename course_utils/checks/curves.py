"""Exercise checks of notebook 06: reading Fig. 6's curves (the public full-schedule run and ours).

The answers are computed from curves, so a wrong computation fails: each checker recomputes the
value from the same curves with its own code, or runs the student's function on cases whose
answers are known.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from course_utils.checks._verdict import Verdict, as_number, checker, numeric, report, unanswered

__all__ = ["check_first_for_good", "check_crossing_prediction", "check_plain_gap"]

_CURVES = {"train_error": "training error", "test_error": "test error"}


def _stub(*args: Any) -> None: ...  # the bytecode of a function whose body is only ``...`` or ``pass``


def _label(model: str) -> str:
    """``resnet56`` -> ``ResNet-56``, ``plain20`` -> ``plain-20``."""
    kind = model.rstrip("0123456789")
    return f"{'ResNet' if kind == 'resnet' else kind}-{model[len(kind) :]}"


def _is_stub(fn: Any) -> bool:
    """True for the exercise's placeholder: a function that does nothing and returns None."""
    code = getattr(fn, "__code__", None)
    return code is not None and code.co_code == _stub.__code__.co_code


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
    below ``worse`` (error, %) at every later record, or None; tried on made-up curves and on every pair of
    the public run's nets, training and test error (``public``: ``{model: result}``).

    The placeholder (``None``, or a function whose body is still ``...``) is "not answered yet"."""
    if unanswered(None if _is_stub(fn) else fn):
        return False
    if not callable(fn):
        return report(False, "", f"answer with a function first_for_good(better, worse, iterations), got {fn!r}")
    its = [100, 200, 300, 400, 500]
    cases = [  # (better, worse, iterations, want, what it tests)
        ([5, 5, 5, 5, 5], [9, 9, 9, 9, 9], its, 100, "below at every record"),
        ([9, 9, 9, 9, 9], [5, 5, 5, 5, 5], its, None, "never below"),
        ([9, 4, 9, 4, 4], [5, 5, 5, 5, 5], its, 400, "below, back above, then below for good"),
        ([4, 4, 4, 4, 9], [5, 5, 5, 5, 5], its, None, "below until the very last record"),
        ([9, 9, 5, 4, 4], [5, 5, 5, 5, 5], its, 400, "equal is not below"),
    ]
    made_up = {case[-1] for case in cases}
    for curve in _CURVES:
        for a in sorted(public):
            for b in sorted(public):
                ha, hb = public[a]["history"], public[b]["history"]
                want = _for_good(ha[curve], hb[curve], ha["iteration"])
                cases.append((ha[curve], hb[curve], ha["iteration"], want, f"{a} vs {b}, {_CURVES[curve]}"))
    for better, worse, grid, truth, what in cases:
        try:
            got = fn(list(better), list(worse), list(grid))
        except Exception as err:  # the student's code: report its error as a hint, never crash the notebook
            return report(False, "", f"your function raised {type(err).__name__}: {err} (case: {what})")
        if got != truth:
            slip = _first_below(better, worse, grid)
            if got == slip and slip != truth:
                hint = "that is the first record where it is below; it must stay below at every later record too"
            elif what in made_up:
                hint = f"expected {truth}, got {got!r}"
            else:  # a public pair: its answer is not shown, exercise 1 asks for one of them
                hint = f"got {got!r}; compare it with the curves record by record"
            return report(False, "", f"{what}: {hint}.")
    rn = public["resnet56"]["history"] if "resnet56" in public and "resnet20" in public else None
    cross = _for_good(rn["test_error"], public["resnet20"]["history"]["test_error"], rn["iteration"]) if rn else None
    return report(
        True,
        "right on every case"
        + (f"; ResNet-56's test error stays below ResNet-20's from iteration {cross:,}." if cross else "."),
        "",
    )


def _wrong_first_for_good(
    fn: Any, better: Sequence[float], worse: Sequence[float], its: Sequence[int], truth: int | None
) -> Verdict | None:
    """``None`` when the student's ``first_for_good`` finds ``truth`` on these curves; else the printed verdict."""
    fix = "make exercise 1's check pass first, then run this cell again."
    try:
        found = None if _is_stub(fn) or not callable(fn) else fn(list(better), list(worse), list(its))
    except Exception as err:  # the student's code: its error is a hint, never a crash
        return report(False, "", f"your first_for_good raised {type(err).__name__}: {err}; {fix}")
    if found != truth or truth is None:
        return report(False, "", f"your first_for_good returned {found!r} on these curves; {fix}")
    return None


def _parting(truth: int, last_high: int, lr: float) -> str:
    """When the curves part for good, against the last record at the first learning rate ``lr``."""
    if truth < last_high:
        return f"{last_high - truth:,} iterations before the last record at lr {lr:g} ({last_high:,})"
    return f"at or after the last record at lr {lr:g} ({last_high:,})"


@checker
def check_crossing_prediction(
    guess: Any,
    fn: Any,
    public: dict,
    better: str = "resnet56",
    worse: str = "resnet20",
    curve: str = "train_error",
    tolerance: int = 2000,
) -> bool:
    """Exercise 06.1 (predict, then compute): a guessed iteration from which ``better``'s ``curve`` stays below
    ``worse``'s at every later record of the public run, right within ``tolerance`` iterations.

    ``fn``: the student's ``first_for_good``, run here on those two curves; it must find the right record
    before the guess is judged (a function that raises or is still a placeholder never crashes the cell)."""
    if curve not in _CURVES:
        raise ValueError(f"curve must be 'train_error' or 'test_error', got {curve!r}")
    value = numeric(guess)
    if value is None:
        return False
    hb, hw = public[better]["history"], public[worse]["history"]
    its, lrs = hb["iteration"], hb["lr"]
    truth = _for_good(hb[curve], hw[curve], its)
    wrong = _wrong_first_for_good(fn, hb[curve], hw[curve], its, truth)
    if wrong is not None:
        return wrong
    drop = next(i for i, k in enumerate(lrs) if k < lrs[0])  # index of the first record at a lower lr
    last_high, epoch = its[drop - 1], its[drop] - its[drop - 1]  # the lr drops right after last_high
    other = "test_error" if curve == "train_error" else "train_error"
    other_from = _for_good(hb[other], hw[other], its)
    name, other_name = _CURVES[curve], _CURVES[other]
    when = _parting(truth, last_high, lrs[0])
    said = f"your first_for_good finds {truth:,}; you guessed {value:,.0f}"
    off = value - truth
    if abs(off) <= tolerance:
        follows = f"; the {other_name} follows from {other_from:,}" if other_from is not None else ""
        return report(
            True,
            f"{said}, {abs(off):,.0f} off (within {tolerance:,}). {_label(better)}'s {name} stays below "
            f"{_label(worse)}'s from {truth:,}, {when}{follows}.",
            "",
        )
    at_drop = other_from is not None and abs(other_from - last_high) <= epoch
    if at_drop and truth < other_from and abs(value - other_from) <= 2 * epoch:
        return report(
            False,
            "",
            f"{said}, about where the {other_name} parts, at the first lr drop (section 6: {other_from:,}); "
            f"the {name} parts {other_from - truth:,} iterations earlier, still at lr {lrs[0]:g}.",
        )
    first = _first_below(hb[curve], hw[curve], its)
    if first is not None and first != truth and abs(value - first) <= epoch:
        return report(
            False, "", f"{said}, the first record where it is below; it must stay below at every later record."
        )
    return report(
        False,
        "",
        f"{said}: {abs(off):,.0f} iterations too {'late' if off > 0 else 'early'} (within {tolerance:,} counts "
        f"as right). It parts {when}.",
    )


@checker
def check_plain_gap(early: Any, final: Any, public: dict, at: int = 3128, curve: str = "test_error") -> bool:
    """Exercise 06.2: plain-56's error minus plain-20's (``curve``: ``train_error`` or ``test_error``) in the
    public run at iteration ``at`` and at its end."""
    if curve not in ("train_error", "test_error"):
        raise ValueError(f"curve must be 'train_error' or 'test_error', got {curve!r}")
    if unanswered(early) or unanswered(final):  # one reminder, not one per placeholder
        return False
    a = as_number(early)
    b = as_number(final) if a is not None else None
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
