"""The set of one ``fig6`` call at work: its units built, measured, started, trained, saved (``fig6`` drives it).

:class:`RunSet` holds what the units share: sizes, data, the output and state folders, the variant the probe
chose for each net, and the times measured on this machine (:meth:`RunSet.measure`, before any training:
each net's step and evaluation pass, each unit's start, what each run has left), from which the estimate is
made (:meth:`RunSet.estimate_lines`) and by which the scheduler decides. :meth:`RunSet.train` trains units in
this process (``scheduler.run_set``), or one run in a worker process of its own (``pool.in_processes``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from course_utils import data as cdata
from course_utils import engine, estimate, probe, results, scheduler
from course_utils.budget import Budget
from course_utils.checkpoint import refuse_lost_state
from course_utils.estimate import Cost, RunLeft
from course_utils.experiments.summary import entry
from course_utils.fig6_set import RunSpec, WorkOrder, run_name
from course_utils.models import get_model
from course_utils.profile import Profile, seed_everything
from course_utils.schedule import model_depth
from course_utils.step import device_label
from course_utils.train import TrainRun

__all__ = ["finished", "RunSet"]


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


def _key(unit: Sequence[RunSpec]) -> str:
    return "+".join(s.stem for s in unit)


@dataclass
class RunSet:
    """What the units of one ``fig6`` call share: sizes, data, output folder, the probe's choices, measured times."""

    prof: Profile
    budget: Budget
    out: Path
    state: Path
    deterministic: bool
    variant: str
    force_probe: bool
    progress: bool
    data: cdata.CIFAR10 | None = None
    entries: list[dict] = field(default_factory=list)
    step_s: dict[str, float] = field(default_factory=dict)  # seconds per step of the chosen variant, by the probe
    costs: dict[str, Cost] = field(default_factory=dict)  # per net: seconds per step and per evaluation, measured
    start_s: dict[str, float] = field(default_factory=dict)  # per unit: seconds to build it, measured
    load_s: float = 0.0  # seconds to load the data, measured
    interval_s: float = 0.0  # seconds between two checkpoints of the slowest net: the least training worth a start
    left: dict[str, RunLeft] = field(default_factory=dict)  # per run: the iterations done and to do
    order: WorkOrder | None = None  # in the process that printed it: each unit says when it starts
    status: dict[str, str] = field(default_factory=dict)  # trained or resumed, per run

    def todo(self, groups: Sequence[Sequence[RunSpec]]) -> list[list[RunSpec]]:
        """Each group's unfinished runs (empty groups left out); the finished ones enter the summary as skipped.
        A run in progress whose training state is missing stops the call here, before any work."""
        todo = []
        for g in groups:
            done = {s.stem: finished(s, self.out, self.state) for s in g}
            new = [s for s in g if done[s.stem] is None]
            for s in new:
                refuse_lost_state(self.state / f"{s.stem}.pt", s.model)
            self.entries += [entry(done[s.stem], "skipped") for s in g if done[s.stem] is not None]
            todo += [new] if new else []
        return todo

    def build(self, specs: Sequence[RunSpec]) -> list[TrainRun]:
        """The runs of a group, resumed from their checkpoints (the data is loaded on first use)."""
        if self.data is None:
            self.data = cdata.load_cifar10(profile=self.prof)
        runs = []
        for spec in specs:
            seed_everything(spec.seed, self.deterministic)  # the same initial weights for the same seed
            run = TrainRun(
                get_model(spec.model),
                self.data,
                spec.schedule,
                name=spec.model,
                seed=spec.seed,
                budget=self.budget,
                device=self.prof.device,
                checkpoint=self.state / f"{spec.stem}.pt",
                deterministic=self.deterministic,
            )
            self.status[spec.stem] = "resumed" if run.iteration else "trained"
            runs.append(run)
        return runs

    def choose(self, runs: list[TrainRun], say: bool = True) -> dict[str, str]:
        """The variant per net: probed once per net and device (when there is a choice, or when asked), kept in
        probe.json under the device's label (another processor or GPU probes anew); the probe's step time of the
        chosen variant is kept in ``step_s``. ``say``: print the choice."""
        saved, label = self.state / "probe.json", device_label(self.prof.device)
        by_device = results.read_json(saved) if saved.exists() else {}
        known = by_device.get(label, {})
        choices = engine.candidates(self.prof.device, self.variant)
        todo = [r for r in {r.name: r for r in runs}.values() if r.name not in known or self.force_probe]
        if todo and (len(choices) > 1 or self.force_probe):
            rows = probe.probe(todo, choices)
            print(probe.probe_table(rows, {r.name: r.remaining for r in todo}))
            picked = probe.pick(rows)
            known |= picked
            self.step_s |= {r.name: 1 / r.steps_per_s for r in rows if r.variant == picked[r.name] and r.steps_per_s}
            now = results.read_json(saved) if saved.exists() else {}  # another process may have written meanwhile
            results.write_json(saved, {**now, label: {**now.get(label, {}), **known}})
        chosen = {r.name: known.get(r.name, choices[0]) if len(choices) > 1 else choices[0] for r in runs}
        if say:
            print("variant: " + ", ".join(f"{k} -> {v}" for k, v in chosen.items()))
        return chosen

    def measure(self, order: WorkOrder, deadline: float | None, stop: Callable[[], bool]) -> bool:
        """Before training, each unit of ``order`` once: built (its start timed), its nets' variants chosen (the probe
        runs here, if anywhere), each net's step and evaluation pass timed where the probe did not time them, and
        what each run has left. Returns whether all was measured (not when Ctrl-C or the deadline came first)."""
        t = time.perf_counter()
        self.data = self.data if self.data is not None else cdata.load_cifar10(profile=self.prof)
        self.load_s = time.perf_counter() - t
        longest = 0.0  # the longest measurement of a unit so far: none is begun that would run into the deadline
        for unit in order.units:
            if stop() or (deadline is not None and time.perf_counter() + scheduler.END_MARGIN + longest >= deadline):
                return False  # the units not measured do not start in this call (their start is not known)
            t = time.perf_counter()
            runs = [r for r in self.build(unit) if not r.done]
            self.start_s[_key(unit)] = time.perf_counter() - t
            chosen = self.choose(runs, say=False)
            for r in runs:
                stem = run_name(r.name, r.seed)
                self.left[stem] = RunLeft(stem, r.name, r.iteration, r.schedule.iterations, r.eval_every)
                if r.name not in self.costs:
                    step_s = self.step_s.get(r.name) or probe.step_seconds(r, chosen[r.name])
                    self.costs[r.name] = Cost(
                        step_s, probe.eval_seconds(r), "probe" if r.name in self.step_s else "timed"
                    )
            longest = max(longest, time.perf_counter() - t)
        slowest = max((c.step_s for c in self.costs.values()), default=0.0)
        self.interval_s = estimate.checkpoint_interval(
            self.budget.checkpoint_seconds, self.budget.checkpoint_every, slowest
        )
        self.force_probe = False  # probed here, once: the units' starts do not probe again
        return True

    def estimate_lines(self, order: WorkOrder, deadline: float | None) -> str:
        """The estimate of the whole set from the measured times, and how to stop (``estimate``)."""
        units = [[self.left[s.stem] for s in u if s.stem in self.left] for u in order.units]
        extra = self.load_s if order.processes else 0.0  # a worker loads the data for each of its runs
        total = estimate.set_seconds(
            units,
            self.costs,
            [self.start_s.get(_key(u), 0.0) + extra for u in order.units],
            order.lanes,
            order.processes,
        )
        how = f"{min(order.lanes, len(units))} processes side by side" if order.processes else "the device shared"
        left = None if deadline is None else max(0.0, deadline - time.perf_counter())
        slowest = max((c.step_s for c in self.costs.values()), default=0.0)
        cp = (self.budget.checkpoint_seconds, self.budget.checkpoint_every, slowest)
        return estimate.estimate_text(total, self.costs, left, how) + "\n" + estimate.checkpoint_text(*cp)

    def may_start(self, unit: Sequence[RunSpec], deadline: float | None) -> bool:
        """In a process of its own (``jobs`` > 1): is there time to load the data, build ``unit`` and train it, or
        one checkpoint interval of it, before ``deadline`` (``scheduler.worth_starting``)?"""
        if deadline is None:
            return True
        left = deadline - time.perf_counter() - scheduler.END_MARGIN
        train = sum(estimate.run_seconds(self.left[s.stem], self.costs[s.model]) for s in unit if s.stem in self.left)
        start = self.load_s + self.start_s.get(_key(unit), math.inf)  # a unit not measured: not in this call
        return scheduler.worth_starting(left, start, train, self.interval_s)

    def started(self, unit: Sequence[RunSpec]) -> None:
        """Say that ``unit`` starts, as it starts (in the process that printed the order), and where it resumes."""
        at = [f"{s.stem} at {self.left[s.stem].done:,}" for s in unit if s.stem in self.left and self.left[s.stem].done]
        label = self.order.label(unit) if self.order is not None else _key(unit)
        print(f"fig6: start {label}" + (f" (resumed: {', '.join(at)})" if at else ""), flush=True)

    def done(self, run: TrainRun, variant: str) -> None:
        """A run has finished: its fp16 weights, then its result file (which marks it finished)."""
        stem = run_name(run.name, run.seed)
        res = run.result(
            variant=variant,
            depth=model_depth(run.name),
            profile=self.prof.name,
            experiment="fig6",
            date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        results.save_weights(self.out / "weights" / f"{stem}.pt", run.model)
        results.write_json(self.out / f"{stem}.json", res)
        run.forget()  # finished: its training state is no longer needed
        self.entries.append(entry(res, self.status[stem]))

    def failed(self, run: TrainRun, err: BaseException) -> None:
        """A run has failed (non-finite loss, an error in its step): reported; its last checkpoint is kept."""
        print(f"fig6: {run.name} s{run.seed} FAILED at iteration {run.iteration}: {err}")
        self.entries.append(
            {"model": run.name, "seed": run.seed, "status": "failed", "iteration": run.iteration, "error": str(err)}
        )

    def group(self, specs: Sequence[RunSpec]) -> engine.Group:
        """``specs`` as an ``engine.Group``, with the measured times the scheduler decides by."""
        cost = {s.model: self.costs.get(s.model, Cost(0.0, 0.0, "")) for s in specs}
        return engine.Group(
            _key(specs),
            lambda: self.start(specs),
            iterations=max(s.schedule.iterations for s in specs),
            step_s={s.model: cost[s.model].step_s + cost[s.model].eval_s / self.budget.eval_every for s in specs},
            choose=self.choose,
            on_done=self.done,
            on_failed=self.failed,
            fits_bundle=self.prof.device.type != "cuda" or scheduler.fits_bundle(specs),
            progress=self.progress,
            start_s=self.start_s.get(_key(specs), math.inf),  # not measured: it starts only without a deadline
        )

    def start(self, specs: Sequence[RunSpec]) -> list[TrainRun]:
        """A unit starts: said where the order was printed, then its runs are built."""
        if self.order is not None:
            self.started(specs)
        return self.build(specs)

    def train(
        self,
        groups: Sequence[Sequence[RunSpec]],
        deadline: float | None,
        at_once: int,
        stop: Callable[[], bool] = lambda: False,
    ) -> list[str]:
        """Train ``groups`` under ``deadline`` until done or ``stop()``; returns the stems of the unfinished runs."""
        works = [self.group(g) for g in groups]
        report = scheduler.run_set(
            works,
            at_once=at_once,
            deadline=deadline,
            sync=lambda: engine.sync(self.prof.device),
            stop=stop,
            checkpoint_s=self.interval_s,
        )
        paused = [f"{r.name}-s{r.seed}" for g in report.paused for r in g.live()]
        return paused + [s.stem for g, w in zip(groups, works, strict=True) if w in report.not_started for s in g]

    def worker_kwargs(self, data: cdata.CIFAR10 | None) -> dict:
        """What a worker process needs to build its ``RunSet``: the sizes, the choices and times measured here."""
        kw = {k: getattr(self, k) for k in ("prof", "budget", "out", "state", "deterministic", "variant", "progress")}
        return kw | dict(force_probe=False, data=data, costs=self.costs, start_s=self.start_s, left=self.left,
                         interval_s=self.interval_s)  # fmt: skip
