"""Planning a stretch of compute on a lent GPU: which runs of the set finish in one device command (a *lease*) of
so many seconds, and how many leases the whole set needs (``python -m course_utils.experiments fig6 --plan 600``).

A lease brings back at most :data:`STATE_LIMIT` bytes a file, so a run whose training state is larger
(:func:`fits_bundle`) starts on a GPU only when it can finish in the lease (``fig6``'s loop asks). The plan
simulates the loop's rules with a clock that moves by estimated step times: groups start in the order of work,
up to ``at_once`` share the device while all of them fit before the end, a group that could not finish and
whose state could not come back waits for a later lease, and what is unfinished at the end carries over.
:data:`STEP_SECONDS` are first-principles estimates of one graph-replayed step at batch 128 on an H100/H200
(FLOPs, kernel counts, public fast-CIFAR records: about 1-1.5 ms for 20 layers, 2-4 ms for 56), used until a
probe has measured them (``--step-times``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from course_utils import models
from course_utils.estimate import END_MARGIN
from course_utils.fig6_set import EXTRA_NET, RunSpec

__all__ = ["STEP_SECONDS", "STATE_LIMIT", "state_bytes", "fits_bundle", "LeaseCosts", "plan", "plan_text"]

STEP_SECONDS = {  # one graph step, batch 128, H100/H200: estimates until a probe measures them
    "plain20": 0.0011,
    "resnet20": 0.0011,
    "plain32": 0.0015,
    "resnet32": 0.0015,
    "plain44": 0.0019,
    "resnet44": 0.0019,
    "plain56": 0.0024,
    "resnet56": 0.0024,
    "resnet110": 0.0046,
    EXTRA_NET: 0.0025,
}
STATE_LIMIT = 16 * 2**20  # the largest file a device command can bring back


@functools.cache
def state_bytes(model: str) -> int:
    """Bytes of a run's training state: fp32 weights and SGD momentum (8 bytes a parameter), plus buffers."""
    net = models.get_model(model)
    return 8 * sum(p.numel() for p in net.parameters()) + 4 * sum(b.numel() for b in net.buffers())


def fits_bundle(specs: Sequence[RunSpec]) -> bool:
    """Can each run's unfinished state come back from a device command (one file of at most 16 MiB)?"""
    return all(state_bytes(s.model) <= STATE_LIMIT * 0.9 for s in specs)  # 10% for the history and the format


@dataclass(frozen=True)
class LeaseCosts:
    """Seconds of one device command that do not train (the defaults: the device script's steps)."""

    tests: float = 30.0  # the gpu tests
    setup: float = 15.0  # interpreter, imports, data extraction and loading
    probe_per_net: float = 2.0  # graphs checked against eager over 5 steps, then timed
    start_per_run: float = 1.5  # model, optimizer, warm-up and capture
    capture: float = 0.5  # a re-capture at each lr milestone
    end: float = 40.0  # the last checkpoints, the bundle, a margin


def _lease(groups: list, at: dict[str, int], step_s: dict[str, float], costs: LeaseCosts, at_once: int,
           budget: float, probed: set[str]) -> tuple[list, list, list, float]:  # fmt: skip
    """One lease of ``budget`` training seconds: (groups finished, paused, not started, seconds used)."""

    def left(g: Sequence[RunSpec]) -> float:
        return sum((s.schedule.iterations - at[s.stem]) * step_s[s.model] for s in g)

    pending, active, finished, waiting, now, margin = list(groups), [], [], [], 0.0, END_MARGIN
    while True:
        while pending and len(active) < at_once:
            g = pending[0]
            start = len({s.model for s in g} - probed) * costs.probe_per_net + len(g) * costs.start_per_run
            fits = now + sum(map(left, active)) + left(g) + margin <= budget
            if budget - now - margin < max(start, 1e-9) or (active and not fits):
                break
            pending.pop(0)
            if not fits and not fits_bundle(g):
                waiting.append(g)  # it could not finish, and its state would not come back
                continue
            now, probed = now + start, probed | {s.model for s in g}
            active.append(g)
        if not active or now + margin > budget:
            return finished, active, waiting + pending, now
        t = now
        for g in active:
            for s in g:
                a, n = at[s.stem], min(50, s.schedule.iterations - at[s.stem])
                lr = s.schedule.lr_at
                recapture = n and a > 0 and lr(a + n - 1) != lr(a - 1)  # the lr changed in these steps
                now += n * step_s[s.model] + (costs.capture if recapture else 0.0)
                at[s.stem] = a + n
        finished += [g for g in active if not left(g)]
        active = [g for g in active if left(g)]
        margin = max(END_MARGIN, 3 * (now - t))


def plan(
    groups: Sequence[Sequence[RunSpec]],
    seconds: float,
    *,
    step_s: dict[str, float] | None = None,
    at_once: int = 2,
    costs: LeaseCosts = LeaseCosts(),
    max_leases: int = 100,
) -> list[dict[str, list]]:
    """Simulate leases of ``seconds`` each until the set is done: per lease, the runs finished in it, the runs
    paused at its end (their state carried into the next), and its seconds of training."""
    step_s = {**STEP_SECONDS, **(step_s or {})}
    missing = sorted({s.model for g in groups for s in g} - set(step_s))
    if missing:
        raise ValueError(f"no step time for {', '.join(missing)}: give one (e.g. --step-times {missing[0]}=2.5)")
    budget = seconds - costs.tests - costs.setup - costs.end
    if budget <= 0:
        raise ValueError(f"a lease of {seconds:g} s leaves no time to train after {costs} : give more seconds")
    at = {s.stem: 0 for g in groups for s in g}
    todo, leases, probed = [list(g) for g in groups], [], set()
    while todo and len(leases) < max_leases:
        finished, paused, waiting, used = _lease(todo, at, step_s, costs, at_once, budget, probed)
        probed |= {s.model for g in finished + paused for s in g}
        leases.append({
            "finished": [s.stem for g in finished for s in g],
            "paused": [f"{s.stem} at {at[s.stem]:,}" for g in paused for s in g],
            "train_seconds": [round(used, 1)],
        })  # fmt: skip
        todo = paused + waiting
        if not finished and not any(at[s.stem] for g in paused for s in g):
            raise ValueError(f"a lease of {seconds:g} s makes no progress: give more seconds")
    return leases


def plan_text(leases: list[dict[str, list]], seconds: float, costs: LeaseCosts = LeaseCosts()) -> str:
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
