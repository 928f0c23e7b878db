"""The multi-net engine on the CPU: nets trained together equal each alone (bit for bit), runs of
other seeds get batches of their own, the time budget stops cleanly and resumes, a failed run
stops alone, and the variants a device allows."""

import math

import pytest
import torch

from course_utils import data as cdata
from course_utils import engine, models, scheduler
from course_utils.budget import Budget
from course_utils.profile import seed_everything
from course_utils.schedule import Schedule
from course_utils.train import TrainRun, train_model

SCHED = Schedule().scaled(6)  # lr drops at 3 and 4: the milestones are inside the test
BUDGET = Budget(eval_every=2, test_subset=40, checkpoint_seconds=None)


@pytest.fixture(scope="module")
def small():
    return cdata.synthetic_cifar10(n_train=400, n_test=60)


def _run(name, data, **kw) -> TrainRun:
    seed_everything(0, deterministic=True)
    return TrainRun(
        models.get_model(name), data, SCHED, name=name, budget=BUDGET, device="cpu", deterministic=True, **kw
    )


def _alone(name, data) -> tuple[dict, dict]:
    seed_everything(0, deterministic=True)
    m = models.get_model(name)
    r = train_model(m, data, SCHED, name=name, budget=BUDGET, device="cpu", deterministic=True, progress=False)
    return r["history"], m.state_dict()


def test_round_robin_is_bit_for_bit_training_each_net_alone(small):
    names = ("plain20", "resnet20")
    alone = {n: _alone(n, small) for n in names}
    runs = [_run(n, small) for n in names]
    left = engine.train_together(runs, "eager", progress=False)
    assert left == []
    for r in runs:
        hist, weights = alone[r.name]
        assert r.history == hist  # the same floats
        assert all(torch.equal(weights[k], v) for k, v in r.model.state_dict().items())


def test_runs_with_other_seeds_get_batches_of_their_own(small):
    seed_everything(1, deterministic=True)
    other = TrainRun(models.get_model("plain20"), small, SCHED, name="plain20", seed=1, budget=BUDGET, device="cpu")
    same = [_run("plain20", small), _run("resnet20", small)]
    feeds = engine._feeds([*same, other])
    assert [len(f.runs) for f in feeds] == [2, 1]
    assert same[0].loader is same[1].loader is not other.loader  # each run saves the position of its feed


def test_a_failed_run_stops_alone_and_the_others_finish(small, tmp_path):
    good, bad = _run("plain20", small, checkpoint=tmp_path / "good.pt"), _run("resnet20", small)
    with torch.no_grad():
        bad.model.conv1.weight.fill_(float("nan"))  # its first loss is NaN
    failed, done = [], []
    group = engine.Group(
        "pair",
        lambda: [good, bad],
        iterations=SCHED.iterations,
        on_done=lambda r, v: done.append((r.name, v)),
        on_failed=lambda r, err: failed.append((r.name, type(err).__name__)),
        progress=False,
    )
    report = scheduler.run_set([group])
    assert report.finished == [group] and group.done()
    assert failed == [("resnet20", "NonFiniteLossError")] and done == [("plain20", "eager")]
    assert good.history == _alone("plain20", small)[0]  # the failure changed nothing for the other run
    assert bad.iteration == 0 and (tmp_path / "good.pt").exists()


def test_time_budget_stops_with_every_run_checkpointed_and_resumes(small, tmp_path, monkeypatch):
    names = ("plain20", "resnet20")
    alone = {n: _alone(n, small) for n in names}
    ck = {n: tmp_path / f"{n}.pt" for n in names}
    clock = iter(float(t) for t in range(100_000))  # each reading of the engine's clock: one second later
    monkeypatch.setattr(engine.time, "perf_counter", lambda: next(clock))
    runs = [_run(n, small, checkpoint=ck[n]) for n in names]
    left = engine.train_together(runs, "eager", deadline=12.0, progress=False)
    assert {r.name for r in left} == set(names)  # stopped early ...
    assert all(0 < r.iteration < SCHED.iterations and r.saved_at == r.iteration for r in runs)  # ... saved
    monkeypatch.undo()
    finished = []
    resumed = [_run(n, small, checkpoint=ck[n]) for n in names]
    assert all(r.iteration == runs[0].iteration for r in resumed)
    assert engine.train_together(resumed, "eager", on_finish=finished.append, progress=False) == []
    assert sorted(r.name for r in finished) == sorted(names)
    for r in resumed:
        assert r.history == alone[r.name][0]  # a paused set ends exactly where an unpaused one does


def test_candidates_per_device(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr("course_utils.cpu.native_bf16", lambda: False)  # with it: test_probe
    assert engine.candidates(cpu) == ("eager",)
    assert engine.candidates(torch.device("cuda"), "auto") == ("graphs", "eager")  # compile only when asked
    assert engine.candidates(torch.device("cuda"), "compile") == ("compile",)
    assert engine.candidates(cpu, "compile") == ("compile",)
    with pytest.raises(ValueError, match="needs CUDA"):
        engine.candidates(cpu, "graphs")
    with pytest.raises(ValueError, match="unknown variant"):
        engine.candidates(cpu, "turbo")


@pytest.mark.gpu
def test_fig6_with_graphs_end_to_end_on_cuda(small, tmp_path):
    from course_utils import experiments, results

    s = experiments.fig6(
        ["plain20", "resnet20"],
        iterations=30,
        eval_every=10,
        profile="smoke",
        device="cuda",
        variant="graphs",
        out=tmp_path,
        data=small,
        progress=False,
    )
    assert s["complete"] and [e["variant"] for e in s["runs"]] == ["graphs", "graphs"]
    assert s["variant_requested"] == "graphs"
    for r in results.load_results(tmp_path).values():
        assert r["history"]["lr"] == pytest.approx([0.1, 0.01, 0.001], rel=1e-12)  # re-captured at each milestone
        assert all(0 <= e <= 100 for e in r["history"]["train_error"])
        assert r["history"]["train_loss"][-1] < r["history"]["train_loss"][0]


@pytest.mark.gpu
def test_groups_make_batches_on_streams_of_their_own_on_cuda(small):
    built = [_run_on(n, small, "cuda") for n in ("plain20", "resnet20")]
    group = engine.Group("pair", lambda: built, iterations=SCHED.iterations, progress=False)
    group.start()
    streams = {group.producer, *group.streams.values()}
    assert len(streams) == 3 and torch.cuda.current_stream() not in streams  # no default stream, no barrier
    while not group.done():
        group.step()
    torch.cuda.synchronize()
    assert [r.iteration for r in built] == [SCHED.iterations] * 2
    assert all(math.isfinite(x) for r in built for x in r.history["train_loss"])


def _run_on(name, data, device) -> TrainRun:
    seed_everything(0)
    return TrainRun(models.get_model(name), data, SCHED, name=name, budget=BUDGET, device=device)
