"""Fig. 6 of He et al. 2015: plain-20/56 vs ResNet-20/56 (and more), trained with the paper's recipe.

``python -m course_utils.experiments fig6`` (``cli``) calls :func:`fig6`, which reads top to bottom:

1. the set is sized: profile, budget, and the groups in the order of work (``fig6_set.work_order``);
   a run whose result file exists is finished and skipped;
2. the order of work is printed, as it will run (``fig6_set.WorkOrder``: groups, or runs in processes);
3. each unit is built once before training (``runset.RunSet.measure``): resumed from its training state in the
   ``state`` folder (default ``<out>/checkpoints``), the variant of each net chosen by the probe (probed
   once per device, kept in ``probe.json`` beside the state, so a resumed set does not probe again on the
   same machine), and each net's step and evaluation pass timed where the probe did not; from these
   times, and the iterations each run has left, the estimate of the whole set, and how to stop;
4. ``scheduler.run_set`` (or, with ``jobs`` > 1 on a CPU, ``pool.in_processes``: one run per process of one
   thread) trains the units under the time budget in that order; a run that finishes writes its fp16
   weights and result file at once (``RunSet.done``) and its state is deleted, a run that fails is
   reported and the others go on; at the budget, or on Ctrl-C (``stopping``), every unfinished run is
   checkpointed between two steps (with a sidecar ``<stem>.json`` that draws it in progress without torch);
5. ``summary.json`` lists every run: finished, skipped, failed or unfinished (``summary``).

Results follow ``course_utils.results``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from course_utils import data as cdata
from course_utils import engine, stopping
from course_utils.budget import Budget, test_subset_of
from course_utils.experiments.pool import in_processes, torch_threads
from course_utils.experiments.runset import RunSet
from course_utils.experiments.summary import Call, summarise
from course_utils.fig6_set import WorkOrder, work_order
from course_utils.models import canonical_names
from course_utils.paths import runs_dir
from course_utils.profile import Profile, get_profile
from course_utils.step import device_name

__all__ = ["auto_jobs", "default_out", "fig6"]

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
    models: Sequence[str] | str | None = None,
    *,
    seeds: Sequence[int] | int = (0,),
    iterations: int | None = None,
    prefix: bool = False,
    train_set: str | None = None,
    test_images: int | str | None = None,
    eval_every: int | None = None,
    checkpoint_every: int | None = None,
    time_budget: float | None = None,
    variant: str = "auto",
    probe: bool = False,
    at_once: int | None = None,
    out: str | Path | None = None,
    state: str | Path | None = None,
    device: str | None = None,
    profile: str | Profile | None = None,
    jobs: int | None = None,
    deterministic: bool | None = None,
    progress: bool = True,
    data: cdata.CIFAR10 | None = None,
) -> dict:
    """Train the Fig. 6 set (default: the profile's models) in the order of work; write ``summary.json``.

    ``variant``: auto (on a GPU: CUDA graphs where the probe finds them correct, else eager; on a CPU with native
    bf16: bf16 where the probe finds it equal to fp32 and faster, else eager), graphs, compile, bf16 or eager.
    ``probe``: probe (and print the table) also when there is nothing to choose. ``time_budget``: seconds
    for the whole call; it stops before then with every run checkpointed (``summary["complete"]`` is False) and
    the same call resumes. Ctrl-C stops it the same way, between two steps, and raises ``stopping.Stopped`` once
    the summary is written. ``at_once``: groups trained at the same time (default 2 on a GPU, 1 elsewhere).
    ``jobs`` > 1 (CPU only): runs in that many processes, the threads split among them; the default (None) is
    :func:`auto_jobs` (two one-thread nets beat one net on two threads for the deep nets, as
    ``results/bench/bench-cpu.json`` measures). ``deterministic`` (default: on for a CPU) makes resumed runs
    equal uninterrupted ones bitwise. ``prefix``: train the first ``iterations`` of the paper's schedule (lr
    milestones unchanged) instead of stretching it. ``train_set`` ("split" or "all") and ``test_images`` (a
    count, or "all") override the profile's. ``state``: the folder of the unfinished runs' training state
    (``<stem>.pt`` and its sidecar ``<stem>.json``; default ``<out>/checkpoints``; the whole-schedule run keeps
    it in ``results/fig6-state``). ``out`` defaults to ``runs/fig6-<profile>``; the committed folders
    (``results/fig6``, ``results/fig6-cpu``) are written only when named.
    """
    for what, v in (("iterations", iterations), ("eval_every", eval_every), ("jobs", jobs), ("at_once", at_once)):
        if v is not None and int(v) < 1:
            raise ValueError(f"{what} must be a positive whole number, got {v}")
    if time_budget is not None and not time_budget > 0:
        raise ValueError(f"the time budget must be a positive number of seconds, got {time_budget}")
    t0 = time.perf_counter()
    deadline = t0 + time_budget if time_budget else None
    prof = profile if isinstance(profile, Profile) else get_profile(profile, device)
    prof = prof.with_device(device) if device is not None and isinstance(profile, Profile) else prof
    if jobs is not None and jobs > 1 and prof.device.type == "cuda":
        raise ValueError("jobs > 1 (--jobs) is for CPUs; on a GPU the runs share one process (--at-once)")
    engine.candidates(prof.device, variant)  # an unknown or impossible variant is refused before any work
    names = canonical_names(models or prof.models)
    seeds = [seeds] if isinstance(seeds, int) else [int(s) for s in seeds]
    iterations = int(iterations or prof.iterations)
    jobs = auto_jobs(prof.device, len(names) * len(seeds), iterations) if jobs is None else jobs
    sizes = {} if train_set is None else {"train_set": train_set}
    if test_images is not None:
        sizes["test_subset"] = test_subset_of(test_images)
    budget = Budget.of(
        prof, eval_every=min(int(eval_every or prof.eval_every), iterations), checkpoint_every=checkpoint_every, **sizes
    )
    deterministic = prof.device.type != "cuda" if deterministic is None else deterministic
    out = Path(out) if out is not None else default_out(prof.name)
    state = Path(state) if state is not None else out / "checkpoints"
    groups = work_order(names, seeds, iterations, prefix)
    print(
        f"fig6: {sum(map(len, groups))} run(s); profile {prof.name}, device {device_name(prof.device)}, "
        f"{iterations:,} iterations, {budget.train_set} training set -> {out}"
    )
    the_set = RunSet(prof, budget, out, state, deterministic, variant, probe, progress, data)
    todo = the_set.todo(groups)
    order = the_set.order = WorkOrder.of(todo, jobs, at_once or (2 if prof.device.type == "cuda" else 1))
    print(order.text())
    threads = max(1, (os.cpu_count() or 1) // jobs) if order.processes else torch.get_num_threads()
    with stopping.ctrl_c_stops() as stop:
        with torch_threads(threads):
            measured = bool(order.units) and the_set.measure(order, deadline, stop)
        why = "nothing to train" if not order.units else "Ctrl-C or the time budget came before every net was timed"
        print(the_set.estimate_lines(order, deadline) if measured else f"fig6: no estimate: {why}")
        if order.processes:
            the_set.data = data  # the workers load their own; the parent's copy is not needed any more
            left = in_processes(the_set, order, deadline, threads, stop, data)
        else:
            left = the_set.train(order.units, deadline, order.lanes, stop)
    call = Call(prof, out, state, budget.train_set, variant, jobs, iterations, t0, bool(todo), stop())
    summary = summarise(call, [s.stem for g in groups for s in g], the_set.entries, left)
    if stop():
        raise stopping.Stopped(_stopped(summary))
    return summary


def _stopped(summary: dict) -> str:
    """The message of a call stopped by Ctrl-C: where each unfinished run stands, and how to go on."""
    at = {e["file"][: -len(".json")]: e for e in summary["runs"] if e["status"] == "unfinished"}
    saved = [f"{stem} at iteration {e['iteration']:,} of {e['iterations']:,}" for stem, e in at.items()]
    waiting = [stem for stem in summary["unfinished"] if stem not in at]
    parts = (["every run that trained saved its state: " + "; ".join(saved)] if saved else []) + (
        ["not started: " + ", ".join(waiting)] if waiting else []
    )
    return f"fig6: stopped by Ctrl-C ({'; '.join(parts) or 'nothing left'}): run the same command again to resume"
