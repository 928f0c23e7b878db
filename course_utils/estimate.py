"""How long the rest of a set takes, from times measured on this machine: what ``fig6`` says before it trains.

A run takes its steps left times its measured seconds per step, plus its evaluation passes left (a record
every ``eval_every`` iterations and one at the end) times its measured seconds per pass; a unit of work
(one group, or one run in a process of its own) adds the measured seconds of its start (loading, building,
reading its state). Units in one process share the device, so their times add up, however many are active at
once. Units in ``jobs`` worker processes run side by side: each next unit goes to the first process that is free, in the
order of work, and the set takes as long as the busiest process (:func:`lanes_seconds`). Checkpoint
writes and the machine's other load are not counted: the result is an estimate, and says so.

    >>> records_left(done=0, iterations=30, eval_every=10), records_left(done=14, iterations=35, eval_every=10)
    (3, 3)
    >>> lanes_seconds([10.0, 10.0, 5.0, 5.0], lanes=2), lanes_seconds([10.0, 10.0, 5.0, 5.0], lanes=1)
    (15.0, 30.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = [
    "END_MARGIN",
    "records_left",
    "run_seconds",
    "lanes_seconds",
    "worth_starting",
    "about",
    "estimate_text",
    "checkpoint_interval",
    "checkpoint_text",
]

END_MARGIN = 5.0  # seconds kept back before a time limit for the last checkpoints


def records_left(done: int, iterations: int, eval_every: int) -> int:
    """Evaluation passes in iterations ``done + 1 .. iterations``: each multiple of ``eval_every``, and the last."""
    if done >= iterations:
        return 0
    return iterations // eval_every - done // eval_every + (iterations % eval_every != 0)


def run_seconds(done: int, iterations: int, eval_every: int, step_s: float, eval_s: float) -> float:
    """Seconds of training and evaluation a run has left after ``done`` of ``iterations``, at ``step_s`` seconds a
    step and ``eval_s`` seconds an evaluation pass (one every ``eval_every`` iterations, and one at the end)."""
    return max(0, iterations - done) * step_s + records_left(done, iterations, eval_every) * eval_s


def lanes_seconds(durations: Sequence[float], lanes: int) -> float:
    """Wall seconds of ``durations`` started in order on ``lanes`` parallel lanes, each on the first free one."""
    free = [0.0] * max(1, lanes)
    for d in durations:
        i = free.index(min(free))
        free[i] += d
    return max(free)


def worth_starting(left_s: float, start_s: float, train_s: float, checkpoint_s: float) -> bool:
    """Is ``left_s`` (seconds to the time limit, less the end margin) worth starting a unit of work: its start
    (``start_s``, measured), then all its training (``train_s``) or, when that is longer, one checkpoint interval of
    it? With less, the start (a probe: seconds) would run into the time limit and the unit save little or nothing."""
    return left_s > 0 and left_s >= start_s + min(train_s, checkpoint_s)


def about(seconds: float) -> str:
    """``"about 14 minutes"``; under 2 minutes also in seconds, from 2 hours on also in hours."""
    minutes = seconds / 60
    if minutes < 2:
        return f"about {minutes:.1f} minutes ({seconds:.0f} s)"
    if minutes < 120:
        return f"about {minutes:.0f} minutes"
    return f"about {minutes:.0f} minutes ({minutes / 60:.1f} hours)"


def estimate_text(
    total_s: float, step_s: Mapping[str, float], eval_s: Mapping[str, float], timed_by: Mapping[str, str],
    left_s: float | None, lanes_note: str,
) -> str:  # fmt: skip
    """The estimate as ``fig6`` prints it: the total, the per-net times it rests on (``timed_by``: "probe" or
    "timed"), and where a time limit (``left_s`` seconds away) cuts it short."""
    nets = ", ".join(
        f"{m} {step_s[m] * 1000:.0f} ms/step ({timed_by.get(m, 'timed')}), {eval_s[m]:.1f} s/evaluation" for m in step_s
    )
    text = f"fig6: estimate: {about(total_s)} on this machine ({lanes_note}; measured here: {nets})"
    if left_s is not None and left_s < total_s:
        text += f"; the time limit stops this call after {about(left_s)}, every run saved: the same command resumes"
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
