"""The multi-net engine on the CPU: nets trained together equal each alone (bit for bit), runs of
other seeds get feeds of their own, a failed run stops alone and the others finish, a paused group
saves every run it holds, and the variants a device allows."""

import math

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


def _together(runs, variants=None) -> list:
    """Step a group of ``runs`` until every run has finished or failed; returns what its steps reported ended."""
    group, ended = engine.Group(runs, variants, progress=False), []
    while not group.done():
        ended += group.step()
    group.pause()
    return ended


def _alone(name, data) -> tuple[dict, dict]:
    seed_everything(0, deterministic=True)
    m = models.get_model(name)
    r = train_model(m, data, SCHED, name=name, budget=BUDGET, device="cpu", deterministic=True, progress=False)
    return r["history"], m.state_dict()


@pytest.mark.slow
def test_round_robin_is_bit_for_bit_training_each_net_alone(small):
    names = ("plain20", "resnet20")
    alone = {n: _alone(n, small) for n in names}
    runs = [_run(n, small) for n in names]
    ended = _together(runs)
    assert [(r.name, err) for r, err in ended] == [("plain20", None), ("resnet20", None)]  # each said once, finished
    for r in runs:
        hist, weights = alone[r.name]
        assert r.history == hist  # the same floats
        assert all(torch.equal(weights[k], v) for k, v in r.model.state_dict().items())


def test_runs_with_other_seeds_get_batches_of_their_own(small):
    seed_everything(1, deterministic=True)
    other = TrainRun(models.get_model("plain20"), small, SCHED, name="plain20", seed=1, budget=BUDGET, device="cpu")
    same = [_run("plain20", small), _run("resnet20", small)]
    feeds = engine._feeds([*same, other])
    assert [len(runs) for runs, _ in feeds] == [2, 1]
    assert same[0].loader is same[1].loader is not other.loader  # each run saves the position of its feed


@pytest.mark.slow
def test_a_failed_run_stops_alone_and_the_others_finish(small, tmp_path):
    good, bad = _run("plain20", small, checkpoint=tmp_path / "good.pt"), _run("resnet20", small)
    with torch.no_grad():
        bad.model.conv1.weight.fill_(float("nan"))  # its first loss is NaN
    ended = _together([good, bad])
    assert [(r.name, type(err).__name__) for r, err in ended] == [("resnet20", "NonFiniteLossError"),
                                                                  ("plain20", "NoneType")]  # fmt: skip
    assert good.history == _alone("plain20", small)[0]  # the failure changed nothing for the other run
    assert bad.iteration == 0 and (tmp_path / "good.pt").exists()


@pytest.mark.slow
def test_a_paused_group_saves_every_run_where_it_stands_and_they_resume_bit_for_bit(small, tmp_path):
    names = ("plain20", "resnet20")
    alone = {n: _alone(n, small) for n in names}
    ck = {n: tmp_path / f"{n}.pt" for n in names}
    group = engine.Group([_run(n, small, checkpoint=ck[n]) for n in names], progress=False)
    for _ in range(4):  # past the first lr drop (3), before the second (4 of 6)
        group.step()
    group.pause()
    resumed = [_run(n, small, checkpoint=ck[n]) for n in names]
    assert [r.iteration for r in resumed] == [4, 4]
    _together(resumed)
    for r in resumed:
        assert r.history == alone[r.name][0]  # a paused group ends exactly where an unpaused one does
        assert all(torch.equal(alone[r.name][1][k], v) for k, v in r.model.state_dict().items())


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

    kw = dict(iterations=30, eval_every=10, profile="smoke", device="cuda", data=small, progress=False)
    s = experiments.fig6(["plain20", "resnet20"], variant="graphs", out=tmp_path, **kw)
    assert s["complete"] and [e["variant"] for e in s["runs"]] == ["graphs", "graphs"]
    assert s["variant_requested"] == "graphs"
    experiments.fig6(["plain20", "resnet20"], variant="eager", out=tmp_path / "eager", **kw)  # the same runs, eager
    eager = results.load_results(tmp_path / "eager")
    assert sorted(eager) == ["plain20", "resnet20"]
    for name, r in results.load_results(tmp_path).items():
        assert r["history"]["lr"] == pytest.approx([0.1, 0.01, 0.001], rel=1e-12)  # re-captured at each milestone
        # each record's error over its 10 steps (1,280 images) as eager counts it on the same batches: another bf16
        # rounding flips a few predictions; a replay that drops, doubles or misplaces its count moves tens of points
        assert r["history"]["train_error"] == pytest.approx(eager[name]["history"]["train_error"], abs=5)
        assert r["history"]["train_loss"][-1] < r["history"]["train_loss"][0]


@pytest.mark.gpu
def test_groups_make_batches_on_streams_of_their_own_on_cuda(small):
    built = [_run_on(n, small, "cuda") for n in ("plain20", "resnet20")]
    group = engine.Group(built, progress=False)
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
