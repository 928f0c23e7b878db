"""What every check shares: the printed verdict, the unanswered-placeholder test, the slip lookup."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

__all__ = ["Verdict", "checker", "report", "unanswered", "as_number", "numeric", "ratio_and_truth", "first_slip"]


class Verdict:
    """A check's outcome: truthy when the answer is right, and silent as a cell's last value.

    A plain ``bool`` would make Jupyter echo a stray ``True``/``False`` under the printed verdict.
    """

    __slots__ = ("ok",)

    def __init__(self, ok: object) -> None:
        self.ok = bool(ok)

    def __bool__(self) -> bool:
        return self.ok

    def __eq__(self, other: object) -> bool:
        return bool(other) == self.ok if isinstance(other, (bool, Verdict)) else NotImplemented

    def __hash__(self) -> int:
        return hash(self.ok)

    def __int__(self) -> int:
        return int(self.ok)

    def __add__(self, other: object) -> int:  # sum(verdicts) counts the right answers, as with bools
        return int(self.ok) + other if isinstance(other, (int, Verdict)) else NotImplemented

    __radd__ = __add__

    def __repr__(self) -> str:
        return f"Verdict({self.ok})"

    def _ipython_display_(self) -> None:  # IPython shows nothing: the printed line is the verdict
        pass


def checker(fn: Callable[..., Any]) -> Callable[..., Verdict]:
    """Decorate a ``check_*`` function so that every return path gives a silent :class:`Verdict`."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Verdict:
        return Verdict(fn(*args, **kwargs))

    return wrapped


def report(ok: bool, right: str, wrong: str) -> Verdict:
    """Print ``right`` (prefixed with a tick) or ``wrong`` (with a hint marker); return the verdict."""
    print(("✅ Correct: " + right) if ok else ("❌ Not yet: " + wrong))
    return Verdict(ok)


def unanswered(answer: Any) -> bool:
    """True (and a reminder is printed) when the placeholder ``None``/``...`` is still there."""
    if answer is None or answer is Ellipsis:
        print("✏️  Not answered yet: replace the placeholder and run the cell again.")
        return True
    return False


def as_number(answer: Any) -> float | None:
    """``float(answer)``, or ``None`` after printing a hint when it is not a (finite or infinite) number."""
    try:
        value = float(answer)
    except (TypeError, ValueError):
        report(False, "", f"answer with a number, got {answer!r}")
        return None
    if value != value:  # NaN
        report(False, "", "answer with a number, got NaN")
        return None
    return value


def numeric(answer: Any) -> float | None:
    """The answer as a number, or ``None`` (with the reminder or hint printed) when unanswered or not numeric."""
    return None if unanswered(answer) else as_number(answer)


def ratio_and_truth(guess: Any, measured: Any, what: str) -> tuple[float, float] | None:
    """A guessed ratio and its measurement, both positive numbers; ``None`` after the hint when not.

    ``what`` completes the hint for a guess that is not positive: "a ratio of two {what} is positive".
    """
    value = numeric(guess)
    if value is None:
        return None
    truth = as_number(measured) if measured is not None else None
    if truth is None or not 0 < truth < math.inf:
        report(False, "", "record your guess first, then run the measuring cell: it sets the measurement.")
        return None
    if value <= 0:
        report(False, "", f"a ratio of two {what} is positive.")
        return None
    return value, truth


def first_slip(answer: Any, truth: Any, slips: list[tuple[Any, str]], fallback: str) -> str:
    """The hint of the first ``(wrong value, hint)`` slip equal to ``answer``, else ``fallback``.

    Slips whose value equals the truth are skipped: for some inputs a slip gives the right number.
    """
    for value, hint in slips:
        if value != truth and answer == value:
            return hint
    return fallback
