"""How long the rest of a set takes, from times measured on this machine: what ``fig6`` says before it trains.

A run takes its steps left times its measured seconds per step, plus its evaluation passes left (a record
every ``eval_every`` iterations and one at the end) times its measured seconds per pass; a unit of work
(``fig6_set.WorkOrder``) adds the measured seconds of its start (loading, building, reading its state).
Units in one process share the device, so their times add up, however many are active at once. Units in
``jobs`` worker processes run side by side: each next unit goes to the first process that is free, in the
order of work, and the set takes as long as the busiest process (:func:`lanes_seconds`). Checkpoint
writes and the machine's other load are not counted: the result is an estimate, and says so.

    >>> records_left(done=0, iterations=30, eval_every=10), records_left(done=14, iterations=35, eval_every=10)
    (3, 3)
    >>> lanes_seconds([10.0, 10.0, 5.0, 5.0], lanes=2), lanes_seconds([10.0, 10.0, 5.0, 5.0], lanes=1)
    (15.0, 30.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Cost",
    "RunLeft",
    "records_left",
    "run_seconds",
    "lanes_seconds",
    "set_seconds",
    "about",
    "estimate_text",
    "checkpoint_interval",
    "checkpoint_text",
]


@dataclass(frozen=True)
class Cost:
    """One net on this machine: seconds per training step and per evaluation pass, and who measured the step."""

    step_s: float
    eval_s: float
    source: str  # "probe" (the variant probe's timing) or "timed" (a short timing of the chosen variant)


@dataclass(frozen=True)
class RunLeft:
    """What a run has left: its net, the iterations done (a resumed run: from its state) and in all, its records."""

    stem: str
    model: str
    done: int
    iterations: int
    eval_every: int


def records_left(done: int, iterations: int, eval_every: int) -> int:
    """Evaluation passes in iterations ``done + 1 .. iterations``: each multiple of ``eval_every``, and the last."""
    if done >= iterations:
        return 0
    return iterations // eval_every - done // eval_every + (iterations % eval_every != 0)


def run_seconds(run: RunLeft, cost: Cost) -> float:
    """Seconds of training and evaluation ``run`` has left at ``cost``."""
    steps = max(0, run.iterations - run.done)
    return steps * cost.step_s + records_left(run.done, run.iterations, run.eval_every) * cost.eval_s


def lanes_seconds(durations: Sequence[float], lanes: int) -> float:
    """Wall seconds of ``durations`` started in order on ``lanes`` parallel lanes, each on the first free one."""
    free = [0.0] * max(1, lanes)
    for d in durations:
        i = free.index(min(free))
        free[i] += d
    return max(free)


def set_seconds(
    units: Sequence[Sequence[RunLeft]],
    costs: dict[str, Cost],
    start_s: Sequence[float],
    lanes: int,
    processes: bool,
) -> float:
    """Wall seconds of the whole set: ``units`` in the order of work, each with its measured ``start_s``; side by
    side on ``lanes`` processes when ``processes``, else one after the other on one shared device."""
    durations = [s + sum(run_seconds(r, costs[r.model]) for r in unit) for unit, s in zip(units, start_s, strict=True)]
    return lanes_seconds(durations, lanes) if processes else sum(durations)


def about(seconds: float) -> str:
    """``"about 14 minutes"``; under 2 minutes also in seconds, from 2 hours on also in hours."""
    minutes = seconds / 60
    if minutes < 2:
        return f"about {minutes:.1f} minutes ({seconds:.0f} s)"
    if minutes < 120:
        return f"about {minutes:.0f} minutes"
    return f"about {minutes:.0f} minutes ({minutes / 60:.1f} hours)"


def estimate_text(total_s: float, costs: dict[str, Cost], budget_left_s: float | None, lanes_note: str) -> str:
    """The estimate as ``fig6`` prints it: the total, what it rests on, and where a time budget cuts it short."""
    nets = ", ".join(
        f"{m} {c.step_s * 1000:.0f} ms/step ({'probe' if c.source == 'probe' else 'timed'}), "
        f"{c.eval_s:.1f} s/evaluation"
        for m, c in costs.items()
    )
    text = f"fig6: estimate: {about(total_s)} on this machine ({lanes_note}; measured here: {nets})"
    if budget_left_s is not None and budget_left_s < total_s:
        text += (
            f"; the time budget stops this call after {about(budget_left_s)}, every run saved: the same command resumes"
        )
    return text


def checkpoint_interval(checkpoint_seconds: float | None, checkpoint_every: int | None, step_s: float) -> float:
    """Seconds between two checkpoints of a run at ``step_s`` seconds a step: every ``checkpoint_seconds`` of wall
    time (written at the first step after it) or every ``checkpoint_every`` iterations, whichever comes first;
    infinite where neither is set."""
    limits = [checkpoint_seconds + step_s] if checkpoint_seconds else []
    return min(limits + ([checkpoint_every * step_s] if checkpoint_every else []), default=math.inf)


def checkpoint_text(checkpoint_seconds: float | None, checkpoint_every: int | None, step_s: float) -> str:
    """How to stop and resume, and what a hard kill loses: at most one checkpoint interval (``step_s``: the slowest
    step of the set)."""
    interval = checkpoint_interval(checkpoint_seconds, checkpoint_every, step_s)
    if not math.isfinite(interval):
        lost = "everything since it started (no checkpoints are written)"
    elif checkpoint_every and interval == checkpoint_every * step_s:
        lost = f"the last {checkpoint_every:,} iterations (a checkpoint every {checkpoint_every:,}, {interval:.0f} s)"
    else:
        lost = (
            f"the last {interval:.0f} s of training (a checkpoint every {checkpoint_seconds:.0f} s, at the next step)"
        )
    return (
        "fig6: to stop, press Ctrl-C: each run finishes its step and saves its state, and the same command run "
        f"again resumes from there; a hard kill or a crash loses at most {lost}"
    )
