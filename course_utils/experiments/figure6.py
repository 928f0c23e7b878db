"""Fig. 6 of He et al. 2015: plain-20/56 vs ResNet-20/56 (and more), trained with the paper's recipe.

``python -m course_utils.experiments fig6`` (``cli``) calls :func:`fig6`, which reads top to bottom:

1. the call: every number checked once, here; the profile's sizes, the folders, the set in the order of work
   (``fig6_set.work_order``), a run whose result file exists skipped; the order printed as it will run;
2. each unit of work measured once (``runset.measure``): built, resumed from its training state, each net's
   variant chosen (the probe, once per net and machine, kept in ``probe.json``), its step and evaluation
   timed; from these the estimate of the whole set, and how to stop;
3. :func:`train`, the loop: start the next unit while it is worth starting, step every active group, save a run
   the moment it finishes (``runset.finish``: fp16 weights, result file, state deleted), report a run that
   fails and go on, and at the time limit or on Ctrl-C (``stopping``) checkpoint every unfinished run between
   two steps. With ``jobs`` > 1 on a CPU each run trains in a worker process of its own
   (``pool.run_pool``), through the same loop;
4. ``summary.json`` lists every run: finished, skipped, failed or unfinished (``summary``).

The step it calls is ``train.TrainRun.advance`` (``engine.Group.step`` feeds it). Results follow
``course_utils.results``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import torch

from course_utils import data as cdata
from course_utils import engine, estimate, stopping
from course_utils.budget import Budget, test_subset_of
from course_utils.checkpoint import refuse_lost_state
from course_utils.experiments import runset
from course_utils.experiments.lease import fits_bundle
from course_utils.experiments.pool import run_pool, stop_requested, torch_threads
from course_utils.experiments.runset import RunSet, Unit
from course_utils.experiments.summary import entry, summarise
from course_utils.fig6_set import RunSpec, run_name, work_order
from course_utils.models import canonical_names
from course_utils.paths import runs_dir
from course_utils.profile import Profile, get_profile
from course_utils.step import device_name

__all__ = ["auto_jobs", "default_out", "fig6", "train"]

AUTO_JOBS_ITERATIONS = 200  # below this, spawning processes (seconds each) costs more than it saves


def default_out(profile_name: str) -> Path:
    """Where ``fig6`` writes unless told: ``runs/fig6-<profile>`` (git-ignored), never the committed results."""
    return runs_dir(f"fig6-{profile_name}")


def auto_jobs(device: torch.device, runs: int, iterations: int) -> int:
    """Processes for ``jobs=None``: 2 on a CPU of 2+ cores for 2+ runs of ``AUTO_JOBS_ITERATIONS``+,
    outside a notebook (which would not show the processes' progress bars); else 1."""
    shown = "ipykernel" not in sys.modules
    pays = runs > 1 and iterations >= AUTO_JOBS_ITERATIONS and (os.cpu_count() or 1) >= 2
    return 2 if device.type == "cpu" and pays and shown else 1


def fig6(
    models: Sequence[str] | str | None = None, *, seeds: Sequence[int] | int = (0,), iterations: int | None = None,
    prefix: bool = False, train_set: str | None = None, test_images: int | str | None = None,
    eval_every: int | None = None, checkpoint_every: int | None = None, time_limit: float | None = None,
    variant: str = "auto", probe_again: bool = False, at_once: int | None = None, out: str | Path | None = None,
    state: str | Path | None = None, device: str | None = None, profile: str | Profile | None = None,
    jobs: int | None = None, deterministic: bool | None = None, progress: bool = True,
    data: cdata.CIFAR10 | None = None,
) -> dict:  # fmt: skip
    """Train the Fig. 6 set (default: the profile's models) in the order of work; write and return ``summary.json``.

    The options are the command line's, by the same names (``cli.FIG6_OPTIONS``, ``python -m
    course_utils.experiments fig6 --help``): ``time_limit`` is ``--time-limit``, ``probe_again`` ``--probe-again``;
    ``data``: a ``CIFAR10`` to train on instead of the profile's. The time limit and Ctrl-C stop it between two
    steps with every run saved (``summary["complete"]`` is False; Ctrl-C raises ``stopping.Stopped`` once the summary
    is written), and the same call resumes. ``out`` defaults to ``runs/fig6-<profile>`` (git-ignored), ``state`` to
    ``<out>/checkpoints``; the committed folders (``results/fig6``, ``results/fig6-state``) are written only when named.
    """
    # 1. the call: each number checked once, where it enters; the set in the order of work, finished runs skipped
    t0 = time.perf_counter()
    deadline = t0 + time_limit if _checked(iterations, jobs, at_once, time_limit) else None
    prof = profile if isinstance(profile, Profile) else get_profile(profile, device)
    prof = prof.with_device(device) if device is not None else prof
    cuda = prof.device.type == "cuda"
    if (jobs or 1) > 1 and cuda:
        raise ValueError("jobs > 1 (--jobs) is for CPUs; on a GPU the runs share one process (--at-once)")
    engine.candidates(prof.device, variant)  # an unknown or impossible variant is refused before any work
    names, seeds = canonical_names(models or prof.models), [seeds] if isinstance(seeds, int) else list(seeds)
    iterations = int(iterations or prof.iterations)
    jobs = auto_jobs(prof.device, len(names) * len(seeds), iterations) if jobs is None else jobs
    budget = _budget(prof, iterations, eval_every, checkpoint_every, train_set, test_images)
    out = Path(out) if out is not None else default_out(prof.name)
    state = Path(state) if state is not None else out / "checkpoints"
    groups = work_order(names, [int(s) for s in seeds], iterations, prefix)
    print(f"fig6: {sum(map(len, groups))} run(s); profile {prof.name}, device {device_name(prof.device)}, "
          f"{iterations:,} iterations, {budget.train_set} training set -> {out}")  # fmt: skip
    todo, entries = _unfinished(groups, out, state)
    units = tuple((s,) for g in todo for s in g) if jobs > 1 else tuple(tuple(g) for g in todo)
    lanes = jobs if jobs > 1 else at_once or (2 if cuda else 1)
    deterministic = not cuda if deterministic is None else deterministic
    rs = RunSet(prof, budget, out, state, variant, deterministic, progress, probe_again, units, lanes, jobs > 1)
    print(rs.order_text())
    threads = max(1, (os.cpu_count() or 1) // jobs) if rs.processes else torch.get_num_threads()
    with stopping.ctrl_c_stops() as stop:
        # 2. each unit measured once, before any training; the estimate
        loaded = _measure(rs, data, deadline, stop.is_set, threads)
        # 3. train: here, or each run in a worker process of its own
        if rs.processes:
            new, left = _in_processes(rs, data, deadline, stop.is_set, threads)
        else:
            new, left = train(rs, units, loaded, deadline, stop.is_set)
    # 4. the summary
    order = [s.stem for g in groups for s in g]
    summary = summarise(rs, iterations, t0, stop.is_set(), order, entries + new, left)
    if stop.is_set():
        raise stopping.Stopped(_stopped(summary))
    return summary


def train(
    rs: RunSet, units: Sequence[Unit], data: cdata.CIFAR10, deadline: float | None, stop: Callable[[], bool]
) -> tuple[list[dict], list[str]]:
    """Train ``units`` in order, ``rs.lanes`` groups at a time sharing the device, until all are done, ``stop()`` or
    the time limit (``deadline``, a ``time.perf_counter()`` value) nears; every run is saved the moment it finishes,
    every unfinished one is checkpointed at the end. Returns the summary lines of the runs that finished or failed,
    and the stems of the runs left unfinished (paused, or never started)."""
    pending, active, passed, entries, status = list(units), [], [], [], {}
    record_s = max(rs.eval_s.values(), default=0.0)  # the next step may end in an evaluation pass
    margin, round_s, rounds = estimate.END_MARGIN + record_s, 0.0, 0
    try:
        while True:
            while pending and len(active) < rs.lanes and not stop():
                go = _fits(rs, pending[0], active, deadline, margin)
                if go == "wait":
                    break
                unit = pending.pop(0)
                if go == "skip":
                    passed.append(unit)  # it could not finish, and its state would not come back
                    continue
                if not rs.processes:  # a worker's start is said by the parent, as the process starts
                    print(rs.started(unit), flush=True)
                runs = [r for r in runset.build(rs, unit, data) if not r.done]
                status |= {id(r): "resumed" if r.iteration else "trained" for r in runs}
                active.append(engine.Group(runs, runset.choose(rs, runs), rs.progress))
            if not active or stop() or (deadline is not None and time.perf_counter() + margin > deadline):
                break
            t = time.perf_counter()
            for group in active:
                for run, err in group.step():  # the runs that finished or failed in this step, saved at once
                    entries.append(runset.finish(rs, run, status[id(run)]) if err is None else runset.failed(run, err))
            active = [g for g in active if not g.done()]
            rounds += 1
            if deadline is not None and rounds % 10 == 0:
                engine.sync(rs.prof.device)  # so that the host clock is honest
            round_s = max(round_s * 0.99, time.perf_counter() - t)
            margin = max(estimate.END_MARGIN, 3 * round_s) + record_s
    finally:
        for group in active:
            group.pause()
    left = [run_name(r.name, r.seed) for g in active for r in g.live()] + [s.stem for u in passed + pending for s in u]
    return entries, left


def _fits(rs: RunSet, unit: Unit, active: list[engine.Group], deadline: float | None, margin: float) -> str:
    """Whether the next unit starts now ("start"), waits for a free place or a later call ("wait"), or is passed
    over for a later call ("skip": on a GPU, a unit that could not finish and whose state could not come back)."""
    if deadline is None:
        return "start"
    now, need = time.perf_counter(), rs.unit_seconds(unit)
    start_s = rs.start_s.get(runset.key(unit), float("inf"))  # a unit not measured: it does not start in this call
    if not estimate.worth_starting(deadline - now - margin, start_s, need, rs.interval_s):
        return "wait"
    fits = now + sum(g.seconds_left(rs.per_step()) for g in active) + need + margin <= deadline
    if active and not fits:
        return "wait"  # the active groups finish first
    return "skip" if not fits and rs.prof.device.type == "cuda" and not fits_bundle(unit) else "start"


def _unfinished(groups: Sequence[Sequence[RunSpec]], out: Path, state: Path) -> tuple[list[list[RunSpec]], list[dict]]:
    """Each group's unfinished runs (empty groups left out), and the summary lines of the finished ones (skipped).
    A run in progress whose training state is missing stops the call here, before any work."""
    todo, skipped = [], []
    for g in groups:
        done = {s.stem: runset.finished(s, out, state) for s in g}
        new = [s for s in g if done[s.stem] is None]
        for s in new:
            refuse_lost_state(state / f"{s.stem}.pt", s.model)
        skipped += [entry(done[s.stem], "skipped") for s in g if done[s.stem] is not None]
        todo += [new] if new else []
    return todo, skipped


def _may_start(rs: RunSet, unit: Unit, deadline: float | None) -> bool:
    """In a process of its own: is there time to load the data, build ``unit`` and train it, or one checkpoint
    interval of it, before ``deadline``?"""
    if deadline is None:
        return True
    start_s = rs.load_s + rs.start_s.get(runset.key(unit), float("inf"))  # not measured: not in this call
    left = deadline - time.perf_counter() - estimate.END_MARGIN
    return estimate.worth_starting(left, start_s, rs.unit_seconds(unit), rs.interval_s)


def _worker(args: tuple[RunSet, Unit, cdata.CIFAR10 | None, float | None]) -> tuple[list[dict], list[str]]:
    """A worker process (``jobs`` > 1 on a CPU): one run through :func:`train`, stopped between two steps when the
    parent asks (Ctrl-C); the data is what ``fig6`` was given, else the worker loads its own."""
    rs, unit, data, deadline = args
    data = data if data is not None else cdata.load_cifar10(profile=rs.prof)
    return train(replace(rs, lanes=1), [unit], data, deadline, stop_requested)


def _stopped(summary: dict) -> str:
    """The message of a call stopped by Ctrl-C: where each unfinished run stands, and how to go on."""
    at = {e["file"][: -len(".json")]: e for e in summary["runs"] if e["status"] == "unfinished"}
    saved = [f"{stem} at iteration {e['iteration']:,} of {e['iterations']:,}" for stem, e in at.items()]
    waiting = [stem for stem in summary["unfinished"] if stem not in at]
    parts = (["every run that trained saved its state: " + "; ".join(saved)] if saved else []) + (
        ["not started: " + ", ".join(waiting)] if waiting else []
    )
    return f"fig6: stopped by Ctrl-C ({'; '.join(parts) or 'nothing left'}): run the same command again to resume"


def _checked(iterations: int | None, jobs: int | None, at_once: int | None, time_limit: float | None) -> bool:
    """Refuse counts below 1 and a time limit that is not a positive number; returns whether there is a limit."""
    for what, v in (("iterations", iterations), ("jobs", jobs), ("at_once", at_once)):
        if v is not None and int(v) < 1:
            raise ValueError(f"{what} must be a positive whole number, got {v}")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"the time limit must be a positive number of seconds, got {time_limit}")
    return time_limit is not None


def _budget(prof: Profile, iterations: int, eval_every: int | None, checkpoint_every: int | None,
            train_set: str | None, test_images: int | str | None) -> Budget:  # fmt: skip
    """The profile's budget with the sizes the call names (``Budget`` checks them); a record at least at the end."""
    sizes = {"train_set": train_set} if train_set is not None else {}
    sizes |= {"test_subset": test_subset_of(test_images)} if test_images is not None else {}
    every = min(prof.eval_every if eval_every is None else int(eval_every), iterations)
    return Budget.of(prof, eval_every=every, checkpoint_every=checkpoint_every, **sizes)


def _measure(
    rs: RunSet, data: cdata.CIFAR10 | None, deadline: float | None, stop: Callable[[], bool], threads: int
) -> cdata.CIFAR10 | None:
    """The data loaded (timed), each unit measured on ``threads`` threads (``runset.measure``), the estimate said;
    returns the data."""
    t = time.perf_counter()
    data = data if data is not None or not rs.units else cdata.load_cifar10(profile=rs.prof)
    rs.load_s = time.perf_counter() - t
    with torch_threads(threads):
        measured = bool(rs.units) and runset.measure(rs, data, deadline, stop)
    why = "nothing to train" if not rs.units else "Ctrl-C or the time limit came before every net was timed"
    print(runset.estimate_lines(rs, deadline) if measured else f"fig6: no estimate: {why}")
    return data


def _in_processes(
    rs: RunSet, data: cdata.CIFAR10 | None, deadline: float | None, stop: Callable[[], bool], threads: int
) -> tuple[list[dict], list[str]]:
    """Each run of ``rs`` in a worker process of ``threads`` threads, ``rs.lanes`` at once, started in the order of
    work while :func:`_may_start` says there is time (``data``: what ``fig6`` was given, else each worker loads its
    own). Returns what :func:`train` returns."""
    done, never = run_pool(rs.units, _worker, args=lambda u: (rs, u, data, deadline), jobs=rs.lanes, threads=threads,
                           stop=stop, may_start=lambda u: _may_start(rs, u, deadline),
                           on_start=lambda u: print(rs.started(u), flush=True))  # fmt: skip
    return [e for es, _ in done for e in es], [stem for _, lft in done for stem in lft] + [
        s.stem for u in never for s in u
    ]
