"""course_utils.checks._reveal: a solution's output folded away, a measurement withheld until a guess."""

from __future__ import annotations

import pytest

from course_utils import checks
from course_utils.checks import _reveal


@pytest.fixture(autouse=True)
def _fresh_guesses():
    checks.forget_guesses()
    yield
    checks.forget_guesses()


def test_a_solution_prints_nothing_in_plain_view(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    shown = []
    real = _reveal.display
    _reveal.display = shown.append
    try:
        with checks.solution():
            print("the answer is 230,144")
            checks.check_lr_function(None)
    finally:
        _reveal.display = real
    assert capsys.readouterr().out == ""  # nothing on stdout: the cell's visible output is the fold only
    (folded,) = shown
    # JupyterLab renders the HTML: a closed <details> block holding the escaped text
    fmt, _ = InteractiveShell.instance().display_formatter.format(folded)
    html = fmt["text/html"]
    assert html.startswith("<details><summary>") and "<details open" not in html
    assert "230,144" in html.split("</summary>", 1)[1] and "230,144" not in html.split("</summary>", 1)[0]
    assert "Not answered yet" in html
    assert "230,144" not in fmt["text/plain"]  # the plain-text view (nbval, a console) shows a summary only


def test_a_failing_solution_shows_what_it_printed_and_the_error(capsys):
    with pytest.raises(AssertionError):
        with checks.solution():
            print("partial work")
            assert False, "the solution is wrong"
    assert "partial work" in capsys.readouterr().out


def test_html_in_the_output_is_escaped():
    assert "<script>" not in _reveal.Folded("<script>alert(1)</script>")._repr_html_()


def test_reveal_withholds_the_measurement_until_a_guess_is_recorded(capsys):
    seen = []

    def check(guess: float) -> checks.Verdict:
        seen.append(guess)
        return checks.report(abs(guess - 42) < 5, "close", "far")

    assert not checks.reveal("the answer", "measured: 42", check)
    out = capsys.readouterr().out
    assert "42" not in out and "guess" in out and seen == []  # neither the value nor the check
    assert not checks.predict("the answer", None)  # the placeholder records nothing
    assert "Not answered yet" in capsys.readouterr().out
    assert not checks.reveal("the answer", "measured: 42", check)
    assert "42" not in capsys.readouterr().out
    assert not checks.predict("the answer", "forty")  # not a number: a hint, nothing recorded
    assert not checks.reveal("the answer", "measured: 42", check) and seen == []
    capsys.readouterr()
    assert checks.predict("the answer", 40)
    assert checks.reveal("the answer", "measured: 42", check)
    out = capsys.readouterr().out
    assert "measured: 42" in out and "Correct" in out and seen == [40.0]
    assert checks.predict("the answer", 100) and not checks.reveal("the answer", "measured: 42", check)
    assert seen == [40.0, 100.0]  # the newest guess counts
    checks.predict("the answer", None)  # taking the guess back hides the measurement again
    capsys.readouterr()
    assert not checks.reveal("the answer", "measured: 42", check) and "42" not in capsys.readouterr().out


def test_what_the_checks_print_shows_in_any_font(capsys):
    # the markers of a verdict are read in whatever font the student's browser has: characters outside the basic
    # multilingual plane (emoji such as a lock) show as empty boxes where no emoji font is installed
    checks.predict("the answer", None)
    checks.reveal("the answer", "measured: 42", lambda guess: True)
    checks.predict("the answer", 40)
    checks.reveal("the answer", "measured: 42", lambda guess: True)
    checks.report(True, "right", "")
    checks.report(False, "", "a hint")
    printed = capsys.readouterr().out
    assert printed and all(ord(c) < 0x10000 for c in printed), sorted({c for c in printed if ord(c) >= 0x10000})
