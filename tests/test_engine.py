"""The multi-net engine on the CPU: round-robin equals alone (bit for bit), warm-up leaves no trace,
the time budget stops cleanly and resumes, the probe and the variant choice."""

import pytest
import torch

from course_utils import data as cdata
from course_utils import engine, models
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
    assert len(engine.group_runs(runs)) == 1  # same seed, same images: one shared batch stream
    left = engine.train_together(runs, "eager", progress=False)
    assert left == []
    for r in runs:
        hist, weights = alone[r.name]
        assert r.history == hist  # the same floats
        assert all(torch.equal(weights[k], v) for k, v in r.model.state_dict().items())


def test_runs_with_other_seeds_get_their_own_stream(small):
    seed_everything(1, deterministic=True)
    other = TrainRun(models.get_model("plain20"), small, SCHED, name="plain20", seed=1, budget=BUDGET, device="cpu")
    groups = engine.group_runs([_run("plain20", small), other])
    assert [len(g.runs) for g in groups] == [1, 1]


def test_warm_up_leaves_no_trace(small):
    # what a CUDA-graph capture does first: eager steps on a side stream, then everything put back
    a, b = _run("resnet20", small), _run("resnet20", small)
    x, y = next(a.make_loader().batches(1))
    bn_before = b.model.bn1.running_mean.clone() if hasattr(b.model, "bn1") else None
    engine.warm_up(b, x, y, steps=3)
    assert b.opt.state  # the momentum buffers now exist ...
    if bn_before is not None:
        assert torch.equal(b.model.bn1.running_mean, bn_before)  # ... the BN statistics are untouched
    for run in (a, b):
        run.set_lr()
        run.eager_step(x, y)
    assert all(
        torch.equal(u, v) for u, v in zip(a.model.state_dict().values(), b.model.state_dict().values(), strict=True)
    )
    assert torch.equal(a.loss_sum, b.loss_sum) and torch.equal(a.wrong, b.wrong)


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


def test_candidates_per_device():
    cpu = torch.device("cpu")
    assert engine.candidates(cpu) == ("eager",)
    assert engine.candidates(torch.device("cuda"), "auto") == ("graphs", "compile", "eager")
    assert engine.candidates(cpu, "compile") == ("compile",)
    with pytest.raises(ValueError, match="needs CUDA"):
        engine.candidates(cpu, "graphs")
    with pytest.raises(ValueError, match="unknown engine"):
        engine.candidates(cpu, "turbo")


@pytest.mark.gpu
def test_graph_step_matches_eager_on_cuda(small):
    runs = {}
    for v in ("eager", "graphs"):
        seed_everything(0)
        runs[v] = TrainRun(models.get_model("resnet20"), small, SCHED, name="resnet20", budget=BUDGET, device="cuda")
    loader = runs["eager"].make_loader()
    x, y = next(loader.batches(1))
    steps = {v: engine.make_step(r, v, (x, y)) for v, r in runs.items()}
    for _ in range(4):
        for v, r in runs.items():
            r.set_lr()
            steps[v](x, y)
    torch.cuda.synchronize()
    assert abs(runs["graphs"].loss_sum.item() - runs["eager"].loss_sum.item()) < 0.1


@pytest.mark.gpu
def test_fig6_with_graphs_end_to_end_on_cuda(small, tmp_path):
    from course_utils import experiments, results

    s = experiments.fig6(
        ["plain20", "resnet20"],
        iterations=30,
        eval_every=10,
        profile="smoke",
        device="cuda",
        engine_name="graphs",
        out=tmp_path,
        data=small,
        progress=False,
    )
    assert s["complete"] and [e["engine"] for e in s["runs"]] == ["graphs", "graphs"]
    for r in results.load_results(tmp_path).values():
        assert r["history"]["lr"] == pytest.approx([0.1, 0.01, 0.001], rel=1e-12)  # re-captured at each milestone
        assert all(0 <= e <= 100 for e in r["history"]["train_error"])
        assert r["history"]["train_loss"][-1] < r["history"]["train_loss"][0]
