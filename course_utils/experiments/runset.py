"""One ``fig6`` call: what its runs share, the order of work, and what is done to a unit before and after it trains.

A :class:`RunSet` holds the sizes, the folders, the variant asked for, the order of work (its ``units``: groups,
or single runs when each trains in a worker process of its own) and the times measured on this machine before
any training (:func:`measure`). It is handed whole to each worker process. The functions around it build a
unit's runs, resumed from their training state (:func:`build`), choose each net's variant (:func:`choose`: the
probe, once per net and machine, kept in ``probe.json``), and save a run the moment it finishes (:func:`finish`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from course_utils import data as cdata
from course_utils import engine, estimate, probe, results
from course_utils.budget import Budget
from course_utils.experiments.summary import entry
from course_utils.fig6_set import RunSpec, run_name
from course_utils.models import get_model
from course_utils.profile import Profile, seed_everything
from course_utils.schedule import model_depth
from course_utils.step import device_label
from course_utils.train import TrainRun

__all__ = ["RunSet", "finished", "build", "choose", "measure", "estimate_lines", "finish", "failed"]

Unit = tuple[RunSpec, ...]  # a group (runs on one feed of batches), or one run in a worker process of its own


@dataclass
class RunSet:
    """One ``fig6`` call: sizes, folders, variant, the order of work, and the times measured on this machine."""

    prof: Profile
    budget: Budget
    out: Path  # result files, weights, summary.json
    state: Path  # the unfinished runs' training state (<stem>.pt and its sidecar <stem>.json), probe.json
    variant: str = "auto"
    deterministic: bool = True
    progress: bool = True
    probe_again: bool = False  # probe even where probe.json has the choice, or where there is none to make
    units: tuple[Unit, ...] = ()  # the order of work
    lanes: int = 1  # units at once: groups sharing the device, or worker processes
    processes: bool = False  # each unit is one run in a worker process of its own
    # measured here before training (measure): per net, per unit, per run
    step_s: dict[str, float] = field(default_factory=dict)  # seconds per step of the chosen variant
    eval_s: dict[str, float] = field(default_factory=dict)  # seconds per evaluation pass
    timed_by: dict[str, str] = field(default_factory=dict)  # "probe" or "timed"
    start_s: dict[str, float] = field(default_factory=dict)  # seconds to build a unit (key: its stems)
    left_s: dict[str, float] = field(default_factory=dict)  # seconds of training and evaluation a run has left
    done_at: dict[str, int] = field(default_factory=dict)  # iterations a run had done when this call began
    load_s: float = 0.0  # seconds to load the data
    interval_s: float = math.inf  # seconds between two checkpoints of the slowest net: the least worth a start

    def label(self, unit: Unit) -> str:
        """``"2/4: plain20-s0 + resnet20-s0"``: the unit's place in the order of work, and its runs."""
        return f"{self.units.index(tuple(unit)) + 1}/{len(self.units)}: {key(unit, ' + ')}"

    def started(self, unit: Unit) -> str:
        """``"fig6: start 1/2: plain20-s0 (resumed: plain20-s0 at 58,650)"``: said as a unit starts."""
        at = [f"{s.stem} at {self.done_at[s.stem]:,}" for s in unit if self.done_at.get(s.stem)]
        return f"fig6: start {self.label(unit)}" + (f" (resumed: {', '.join(at)})" if at else "")

    def order_text(self) -> str:
        """The order of work as ``fig6`` prints it before it trains: how the units run, then one line each."""
        n, lanes = len(self.units), min(self.lanes, len(self.units))
        if not n:
            return "fig6: nothing to train: every run of the set is finished"
        if self.processes:
            how = (f"{n} run(s), each alone in a worker process, {lanes} process(es) at once: the first {lanes} "
                   "start together, each next one when a process is free")  # fmt: skip
        elif self.lanes > 1 and n > 1:
            how = (f"{n} group(s), up to {self.lanes} at once in this process, sharing the device (a next group "
                   "joins when all active ones fit before the time limit)")  # fmt: skip
        else:
            how = f"{n} group(s), one after the other in this process (a group: runs on one feed of batches)"
        return "\n".join([f"fig6: order of work: {how}"] + [f"  {self.label(u)}" for u in self.units])

    def unit_seconds(self, unit: Unit) -> float:
        """Seconds of training ``unit`` has left, as measured (0 for a run not measured)."""
        return sum(self.left_s.get(s.stem, 0.0) for s in unit)

    def per_step(self) -> dict[str, float]:
        """Seconds per step per net, its evaluation passes spread over the steps between two."""
        return {m: s + self.eval_s.get(m, 0.0) / self.budget.eval_every for m, s in self.step_s.items()}


def key(unit: Sequence[RunSpec], sep: str = "+") -> str:
    return sep.join(s.stem for s in unit)


def finished(spec: RunSpec, out: Path, state: Path) -> dict | None:
    """The finished result of ``spec`` in ``out``; refuses one trained with another schedule."""
    path = out / f"{spec.stem}.json"
    if not path.exists():
        return None
    done = results.read_json(path)
    if done.get("schedule") != spec.schedule.to_dict():
        raise ValueError(
            f"{path} holds a finished run with schedule {done.get('schedule')}, but this call "
            f"asks for {spec.schedule.to_dict()}. Delete it (and {state / spec.stem}.pt) "
            f"to retrain, or write elsewhere (out=, --out)."
        )
    return done


def build(rs: RunSet, unit: Unit, data: cdata.CIFAR10) -> list[TrainRun]:
    """The runs of ``unit``, each resumed from its training state in ``rs.state`` where there is one."""
    runs = []
    for spec in unit:
        seed_everything(spec.seed, rs.deterministic)  # the same initial weights for the same seed
        runs.append(
            TrainRun(
                get_model(spec.model),
                data,
                spec.schedule,
                name=spec.model,
                seed=spec.seed,
                budget=rs.budget,
                device=rs.prof.device,
                checkpoint=rs.state / f"{spec.stem}.pt",
                deterministic=rs.deterministic,
            )
        )
    return runs


def choose(rs: RunSet, runs: Sequence[TrainRun], say: bool = True) -> dict[str, str]:
    """The variant per net: probed once per net and device (when there is a choice, or when asked), kept in
    probe.json under the device's label (another processor or GPU probes anew); the probe's step time of the
    chosen variant goes to ``rs.step_s``. ``say``: print the choice."""
    saved, label = rs.state / "probe.json", device_label(rs.prof.device)
    known = (results.read_json(saved) if saved.exists() else {}).get(label, {})
    choices = engine.candidates(rs.prof.device, rs.variant)
    todo = [r for r in {r.name: r for r in runs}.values() if r.name not in known or rs.probe_again]
    if todo and (len(choices) > 1 or rs.probe_again):
        rows = probe.probe(todo, choices)
        print(probe.probe_table(rows, {r.name: r.remaining for r in todo}))
        picked = probe.pick(rows)
        known |= picked
        for r in rows:
            if r.variant == picked[r.name] and r.steps_per_s:
                rs.step_s[r.name], rs.timed_by[r.name] = 1 / r.steps_per_s, "probe"
        now = results.read_json(saved) if saved.exists() else {}  # another process may have written meanwhile
        results.write_json(saved, {**now, label: {**now.get(label, {}), **known}})
    chosen = {r.name: known.get(r.name, choices[0]) if len(choices) > 1 else choices[0] for r in runs}
    if say:
        print("variant: " + ", ".join(f"{k} -> {v}" for k, v in chosen.items()))
    return chosen


def measure(rs: RunSet, data: cdata.CIFAR10, deadline: float | None, stop: Callable[[], bool]) -> bool:
    """Before training, each unit once: built (its start timed), its nets' variants chosen (the probe runs here, if
    anywhere), each net's step and evaluation pass timed where the probe did not, and what each run has left.
    Returns whether all was measured (not when Ctrl-C or the time limit came first)."""
    longest = 0.0  # the longest measurement of a unit so far: none is begun that would run into the time limit
    for unit in rs.units:
        if stop() or (deadline is not None and time.perf_counter() + estimate.END_MARGIN + longest >= deadline):
            return False  # the units not measured do not start in this call (their start is not known)
        t = time.perf_counter()
        runs = [r for r in build(rs, unit, data) if not r.done]
        rs.start_s[key(unit)] = time.perf_counter() - t
        chosen = choose(rs, runs, say=False)
        for r in runs:
            if r.name not in rs.eval_s:
                rs.step_s.setdefault(r.name, probe.step_seconds(r, chosen[r.name]))
                rs.timed_by.setdefault(r.name, "timed")
                rs.eval_s[r.name] = probe.eval_seconds(r)
            rs.done_at[run_name(r.name, r.seed)] = r.iteration
            rs.left_s[run_name(r.name, r.seed)] = estimate.run_seconds(
                r.iteration, r.schedule.iterations, r.eval_every, rs.step_s[r.name], rs.eval_s[r.name]
            )
        longest = max(longest, time.perf_counter() - t)
    slowest = max(rs.step_s.values(), default=0.0)
    rs.interval_s = estimate.checkpoint_interval(rs.budget.checkpoint_seconds, rs.budget.checkpoint_every, slowest)
    rs.probe_again = False  # probed here, once: the units' starts do not probe again
    return True


def estimate_lines(rs: RunSet, deadline: float | None) -> str:
    """The estimate of the whole set from the measured times, and how to stop (``estimate``)."""
    extra = rs.load_s if rs.processes else 0.0  # a worker loads the data for each of its runs
    durations = [rs.start_s.get(key(u), 0.0) + extra + rs.unit_seconds(u) for u in rs.units]
    total = estimate.lanes_seconds(durations, rs.lanes) if rs.processes else sum(durations)
    how = f"{min(rs.lanes, len(rs.units))} processes side by side" if rs.processes else "the device shared"
    left = None if deadline is None else max(0.0, deadline - time.perf_counter())
    cp = (rs.budget.checkpoint_seconds, rs.budget.checkpoint_every, max(rs.step_s.values(), default=0.0))
    text = estimate.estimate_text(total, rs.step_s, rs.eval_s, rs.timed_by, left, how)
    return text + "\n" + estimate.checkpoint_text(*cp)


def finish(rs: RunSet, run: TrainRun, status: str) -> dict:
    """A run has finished: its fp16 weights, then its result file (which marks it finished), then its training
    state is deleted; returns its line of the summary (``status``: trained or resumed)."""
    stem = run_name(run.name, run.seed)
    res = run.result(
        variant=run.variant,
        depth=model_depth(run.name),
        profile=rs.prof.name,
        experiment="fig6",
        date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    results.save_weights(rs.out / "weights" / f"{stem}.pt", run.model)
    results.write_json(rs.out / f"{stem}.json", res)
    run.forget()
    return entry(res, status)


def failed(run: TrainRun, err: BaseException) -> dict:
    """A run has failed (a non-finite loss, an error in its step): said, and its line of the summary; its last
    checkpoint is kept."""
    print(f"fig6: {run.name} s{run.seed} FAILED at iteration {run.iteration}: {err}")
    return {"model": run.name, "seed": run.seed, "status": "failed", "iteration": run.iteration, "error": str(err)}
