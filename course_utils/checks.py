"""Exercise checkers the notebooks call.

Each ``check_*`` takes a student's answer, prints a confirmation for a right
answer or a helpful hint for a wrong or missing one, and returns ``True`` or
``False``. A wrong answer never raises, so a notebook with unanswered exercises
still runs top to bottom.
"""
from __future__ import annotations

from typing import Any


def report(ok: bool, right: str, wrong: str) -> bool:
    """Print ``right`` (prefixed with a tick) or ``wrong`` (with a hint marker); return ``ok``."""
    print(("✅ Correct: " + right) if ok else ("❌ Not yet: " + wrong))
    return ok


def unanswered(answer: Any) -> bool:
    """True (and a reminder is printed) when the placeholder ``None``/``...`` is still there."""
    if answer is None or answer is Ellipsis:
        print("✏️  Not answered yet: replace the placeholder and run the cell again.")
        return True
    return False


# --- notebooks 01-02 (degradation, residual learning) ---------------------


# --- notebooks 03-04 (shape arithmetic, building blocks) ------------------


# --- notebooks 05-07 (training, Fig. 6, why it works) ---------------------
