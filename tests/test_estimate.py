"""The estimate of a set's time: evaluation passes counted as the training loop makes them, runs side by side in
processes or one after the other on a shared device, what a hard kill loses, and the words that say so."""

import math

import pytest

from course_utils import data as cdata
from course_utils import estimate, models
from course_utils.budget import Budget
from course_utils.schedule import Schedule
from course_utils.train import TrainRun


def _records_of_the_loop(done, iterations, eval_every):
    """The records ``TrainRun.advance`` makes after iteration ``done``: at each multiple of eval_every, and the last."""
    return sum(1 for it in range(done + 1, iterations + 1) if it % eval_every == 0 or it == iterations)


def test_evaluation_passes_left_are_the_records_the_training_loop_makes():
    for iterations in (1, 7, 30, 35, 64_000):
        for eval_every in {1, 3, 10, 391, iterations}:
            for done in {0, 1, 14, iterations // 2, iterations - 1, iterations}:
                want = _records_of_the_loop(done, iterations, eval_every)
                assert estimate.records_left(done, iterations, eval_every) == want, (done, iterations, eval_every)


def test_a_resumed_run_counts_only_what_remains(one_thread):
    run = TrainRun(models.get_model("resnet20"), cdata.synthetic_cifar10(300, 20), Schedule(iterations=7),
                   budget=Budget(eval_every=3, test_subset=20), device="cpu")  # fmt: skip
    loader = run.make_loader()
    for x, y in loader.batches(4):
        run.advance(run.step, x, y)
    done, records_before = run.iteration, len(run.history["iteration"])
    for x, y in loader.batches(run.remaining):
        run.advance(run.step, x, y)
    assert estimate.records_left(done, 7, 3) == len(run.history["iteration"]) - records_before
    assert records_before == 1 and run.history["iteration"] == [3, 6, 7]
    assert estimate.run_seconds(done, 7, 3, step_s=0.25, eval_s=2.0) == 3 * 0.25 + 2 * 2.0  # 3 steps, 2 records


def test_runs_side_by_side_take_as_long_as_the_busiest_process():
    assert estimate.lanes_seconds([10, 10, 5, 5], 2) == 15  # 10+5 on each of two processes
    assert estimate.lanes_seconds([10, 2, 2, 2, 2], 2) == 10  # the short ones all go to the free process
    assert estimate.lanes_seconds([3, 4, 5], 1) == 12 and estimate.lanes_seconds([3, 4, 5], 8) == 5
    a = estimate.run_seconds(0, 100, 50, step_s=0.1, eval_s=1.0)  # 10 s of steps + 2 passes = 12 s
    b = estimate.run_seconds(50, 100, 50, step_s=0.3, eval_s=2.0)  # 15 s of steps + 1 pass = 17 s
    assert (a, b) == (pytest.approx(12.0), pytest.approx(17.0))
    assert estimate.lanes_seconds([1.0 + a, 2.0 + b], 2) == pytest.approx(19.0)  # each with its start


def test_what_a_hard_kill_loses_is_one_checkpoint_interval():
    assert estimate.checkpoint_interval(60.0, None, 0.5) == 60.5  # the checkpoint comes at the step after 60 s
    assert estimate.checkpoint_interval(60.0, 5, 0.5) == 2.5 and estimate.checkpoint_interval(None, None, 1) == math.inf
    text = estimate.checkpoint_text(60.0, None, 0.5)
    assert "Ctrl-C" in text and "same command" in text and "at most the last 60 s" in text
    assert "at most the last 5 iterations" in estimate.checkpoint_text(60.0, 5, 0.5)


def test_the_estimate_says_where_the_time_limit_cuts_the_set_short():
    nets = ({"resnet20": 0.02}, {"resnet20": 0.5}, {"resnet20": "probe"})
    assert estimate.about(30) == "about 0.5 minutes (30 s)" and estimate.about(3000) == "about 50 minutes"
    text = estimate.estimate_text(3000.0, *nets, None, "the device shared")
    assert text.startswith("fig6: estimate: about 50 minutes on this machine") and "resnet20 20 ms/step (probe)" in text
    assert "time limit" not in text
    assert "stops this call after about 10 minutes" in estimate.estimate_text(3000.0, *nets, 600.0, "the device shared")
