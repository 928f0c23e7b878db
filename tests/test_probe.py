"""The probe behind --engine auto: correctness against eager, speed, and the choice."""

import pytest
import torch

from course_utils import data as cdata
from course_utils import engine, models, probe
from course_utils.budget import Budget
from course_utils.profile import seed_everything
from course_utils.schedule import Schedule
from course_utils.train import TrainRun

SCHED = Schedule().scaled(6)
BUDGET = Budget(eval_every=2, test_subset=40, checkpoint_seconds=None)


@pytest.fixture(scope="module")
def small():
    return cdata.synthetic_cifar10(n_train=400, n_test=60)


def _run(name, data) -> TrainRun:
    seed_everything(0, deterministic=True)
    return TrainRun(models.get_model(name), data, SCHED, name=name, budget=BUDGET, device="cpu", deterministic=True)


def test_probe_checks_agreement_and_leaves_the_run_untouched(small):
    run = _run("plain20", small)
    before = {k: v.clone() for k, v in run.model.state_dict().items()}
    rows = probe.probe([run], ["eager"], seconds=0.2)
    assert len(rows) == 1 and rows[0].ok and rows[0].steps_per_s > 0
    assert rows[0].first_loss == rows[0].eager_loss  # eager against eager: the same float
    assert all(torch.equal(before[k], v) for k, v in run.model.state_dict().items()) and run.iteration == 0
    table = probe.probe_table(rows, {"plain20": 64_000})
    assert "plain20" in table and "eager" in table and "min" in table


def test_a_failing_variant_is_reported_and_passed_over(small, monkeypatch):
    real = engine.make_step

    def broken(run, variant, example=None):
        if variant == "compile":
            raise RuntimeError("no C compiler")
        return real(run, variant, example)

    monkeypatch.setattr(engine, "make_step", broken)
    rows = probe.probe([_run("plain20", small)], ["compile", "eager"], seconds=0.1)
    assert [(r.variant, r.ok) for r in rows] == [("compile", False), ("eager", True)]
    assert "no C compiler" in rows[0].note
    assert probe.pick(rows) == {"plain20": "eager"}


def test_pick_takes_the_fastest_correct_variant():
    rows = [
        probe.ProbeRow("a", "graphs", 900.0, ok=False),
        probe.ProbeRow("a", "compile", 300.0, ok=True),
        probe.ProbeRow("a", "eager", 100.0, ok=True),
        probe.ProbeRow("b", "eager", 50.0, ok=True),
    ]
    assert probe.pick(rows) == {"a": "compile", "b": "eager"}


def test_compile_is_only_tried_when_graphs_fail(small, monkeypatch):
    tried = []

    def fake_probe_one(run, variant, batches, seconds, eager_loss):
        tried.append(variant)
        ok = variant != "graphs" or run.name == "resnet20"  # graphs work for resnet20 only
        return probe.ProbeRow(run.name, variant, 10.0, eager_loss, eager_loss, ok=ok)

    monkeypatch.setattr(probe, "_probe_one", fake_probe_one)
    rows = probe.probe([_run("plain20", small), _run("resnet20", small)], ["graphs", "compile", "eager"])
    assert tried == ["graphs", "compile", "eager", "graphs", "eager"]
    skipped = [r for r in rows if r.note == "not tried: graphs work"]
    assert [(r.name, r.variant, r.ok) for r in skipped] == [("resnet20", "compile", False)]
