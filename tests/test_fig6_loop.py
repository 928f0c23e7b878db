"""fig6's loop (``figure6.train``) with groups that only move a fake clock: units start in the order of work, a
second one joins only when both fit before the time limit, none starts without time for its start and some useful
training, on a GPU a unit whose state could not come back starts only when it can finish, Ctrl-C pauses between two
steps, and every run is saved the moment it finishes."""

from types import SimpleNamespace

import pytest

from course_utils import estimate
from course_utils.budget import Budget
from course_utils.experiments import figure6, runset
from course_utils.experiments.runset import RunSet
from course_utils.fig6_set import RunSpec
from course_utils.profile import get_profile
from course_utils.schedule import Schedule


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeRun:
    def __init__(self, spec: RunSpec) -> None:
        self.name, self.seed, self.iteration, self.iterations = spec.model, spec.seed, 0, spec.schedule.iterations

    @property
    def remaining(self) -> int:
        return self.iterations - self.iteration

    @property
    def done(self) -> bool:
        return self.remaining <= 0


def _world(monkeypatch, steps: dict[str, int], cost: float = 1.0, start: dict[str, float] | None = None,
           cuda: bool = False):  # fmt: skip
    """A RunSet of one-run units named by ``steps`` (net -> steps), each step ``cost`` fake seconds; the loop's clock
    and groups replaced by fakes; returns the set and the log of what the loop did (start, finish, pause)."""
    clock, log = Clock(), []

    class Group:  # engine.Group as the loop sees it: steps move the clock, the device shared (costs add up)
        def __init__(self, runs, variants=None, progress=True):
            self.runs = runs
            log.append(("start", runs[0].name, clock.now))

        def live(self):
            return [r for r in self.runs if not r.done]

        def seconds_left(self, step_s):
            return sum(r.remaining * step_s[r.name] for r in self.live())

        def step(self):
            ended = []
            for r in self.live():
                r.iteration += 1
                clock.now += cost
                if r.done:
                    ended.append((r, None))  # finished in this step: the loop saves it at once
            return ended

        def done(self):
            return not self.live()

        def pause(self):
            log.append(("pause", self.runs[0].name, clock.now))

    monkeypatch.setattr(figure6, "time", SimpleNamespace(perf_counter=clock))
    monkeypatch.setattr(figure6.engine, "Group", Group)
    monkeypatch.setattr(figure6.engine, "sync", lambda device: None)
    monkeypatch.setattr(runset, "build", lambda rs, unit, data: [FakeRun(s) for s in unit])
    monkeypatch.setattr(runset, "choose", lambda rs, runs: {})
    monkeypatch.setattr(runset, "finish", lambda rs, run, status: log.append(("finish", run.name, clock.now)) or {})
    prof = get_profile("smoke", "cpu")
    units = tuple((RunSpec(n, 0, Schedule(iterations=k)),) for n, k in steps.items())
    rs = RunSet(prof.with_device("cuda") if cuda else prof, Budget(eval_every=10_000), None, None, units=units)
    rs.step_s = {n: cost for n in steps}
    rs.left_s = {f"{n}-s0": k * cost for n, k in steps.items()}
    rs.start_s = {f"{n}-s0": (start or {}).get(n, 0.0) for n in steps}
    rs.interval_s = 0.0  # no checkpoint interval asked for: any training is worth a start
    return rs, log, clock


def test_without_a_time_limit_units_run_in_order_lanes_at_a_time(monkeypatch):
    rs, log, _ = _world(monkeypatch, {"a": 10, "b": 20, "c": 5})
    rs.lanes = 2
    entries, left = figure6.train(rs, rs.units, None, None, lambda: False)
    assert [e[:2] for e in log] == [("start", "a"), ("start", "b"), ("finish", "a"), ("start", "c"),
                                    ("finish", "c"), ("finish", "b")]  # fmt: skip
    assert left == [] and len(entries) == 3  # each saved the moment it finished


def test_a_second_unit_joins_only_when_both_fit_before_the_time_limit(monkeypatch):
    rs, log, _ = _world(monkeypatch, {"a": 30, "b": 30})  # each alone: 30 s; together: 60 s of a 50 s limit
    rs.lanes = 2
    _, left = figure6.train(rs, rs.units, None, 50.0, lambda: False)
    assert log[:3] == [("start", "a", 0.0), ("finish", "a", 30.0), ("start", "b", 30.0)]  # alone first: it finishes
    assert log[3][:2] == ("pause", "b") and 50 - estimate.END_MARGIN <= log[3][2] <= 50 - estimate.END_MARGIN + 1
    assert left == ["b-s0"]  # paused, its state saved; the same command resumes it


def test_a_unit_starts_only_with_time_for_its_start_and_one_checkpoint_interval(monkeypatch):
    # a finishes at 80 s of a 100 s limit: 15 s are left (5 s kept for the last checkpoints); b's start alone
    # takes 10 s (a probe), and the least training worth it is one checkpoint interval (30 s): b does not start
    rs, log, _ = _world(monkeypatch, {"a": 80, "b": 100}, start={"b": 10.0})
    rs.interval_s = 30.0
    _, left = figure6.train(rs, rs.units, None, 100.0, lambda: False)
    assert [e[:2] for e in log] == [("start", "a"), ("finish", "a")] and left == ["b-s0"]
    # the rule alone: a start needs its own seconds, then all its training or one checkpoint interval of it
    assert estimate.worth_starting(40.0, 10.0, 100.0, 30.0) and not estimate.worth_starting(39.9, 10.0, 100.0, 30.0)
    assert estimate.worth_starting(12.0, 10.0, 2.0, 30.0)  # it finishes before a checkpoint would come: worth it
    assert not estimate.worth_starting(0.0, 0.0, 0.0, 0.0)  # past the time limit nothing starts


@pytest.mark.parametrize("first", [60, 88, 91, 93, 94])
def test_no_unit_starts_past_the_time_limit(monkeypatch, first):
    # the first unit ends at 60..94 s of 100 (5 s kept at the end): a next one whose start takes 4 s (a probe) may
    # start only while its start ends before the margin, and never past the time limit
    for lanes, interval in ((1, 0.0), (2, 0.0), (1, 20.0)):
        rs, log, _ = _world(monkeypatch, {"a": first, "b": 30, "c": 30, "d": 30}, start={n: 4.0 for n in "bcd"})
        rs.lanes, rs.interval_s = lanes, interval
        figure6.train(rs, rs.units, None, 100.0, lambda: False)
        starts = [t + (4.0 if name != "a" else 0.0) for what, name, t in log if what == "start"]
        assert all(t <= 100.0 - estimate.END_MARGIN for t in starts), (lanes, interval, log)


def test_on_a_gpu_a_unit_whose_state_could_not_come_back_starts_only_when_it_can_finish(monkeypatch):
    rs, log, _ = _world(monkeypatch, {"a": 50, "big": 80, "c": 10}, cuda=True)
    monkeypatch.setattr(figure6, "fits_bundle", lambda unit: unit[0].model != "big")
    _, left = figure6.train(rs, rs.units, None, 100.0, lambda: False)
    assert [e[:2] for e in log] == [("start", "a"), ("finish", "a"), ("start", "c"), ("finish", "c")]
    assert left == ["big-s0"]  # left for a stretch in which it fits


def test_ctrl_c_pauses_the_active_units_between_two_steps_and_starts_no_other(monkeypatch):
    rs, log, clock = _world(monkeypatch, {"a": 50, "b": 50})
    _, left = figure6.train(rs, rs.units, None, None, lambda: clock() >= 7.0)  # Ctrl-C during step 7
    assert log == [("start", "a", 0.0), ("pause", "a", 7.0)] and left == ["a-s0", "b-s0"]
