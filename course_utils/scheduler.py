"""The order of work under a time budget: which group to start, when to stop, what is left.

:func:`run_set` drives *groups* (``engine.Group`` for real training, :class:`SimGroup` for a plan):
groups are started in the order of work, a group that finishes is saved at once and the next one
takes its place; before the deadline every active group is checkpointed. Up to ``at_once`` groups
are active together (each advanced one step per round), but a second group joins only when all
of them still fit before the deadline (their estimated seconds added up: the device is shared),
so that a short budget finishes the first groups instead of leaving every group half done. A
group whose state could not be brought back (too large to bundle) starts only when it can finish,
and no group starts without the time for its start and some useful training (:func:`worth_starting`).
``stop`` (Ctrl-C: ``stopping.ctrl_c_stops``) is read between two rounds: it pauses as the deadline does.

:func:`plan` runs the same :func:`run_set` with a fake clock and :class:`SimGroup`\\ s whose steps
cost the estimated seconds: which runs finish in one lease of ``seconds``, and how many leases the
whole set needs (``python -m course_utils.experiments fig6 --plan 600``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from course_utils import models
from course_utils.fig6_set import STATE_LIMIT, STEP_SECONDS, RunSpec

__all__ = [
    "state_bytes",
    "fits_bundle",
    "worth_starting",
    "Work",
    "SetReport",
    "run_set",
    "LeaseCosts",
    "SimGroup",
    "FakeClock",
    "plan",
    "plan_text",
]

END_MARGIN = 5.0  # seconds kept back at the deadline for the last checkpoints


@functools.cache
def state_bytes(model: str) -> int:
    """Bytes of a run's training state: fp32 weights and SGD momentum (8 bytes a parameter), plus buffers."""
    net = models.get_model(model)
    return 8 * sum(p.numel() for p in net.parameters()) + 4 * sum(b.numel() for b in net.buffers())


def fits_bundle(specs: Sequence[RunSpec]) -> bool:
    """Can each run's unfinished state come back from a device command (one file of at most 16 MiB)?"""
    return all(state_bytes(s.model) <= STATE_LIMIT * 0.9 for s in specs)  # 10% for the history and the format


class Work(Protocol):
    """A group as the scheduler sees it."""

    name: str
    fits_bundle: bool  # its unfinished state can be brought back (else only started when it can finish)
    start_s: float  # seconds its start takes (building, loading the state, probing), as measured

    def estimate(self) -> float: ...  # seconds of training left
    def start(self) -> None: ...  # build the runs, choose their variants (may take seconds)
    def step(self) -> None: ...  # one step of every live run
    def done(self) -> bool: ...  # every run finished or failed
    def finish(self) -> None: ...  # the last run has finished: the group is saved
    def pause(self) -> None: ...  # the deadline: checkpoint every unfinished run


def worth_starting(left_s: float, start_s: float, train_s: float, checkpoint_s: float) -> bool:
    """Is ``left_s`` (seconds to the deadline, less the end margin) worth starting a group: its start (``start_s``,
    measured), then all its training (``train_s``) or, when that is longer, one checkpoint interval of it? With
    less, the start (a probe: seconds) would run into the deadline and the group save little or nothing."""
    return left_s > 0 and left_s >= start_s + min(train_s, checkpoint_s)


@dataclass
class SetReport:
    """What :func:`run_set` did: groups finished, still active (checkpointed), and never started."""

    finished: list = field(default_factory=list)
    paused: list = field(default_factory=list)
    not_started: list = field(default_factory=list)


def run_set(
    groups: Sequence[Work],
    *,
    at_once: int = 1,
    deadline: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
    sync: Callable[[], None] = lambda: None,
    stop: Callable[[], bool] = lambda: False,
    checkpoint_s: float = 0.0,
) -> SetReport:
    """Train ``groups`` in order, ``at_once`` at a time, until all are done, ``stop()`` is true or ``deadline`` (a
    ``clock()`` value) nears; ``sync`` waits for the device (called every 10 rounds so the host clock is honest).
    ``checkpoint_s``: the checkpoint interval in seconds, the least training worth a start (:func:`worth_starting`)."""
    if at_once < 1:
        raise ValueError(f"at_once must be at least 1, got {at_once}")
    pending, active, report = list(groups), [], SetReport()
    round_s, margin, rounds = 0.0, END_MARGIN, 0
    try:
        while True:
            while pending and len(active) < at_once and not stop():
                g = pending[0]
                left = None if deadline is None else deadline - clock() - margin
                if left is not None and not worth_starting(left, g.start_s, g.estimate(), checkpoint_s):
                    break
                fits = (
                    deadline is None or clock() + sum(a.estimate() for a in active) + g.estimate() + margin <= deadline
                )
                if active and not fits:
                    break  # it waits for a free place: the active groups finish first
                pending.pop(0)
                if not fits and not g.fits_bundle:
                    report.not_started.append(g)  # it could not finish, and its state would not come back
                    continue
                g.start()
                active.append(g)
            if not active or stop() or (deadline is not None and clock() + margin > deadline):
                break
            t = clock()
            for g in active:
                g.step()
            for g in [g for g in active if g.done()]:
                g.finish()
                active.remove(g)
                report.finished.append(g)
            rounds += 1
            if deadline is not None and rounds % 10 == 0:
                sync()
            round_s = max(round_s * 0.99, clock() - t)
            margin = max(END_MARGIN, 3 * round_s)
    finally:
        for g in active:
            g.pause()
    report.paused, report.not_started = active, report.not_started + pending
    return report


# --- the plan: the same scheduler with a fake clock ---------------------------------------


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class LeaseCosts:
    """Seconds of one device command that do not train (the defaults: the device script's steps)."""

    tests: float = 30.0  # the gpu tests
    setup: float = 15.0  # interpreter, imports, data extraction and loading
    probe_per_net: float = 2.0  # graphs checked against eager over 5 steps, then timed
    start_per_run: float = 1.5  # model, optimizer, warm-up and capture
    capture: float = 0.5  # a re-capture at each lr milestone
    end: float = 40.0  # the last checkpoints, the bundle, a margin

    def before_training(self) -> float:
        return self.tests + self.setup


class SimGroup:
    """A group whose steps only advance a :class:`FakeClock` by their estimated cost."""

    def __init__(
        self, specs: Sequence[RunSpec], clock: FakeClock, step_s: dict[str, float], costs: LeaseCosts, chunk: int = 50
    ) -> None:
        self.specs, self.clock, self.step_s, self.costs, self.chunk = list(specs), clock, step_s, costs, chunk
        self.name = "+".join(s.stem for s in self.specs)
        self.at = {s.stem: 0 for s in self.specs}  # iterations done, kept across leases
        self.fits_bundle = fits_bundle(self.specs)
        self.probed: set[str] = set()

    def estimate(self) -> float:
        return sum((s.schedule.iterations - self.at[s.stem]) * self.step_s[s.model] for s in self.specs)

    @property
    def start_s(self) -> float:
        new = {s.model for s in self.specs} - self.probed
        return len(new) * self.costs.probe_per_net + len(self.specs) * self.costs.start_per_run

    def start(self) -> None:
        self.clock.advance(self.start_s)
        self.probed |= {s.model for s in self.specs}

    def step(self) -> None:
        cost = 0.0
        for s in self.specs:
            n = min(self.chunk, s.schedule.iterations - self.at[s.stem])
            before = s.schedule.lr_at(self.at[s.stem])
            self.at[s.stem] += n
            cost += n * self.step_s[s.model]
            if n and s.schedule.lr_at(self.at[s.stem] - 1) != before:
                cost += self.costs.capture
        self.clock.advance(cost)

    def done(self) -> bool:
        return all(self.at[s.stem] >= s.schedule.iterations for s in self.specs)

    def finish(self) -> None:
        pass

    def pause(self) -> None:
        pass


def plan(
    groups: Sequence[Sequence[RunSpec]],
    seconds: float,
    *,
    step_s: dict[str, float] | None = None,
    at_once: int = 2,
    costs: LeaseCosts = LeaseCosts(),
    max_leases: int = 100,
) -> list[dict[str, list[str]]]:
    """Simulate leases of ``seconds`` each until the set is done: per lease, the runs finished in it and
    the runs paused at its end (their state carried into the next)."""
    step_s = {**STEP_SECONDS, **(step_s or {})}
    missing = sorted({s.model for g in groups for s in g} - set(step_s))
    if missing:
        raise ValueError(f"no step time for {', '.join(missing)}: give one (e.g. --step-times {missing[0]}=2.5)")
    budget = seconds - costs.before_training() - costs.end
    if budget <= 0:
        raise ValueError(f"a lease of {seconds:g} s leaves no time to train after {costs} : give more seconds")
    clock = FakeClock()
    sims = [SimGroup(g, clock, step_s, costs) for g in groups]
    leases: list[dict[str, list[str]]] = []
    todo = sims
    while todo and len(leases) < max_leases:
        clock.now = 0.0
        report = run_set(todo, at_once=at_once, deadline=budget, clock=clock)
        leases.append(
            {
                "finished": [s.stem for g in report.finished for s in g.specs],
                "paused": [f"{s.stem} at {g.at[s.stem]:,}" for g in report.paused for s in g.specs],
                "train_seconds": [round(clock.now, 1)],
            }
        )
        todo = report.paused + report.not_started
        if not report.finished and not any(any(g.at.values()) for g in report.paused):
            raise ValueError(f"a lease of {seconds:g} s makes no progress: give more seconds")
    return leases


def plan_text(leases: list[dict[str, list[str]]], seconds: float, costs: LeaseCosts = LeaseCosts()) -> str:
    """The plan as lines: per lease, what finishes and what is carried on."""
    lines = [
        f"plan: leases of {seconds:g} s: {costs.tests:g} s gpu tests + {costs.setup:g} s setup, "
        f"then training until {costs.end:g} s before the end (probe and capture counted in it)"
    ]
    for i, lease in enumerate(leases, 1):
        lines.append(f"lease {i} ({lease['train_seconds'][0]:.0f} s of training):")
        lines.append(f"  finished: {', '.join(lease['finished']) or '-'}")
        if lease["paused"]:
            lines.append(f"  paused (state bundled, resumed next lease): {', '.join(lease['paused'])}")
    lines.append(f"the whole set: {len(leases)} lease(s)")
    return "\n".join(lines)
