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


def stub(better, worse, iterations): ...  # your code


H56, H20 = PUBLIC["resnet56"]["history"], PUBLIC["resnet20"]["history"]
TRAIN_FROM = 29_716  # the public CSVs: ResNet-56's training error below ResNet-20's at every record from epoch 76
LAST_AT_01, FIRST_AT_001 = 32_453, 32_844  # the last record at lr 0.1 (epoch 83), the first at lr 0.01


def test_the_public_curves_part_where_the_notebook_says():
    its = H56["iteration"]
    assert right(H56["train_error"], H20["train_error"], its) == TRAIN_FROM == 76 * 391
    assert right(H56["test_error"], H20["test_error"], its) == LAST_AT_01 == 83 * 391
    k = its.index(LAST_AT_01)
    assert (H56["lr"][k], its[k + 1], H56["lr"][k + 1]) == (0.1, FIRST_AT_001, 0.01)
    assert H20["test_error"][k] - H20["test_error"][k - 1] > 2  # 13.50% -> 15.69%: ResNet-20 jumps up there
    assert H56["train_error"][its.index(TRAIN_FROM) - 1] > H20["train_error"][its.index(TRAIN_FROM) - 1]


def test_a_correct_function_passes_and_names_the_crossing(capsys):
    assert checks.check_first_for_good(right, PUBLIC)
    assert checks.check_first_for_good(backwards, PUBLIC)
    # the public run: ResNet-56's test error below ResNet-20's at every record from the last one at lr 0.1
    assert "from iteration 32,453" in capsys.readouterr().out


def test_the_placeholder_is_not_answered_yet(capsys):
    for placeholder in (None, ..., stub):
        assert not checks.check_first_for_good(placeholder, PUBLIC)
        out = capsys.readouterr().out
        assert "Not answered yet" in out and "Not yet:" not in out and out.count("\n") == 1


def test_a_public_case_gets_wrong_without_giving_its_answer_away(capsys):
    def right_on_short_curves(better, worse, iterations):  # passes the made-up cases, not the public ones
        return right(better, worse, iterations) if len(iterations) < 10 else iterations[-1]

    assert not checks.check_first_for_good(right_on_short_curves, PUBLIC)
    out = capsys.readouterr().out
    assert "compare it with the curves" in out
    assert "29716" not in out and "29,716" not in out


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


def test_a_missing_gap_is_said_once(capsys):
    for early, final in ((None, None), (None, 3.4), (40.9, ...)):
        assert not checks.check_plain_gap(early, final, PUBLIC, curve="train_error")
        out = capsys.readouterr().out
        assert out.count("Not answered yet") == 1 and out.count("\n") == 1, out
    assert not checks.check_plain_gap("forty", None, PUBLIC)
    assert capsys.readouterr().out.count("\n") == 1
    assert not checks.check_plain_gap("forty", "three", PUBLIC)
    assert capsys.readouterr().out.count("number") == 1


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


def test_the_crossing_prediction_is_judged_against_the_curves(capsys):
    assert checks.check_crossing_prediction(TRAIN_FROM, right, PUBLIC)
    out = capsys.readouterr().out
    assert "29,716" in out and "2,737 iterations before the last record at lr 0.1 (32,453)" in out
    assert checks.check_crossing_prediction(31_000, backwards, PUBLIC)  # within 2,000
    assert checks.check_crossing_prediction(27_800, right, PUBLIC)
    assert not checks.check_crossing_prediction(TRAIN_FROM + 2_001, right, PUBLIC)
    assert not checks.check_crossing_prediction(20_000, right, PUBLIC)
    assert "9,716 iterations too early" in capsys.readouterr().out


@pytest.mark.parametrize(
    "guess, says",
    [
        (LAST_AT_01, "about where the test error parts"),  # the record section 6 printed
        (FIRST_AT_001, "about where the test error parts"),
        (32_000, "about where the test error parts"),  # the paper's first lr drop
        (first_below(H56["train_error"], H20["train_error"], H56["iteration"]), "the first record where it is below"),
        (50_000, "too late"),
    ],
)
def test_crossing_slips_give_their_hints(guess, says, capsys):
    assert not checks.check_crossing_prediction(guess, right, PUBLIC)
    assert says in capsys.readouterr().out


def test_the_crossing_waits_for_a_working_function(capsys):
    for fn, says in ((stub, "returned None"), (first_below, "returned 3910"), (lambda b, w, i: 1 / 0, "raised Zero")):
        assert not checks.check_crossing_prediction(TRAIN_FROM, fn, PUBLIC)
        out = capsys.readouterr().out
        assert says in out and "make exercise 1's check pass first" in out
    assert not checks.check_crossing_prediction(None, right, PUBLIC)
    assert "Not answered yet" in capsys.readouterr().out
    with pytest.raises(ValueError, match="curve must be"):
        checks.check_crossing_prediction(TRAIN_FROM, right, PUBLIC, curve="loss")


def test_the_prediction_is_shown_only_after_the_guess(capsys):
    checks.forget_guesses()
    assert not checks.reveal("crossing", "MEASURED", lambda g: checks.check_crossing_prediction(g, right, PUBLIC))
    out = capsys.readouterr().out
    assert "MEASURED" not in out and "29,716" not in out and "record your guess" in out
    assert checks.predict("crossing", 30_000)
    assert checks.reveal("crossing", "MEASURED", lambda g: checks.check_crossing_prediction(g, right, PUBLIC))
    assert "MEASURED" in capsys.readouterr().out
    checks.forget_guesses()
