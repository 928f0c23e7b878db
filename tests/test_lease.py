"""Planning leases of a lent GPU: the plan's arithmetic against step times it is given, every run finished exactly
once, a run whose state could not come back waits for a lease it can finish in, and the state sizes it reasons with
against a real checkpoint."""

import pytest
import torch

from course_utils import data as cdata
from course_utils import fig6_set, models
from course_utils.budget import Budget
from course_utils.checkpoint import load_checkpoint
from course_utils.experiments import lease
from course_utils.fig6_set import RunSpec
from course_utils.schedule import Schedule
from course_utils.train import TrainRun

COSTS = lease.LeaseCosts()
TRAIN_S = 600 - COSTS.tests - COSTS.setup - COSTS.end  # seconds of a 600 s lease left for training: 515
MS = {n: 0.001 for n in fig6_set.ALL_NETS}  # 1 ms a step: 64 s a net over the whole schedule


def _starts(nets: int, runs: int) -> float:
    return nets * COSTS.probe_per_net + runs * COSTS.start_per_run


def test_a_lease_finishes_what_its_seconds_pay_for_two_groups_at_a_time():
    groups = fig6_set.work_order([*fig6_set.FIG6_NETS, fig6_set.EXTRA_NET], [0])
    (only,) = lease.plan(groups, 600, step_s=MS)  # 5 nets x 64 s + starts + 2 captures each: well inside 515 s
    assert sorted(only["finished"]) == sorted(s.stem for g in groups for s in g) and only["paused"] == []
    want = 5 * 64.0 + _starts(5, 5) + 5 * 2 * COSTS.capture  # every step, start and re-capture, nothing else
    assert only["train_seconds"][0] == pytest.approx(want, abs=0.01)


def test_what_does_not_fit_is_paused_and_carried_into_the_next_lease():
    groups = fig6_set.work_order(fig6_set.FIG6_NETS, [0])
    slow = MS | {"plain56": 0.004, "resnet56": 0.004}  # the 56-layer pair: 2 x 256 s, more than the lease has left
    first, second = lease.plan(groups, 600, step_s=slow)
    assert first["finished"] == ["plain20-s0", "resnet20-s0"]
    paused = {p.split(" at ")[0]: int(p.split(" at ")[1].replace(",", "")) for p in first["paused"]}
    assert list(paused) == ["plain56-s0", "resnet56-s0"] and len(set(paused.values())) == 1
    assert first["train_seconds"][0] <= TRAIN_S  # it stopped before the lease's end
    done = paused["plain56-s0"]
    assert 0 < done < 64_000 and second["finished"] == ["plain56-s0", "resnet56-s0"]
    captures = sum(m > done for m in (32_000, 48_000))  # re-captures still ahead of the carried runs
    want = 2 * (64_000 - done) * 0.004 + _starts(0, 2) + 2 * captures * COSTS.capture  # probed in lease 1 already
    assert second["train_seconds"][0] == pytest.approx(want, abs=0.01)


def test_the_whole_set_finishes_every_run_exactly_once():
    groups = fig6_set.work_order(fig6_set.ALL_NETS, [0, 1, 2])
    leases = lease.plan(groups, 600)
    done = [r for one in leases for r in one["finished"]]
    assert sorted(done) == sorted(s.stem for g in groups for s in g) and len(leases) > 3
    text = lease.plan_text(leases, 600)
    assert "lease 1" in text and f"the whole set: {len(leases)} lease(s)" in text


def test_a_run_whose_state_cannot_come_back_waits_for_a_lease_it_can_finish_in():
    groups = fig6_set.work_order(["plain20", "resnet20", fig6_set.EXTRA_NET], [0])
    slow = MS | {fig6_set.EXTRA_NET: 0.0075}  # 480 s: it fits a lease alone, not after the pair (128 s)
    first, second = lease.plan(groups, 600, step_s=slow, at_once=1)
    assert first == {"finished": ["plain20-s0", "resnet20-s0"], "paused": [],
                     "train_seconds": [pytest.approx(128 + _starts(2, 2) + 4 * COSTS.capture, abs=0.01)]}  # fmt: skip
    assert second["finished"] == ["resnet18_cifar-s0"]  # never started half way, its 85 MB state left behind
    with pytest.raises(ValueError, match="makes no progress"):
        lease.plan(groups, 600, step_s=MS | {fig6_set.EXTRA_NET: 0.01})  # 640 s: no lease can finish it


def test_the_plan_refuses_what_it_cannot_simulate():
    with pytest.raises(ValueError, match="no step time for resnet8"):
        lease.plan([[RunSpec("resnet8", 0, Schedule())]], 600)
    with pytest.raises(ValueError, match="leaves no time to train"):
        lease.plan(fig6_set.work_order(["resnet20"], [0]), 60)


def test_state_bytes_is_the_size_of_a_real_checkpoint(tmp_path):
    run = TrainRun(models.get_model("resnet20"), cdata.synthetic_cifar10(300, 20), Schedule(iterations=2),
                   budget=Budget(test_subset=20), device="cpu", checkpoint=tmp_path / "c.pt")  # fmt: skip
    run.feed()
    x, y = next(run.loader.batches(1))
    run.advance(run.step, x, y)  # the momentum buffers exist after one step
    run.save()
    size = (tmp_path / "c.pt").stat().st_size
    st = load_checkpoint(tmp_path / "c.pt")
    assert st["iteration"] == 1 and torch.is_tensor(next(iter(st["optimizer"]["state"].values()))["momentum_buffer"])
    assert lease.state_bytes("resnet20") <= size <= lease.state_bytes("resnet20") + 2**20
    assert lease.fits_bundle([RunSpec("resnet110", 0, Schedule())])
    assert not lease.fits_bundle([RunSpec("resnet18_cifar", 0, Schedule())])
