"""Notebook 06's curve-reading checks: a right computation passes, the usual wrong ones fail with a hint."""

import pytest

from course_utils import checks, public

PUBLIC = public.load_public(("plain20", "plain56", "resnet20", "resnet56"))


def right(better, worse, iterations):
    start = None
    for it, a, b in zip(iterations, better, worse, strict=True):
        start = (it if start is None else start) if a < b else None
    return start


def first_below(better, worse, iterations):
    return next((it for it, a, b in zip(iterations, better, worse, strict=True) if a < b), None)


def backwards(better, worse, iterations):  # a second correct way: walk back from the end
    k = len(iterations)
    while k > 0 and better[k - 1] < worse[k - 1]:
        k -= 1
    return None if k == len(iterations) else iterations[k]


def test_a_correct_function_passes_and_names_the_crossing(capsys):
    assert checks.check_first_for_good(right, PUBLIC)
    assert checks.check_first_for_good(backwards, PUBLIC)
    # the public run: ResNet-56's test error below ResNet-20's at every record after the first lr drop
    assert "from iteration 32,453" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, says",
    [
        (first_below, "it must stay below at every later record too"),
        (lambda b, w, its: right([x - 0.001 for x in b], w, its), "equal is not below"),
        (lambda b, w, its: right(b, w, its) or its[0], "never below"),
        (lambda b, w, its: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_wrong_functions_fail_with_the_case_they_got_wrong(wrong, says, capsys):
    assert not checks.check_first_for_good(wrong, PUBLIC)
    assert says in capsys.readouterr().out
    assert not checks.check_first_for_good(None, PUBLIC)


def test_the_plain_gap_is_computed_from_the_curves(capsys):
    i = PUBLIC["plain20"]["history"]["iteration"].index(3128)
    early = PUBLIC["plain56"]["history"]["test_error"][i] - PUBLIC["plain20"]["history"]["test_error"][i]
    final = PUBLIC["plain56"]["history"]["test_error"][-1] - PUBLIC["plain20"]["history"]["test_error"][-1]
    assert round(early, 1) == 40.9 and round(final, 2) == 3.38  # its README: 63.1 vs 22.2, 13.07 vs 9.69
    assert checks.check_plain_gap(early, final, PUBLIC)
    assert "12 times larger early" in capsys.readouterr().out
    assert not checks.check_plain_gap(-early, final, PUBLIC)
    assert "not the other way round" in capsys.readouterr().out
    h20, h56 = PUBLIC["plain20"]["history"], PUBLIC["plain56"]["history"]
    assert not checks.check_plain_gap(h56["test_error"][8] - h20["test_error"][8], final, PUBLIC)  # index 8: 3,519
    assert "not its index" in capsys.readouterr().out
    assert not checks.check_plain_gap(early, None, PUBLIC)


def test_the_training_error_gap_is_its_own_answer(capsys):
    h20, h56 = PUBLIC["plain20"]["history"], PUBLIC["plain56"]["history"]
    i = h20["iteration"].index(3128)
    early = h56["train_error"][i] - h20["train_error"][i]
    final = h56["train_error"][-1] - h20["train_error"][-1]
    assert round(early, 1) == 45.2 and round(final, 2) == 2.59  # the public CSVs: train error, in %
    assert checks.check_plain_gap(early, final, PUBLIC, curve="train_error")
    assert "17 times larger early" in capsys.readouterr().out
    test_gap = h56["test_error"][i] - h20["test_error"][i], h56["test_error"][-1] - h20["test_error"][-1]
    assert not checks.check_plain_gap(*test_gap, PUBLIC, curve="train_error")
    assert "that is the test error" in capsys.readouterr().out
    with pytest.raises(ValueError, match="curve must be"):
        checks.check_plain_gap(early, final, PUBLIC, curve="loss")
