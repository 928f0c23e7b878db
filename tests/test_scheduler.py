"""The scheduler: groups in the order of work, a second group only when both fit, a group too big to
bundle only when it can finish, everything paused at the deadline; and the plan that drives the
same code with a fake clock (what one 600 s lease finishes)."""

import pytest
import torch

from course_utils import data as cdata
from course_utils import fig6_set, models, scheduler
from course_utils.budget import Budget
from course_utils.checkpoint import load_checkpoint
from course_utils.fig6_set import RunSpec
from course_utils.schedule import Schedule
from course_utils.train import TrainRun


class Fake:
    """A group of ``steps`` steps of ``cost`` fake seconds each, that logs what the scheduler does."""

    def __init__(self, name, steps, cost, clock, log, fits_bundle=True, start_s=0.0):
        self.name, self.left, self.cost, self.clock, self.log = name, steps, cost, clock, log
        self.fits_bundle, self.start_s = fits_bundle, start_s

    def estimate(self):
        return self.left * self.cost

    def start(self):
        self.log.append(("start", self.name, self.clock()))
        self.clock.advance(self.start_s)  # building, probing: what start_s says it costs

    def step(self):
        self.left -= 1
        self.clock.advance(self.cost)

    def done(self):
        return self.left <= 0

    def finish(self):
        self.log.append(("finish", self.name, self.clock()))

    def pause(self):
        self.log.append(("pause", self.name, self.clock()))


def _fakes(clock, log, *spec):
    return [Fake(n, s, c, clock, log, *rest) for n, s, c, *rest in spec]


def test_without_a_deadline_groups_run_in_order_at_once_at_a_time():
    clock, log = scheduler.FakeClock(), []
    groups = _fakes(clock, log, ("a", 10, 1.0), ("b", 20, 1.0), ("c", 5, 1.0))
    report = scheduler.run_set(groups, at_once=2, clock=clock)
    assert [e[:2] for e in log] == [("start", "a"), ("start", "b"), ("finish", "a"), ("start", "c"),
                                    ("finish", "c"), ("finish", "b")]  # fmt: skip
    assert report.finished == [groups[0], groups[2], groups[1]] and not report.paused


def test_a_second_group_joins_only_when_both_fit_before_the_deadline():
    clock, log = scheduler.FakeClock(), []
    groups = _fakes(clock, log, ("a", 60, 1.0), ("b", 60, 1.0))
    report = scheduler.run_set(groups, at_once=2, deadline=100.0, clock=clock)
    assert log[0] == ("start", "a", 0.0) and log[1] == ("finish", "a", 60.0)  # alone first: it finishes
    assert log[2] == ("start", "b", 60.0) and log[3][:2] == ("pause", "b")  # then b, paused at the deadline
    assert report.finished == [groups[0]] and report.paused == [groups[1]]
    assert 100 - scheduler.END_MARGIN <= log[3][2] <= 100 - scheduler.END_MARGIN + 1  # within one step


def test_a_group_too_big_to_bundle_starts_only_when_it_can_finish():
    clock, log = scheduler.FakeClock(), []
    groups = _fakes(clock, log, ("a", 50, 1.0), ("big", 80, 1.0, False), ("c", 10, 1.0))
    report = scheduler.run_set(groups, at_once=1, deadline=100.0, clock=clock)
    assert [e[:2] for e in log] == [("start", "a"), ("finish", "a"), ("start", "c"), ("finish", "c")]
    assert report.not_started == [groups[1]]  # left for a lease in which it fits


def test_a_group_starts_only_with_time_for_its_start_and_one_checkpoint_interval():
    # a finishes at 80 s of a 100 s budget: 15 s are left (5 s kept for the last checkpoints); b's start alone
    # takes 10 s (a probe), and the least training worth it is one checkpoint interval (30 s): b does not start
    clock, log = scheduler.FakeClock(), []
    groups = _fakes(clock, log, ("a", 80, 1.0), ("b", 100, 1.0, True, 10.0))
    report = scheduler.run_set(groups, deadline=100.0, clock=clock, checkpoint_s=30.0)
    assert [e[:2] for e in log] == [("start", "a"), ("finish", "a")] and report.not_started == [groups[1]]
    # the rule alone: a start needs its own seconds, then all its training or one checkpoint interval of it
    assert scheduler.worth_starting(40.0, 10.0, 100.0, 30.0) and not scheduler.worth_starting(39.9, 10.0, 100.0, 30.0)
    assert scheduler.worth_starting(12.0, 10.0, 2.0, 30.0)  # it finishes before a checkpoint would come: worth it
    assert not scheduler.worth_starting(0.0, 0.0, 0.0, 0.0)  # past the deadline nothing starts


def test_no_group_starts_past_the_deadline():
    # the first group ends at 60..94 s of 100 (5 s kept at the end): a next one whose start takes 4 s (a probe) may
    # start only while its start ends before the margin, and never past the deadline
    for first in (60, 88, 91, 93, 94):
        for at_once, cp in ((1, 0.0), (2, 0.0), (1, 20.0)):
            clock, log = scheduler.FakeClock(), []
            groups = _fakes(clock, log, ("a", first, 1.0), *[(n, 30, 1.0, True, 4.0) for n in "bcd"])
            scheduler.run_set(groups, at_once=at_once, deadline=100.0, clock=clock, checkpoint_s=cp)
            starts = [(t, g.start_s) for what, name, t in log if what == "start" for g in groups if g.name == name]
            assert all(t + s <= 100.0 - scheduler.END_MARGIN for t, s in starts), (first, at_once, cp, log)


def test_stop_pauses_the_active_groups_between_two_steps_and_starts_no_other():
    clock, log = scheduler.FakeClock(), []
    groups = _fakes(clock, log, ("a", 50, 1.0), ("b", 50, 1.0))
    report = scheduler.run_set(groups, clock=clock, stop=lambda: clock() >= 7.0)  # Ctrl-C during step 7
    assert log == [("start", "a", 0.0), ("pause", "a", 7.0)] and groups[0].left == 43
    assert report.paused == [groups[0]] and report.not_started == [groups[1]]


def test_the_plan_finishes_the_four_headline_nets_in_one_600_s_lease():
    groups = fig6_set.work_order([*fig6_set.FIG6_NETS, fig6_set.EXTRA_NET], [0])
    leases = scheduler.plan(groups, 600)
    assert sorted(leases[0]["finished"]) == sorted(f"{n}-s0" for n in fig6_set.FIG6_NETS)
    assert leases[1]["finished"] == ["resnet18_cifar-s0"]  # 85 MB of state cannot come back: next lease
    text = scheduler.plan_text(leases, 600)
    assert "lease 1" in text and "the whole set: 2 lease(s)" in text


def test_the_plan_with_slower_steps_finishes_the_first_pair_and_carries_the_second():
    groups = fig6_set.work_order(fig6_set.FIG6_NETS, [0])
    slow = {"plain56": 0.004, "resnet56": 0.004}
    first, second = scheduler.plan(groups, 600, step_s=slow)
    assert first["finished"] == ["plain20-s0", "resnet20-s0"]
    assert [p.split(" at ")[0] for p in first["paused"]] == ["plain56-s0", "resnet56-s0"]
    assert second["finished"] == ["plain56-s0", "resnet56-s0"]


def test_the_whole_set_needs_several_leases_and_every_run_finishes_once():
    groups = fig6_set.work_order(fig6_set.ALL_NETS, [0, 1, 2])
    leases = scheduler.plan(groups, 600)
    done = [r for lease in leases for r in lease["finished"]]
    assert sorted(done) == sorted(s.stem for g in groups for s in g) and len(leases) > 3


def test_the_plan_refuses_what_it_cannot_simulate():
    groups = [[RunSpec("resnet8", 0, Schedule())]]
    with pytest.raises(ValueError, match="no step time for resnet8"):
        scheduler.plan(groups, 600)
    with pytest.raises(ValueError, match="leaves no time to train"):
        scheduler.plan(fig6_set.work_order(["resnet20"], [0]), 60)


def test_state_bytes_is_the_size_of_a_real_checkpoint(tmp_path):
    run = TrainRun(models.get_model("resnet20"), cdata.synthetic_cifar10(300, 20), Schedule(iterations=2),
                   budget=Budget(test_subset=20), device="cpu", checkpoint=tmp_path / "c.pt")  # fmt: skip
    x, y = next(run.make_loader().batches(1))
    run.advance(run.step, x, y)  # the momentum buffers exist after one step
    run.save()
    size = (tmp_path / "c.pt").stat().st_size
    st = load_checkpoint(tmp_path / "c.pt")
    assert st["iteration"] == 1 and torch.is_tensor(next(iter(st["optimizer"]["state"].values()))["momentum_buffer"])
    assert scheduler.state_bytes("resnet20") <= size <= scheduler.state_bytes("resnet20") + 2**20
    assert scheduler.fits_bundle([RunSpec("resnet110", 0, Schedule())])
    assert not scheduler.fits_bundle([RunSpec("resnet18_cifar", 0, Schedule())])
