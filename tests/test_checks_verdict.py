"""course_utils.checks._verdict: the verdict line, the placeholder test, numbers, the slip lookup."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_utils import checks
from course_utils.checks import _verdict


def test_report_prints_the_verdict_and_returns_ok(capsys):
    assert _verdict.report(True, "right text", "wrong text")
    out = capsys.readouterr().out
    assert out.startswith("✅ Correct: right text") and "wrong text" not in out
    assert not _verdict.report(False, "right text", "wrong text")
    out = capsys.readouterr().out
    assert out.startswith("❌ Not yet: wrong text") and "right text" not in out


def test_a_verdict_is_truthy_and_shows_nothing_in_a_notebook():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    right, wrong = _verdict.Verdict(True), _verdict.Verdict(0)
    assert right and not wrong and right == True and wrong == False and right != wrong  # noqa: E712
    assert sum([right, wrong, right]) == 2 and int(right) == 1
    for v in (right, wrong):  # IPython hands display to _ipython_display_: no "True"/"False" echo
        assert shell.display_formatter.format(v) == ({}, {})
    assert checks.check_lr_function(None) == False and isinstance(checks.check_lr_function(None), _verdict.Verdict)  # noqa: E712


@pytest.mark.parametrize("placeholder", [None, ...])
def test_unanswered_placeholders(placeholder, capsys):
    assert _verdict.unanswered(placeholder)
    assert "Not answered yet" in capsys.readouterr().out


@pytest.mark.parametrize("answer", [0, 0.0, "", [], False, "None"])
def test_falsy_answers_are_answers(answer, capsys):
    assert not _verdict.unanswered(answer)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "answer,value",
    [
        (3, 3.0),
        ("2.5", 2.5),
        (np.float32(0.25), 0.25),
        (torch.tensor(7), 7.0),
        (math.inf, math.inf),
        ("-inf", -math.inf),
    ],
)
def test_as_number_accepts_numbers(answer, value, capsys):
    assert _verdict.as_number(answer) == value
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "answer,text", [("many", "'many'"), ([1, 2], "[1, 2]"), (math.nan, "NaN"), ("nan", "NaN"), (None, "None")]
)
def test_as_number_rejects_non_numbers_with_a_hint(answer, text, capsys):
    assert _verdict.as_number(answer) is None
    out = capsys.readouterr().out
    assert out.startswith("❌ Not yet: answer with a number") and text in out


def test_numeric_is_unanswered_then_as_number(capsys):
    assert _verdict.numeric(None) is None
    assert "Not answered yet" in capsys.readouterr().out
    assert _verdict.numeric("x") is None
    assert "answer with a number" in capsys.readouterr().out
    assert _verdict.numeric("4") == 4.0


def test_first_slip_names_the_first_matching_slip():
    slips = [(3, "first"), (4, "second"), (4, "shadowed")]
    assert _verdict.first_slip(4, 10, slips, "fallback") == "second"
    assert _verdict.first_slip(3, 10, slips, "fallback") == "first"
    assert _verdict.first_slip(5, 10, slips, "fallback") == "fallback"
    # a slip that happens to give the truth never names a right answer's mistake
    assert _verdict.first_slip(3, 3, slips, "fallback") == "fallback"


def test_helpers_are_reexported():
    for name in ("report", "unanswered", "as_number", "numeric"):
        assert getattr(checks, name) is getattr(_verdict, name)
