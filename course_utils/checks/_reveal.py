"""What stays hidden until the student has worked: a solution's output, a measurement before its prediction.

- ``with solution():`` around a solution cell's code folds everything it prints into a closed
  "Output of the solution" block: JupyterLab's Run All shows the cell's output, and without the fold
  the answers would be in plain view under a collapsed cell.
- ``predict(name, guess)`` records a guess in its own cell; ``reveal(name, text, check)`` prints a
  measurement and checks the guess against it only once a guess is recorded, so the value cannot be
  copied into the guess.
"""

from __future__ import annotations

import contextlib
import html
import io
import sys
from collections.abc import Callable, Iterator
from typing import Any

from IPython.display import display

from course_utils.checks._verdict import Verdict, as_number, unanswered

__all__ = ["Folded", "solution", "predict", "reveal", "forget_guesses"]

_GUESSES: dict[str, float] = {}  # the guesses recorded in this kernel, by exercise name


class Folded:
    """Printed text shown as a closed ``<details>`` block in JupyterLab, as one summary line elsewhere."""

    def __init__(self, text: str, summary: str = "Output of the solution") -> None:
        self.text = text
        self.summary = summary

    def _repr_html_(self) -> str:
        return (
            f"<details><summary>{html.escape(self.summary)} (click to open after you have tried)</summary>"
            f"<pre>{html.escape(self.text)}</pre></details>"
        )

    def __repr__(self) -> str:
        lines = self.text.count("\n") + (not self.text.endswith("\n") and bool(self.text))
        return f"[{self.summary.lower()}: {lines} line(s), folded]"


@contextlib.contextmanager
def solution() -> Iterator[None]:
    """Fold what the block prints; a solution that raises shows everything it printed, then the error."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    except BaseException:
        sys.stdout.write(buffer.getvalue())
        raise
    display(Folded(buffer.getvalue()))  # outside IPython: the summary line on stdout


def predict(name: str, guess: Any) -> Verdict:
    """Record ``guess`` (a number) for exercise ``name``; a missing or non-numeric guess records nothing."""
    if unanswered(guess):
        _GUESSES.pop(name, None)
        return Verdict(False)
    value = as_number(guess)
    if value is None:
        _GUESSES.pop(name, None)
        return Verdict(False)
    _GUESSES[name] = value
    print(f"✍ Guess recorded for {name}: {value:,.6g}. Now run the measurement below.")
    return Verdict(True)


def reveal(name: str, text: str, check: Callable[[float], Verdict]) -> Verdict:
    """Print the measurement ``text`` and ``check(guess)``, or only a reminder while no guess is recorded."""
    if name not in _GUESSES:
        print(
            f"☝ Measured, not shown yet: record your guess for {name} in its cell above (checks.predict), "
            "then run this cell again."
        )
        return Verdict(False)
    print(text)
    return Verdict(check(_GUESSES[name]))


def forget_guesses() -> None:
    """Clear every recorded guess (a fresh start, as after a kernel restart)."""
    _GUESSES.clear()
