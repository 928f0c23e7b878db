"""Fig. 6 of He et al. 2015: plain-20/56 vs ResNet-20/56 (and more), trained with the paper's recipe.

``python -m course_utils.experiments fig6`` (``cli``) calls :func:`fig6`, which reads top to bottom:

1. the set is sized: profile, budget, and the groups in the order of work (``fig6_set.work_order``);
   a run whose result file exists is finished and skipped;
2. each group becomes an ``engine.Group`` whose runs are built only when it starts (resumed from
   their training state in the ``state`` folder, default ``<out>/checkpoints``), with the variant the
   probe chose for each net (probed once per device, kept in ``probe.json`` beside the state, so a
   resumed set does not probe again on the same machine, and probes anew on another);
3. ``scheduler.run_set`` trains the groups under the time budget; a run that finishes writes its
   fp16 weights and result file at once (:meth:`_Set.done`) and its state is deleted, a run that fails
   is reported and the others go on, and at the budget every unfinished run is checkpointed (with a
   sidecar ``<stem>.json`` that draws it in progress without torch);
4. ``summary.json`` lists every run: finished, skipped, failed or unfinished, with its wall time per device.

With ``jobs`` > 1 on a CPU the runs go to that many processes of one thread each instead (each
process runs step 3 for one run). Results follow ``course_utils.results``.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch

from course_utils import data as cdata
from course_utils import engine, probe, results, scheduler
from course_utils.budget import Budget, test_subset_of
from course_utils.checkpoint import refuse_lost_state
from course_utils.fig6_set import STEP_SECONDS, RunSpec, run_name, work_order
from course_utils.models import canonical_names, get_model
from course_utils.paths import runs_dir
from course_utils.profile import Profile, get_profile, seed_everything
from course_utils.schedule import model_depth
from course_utils.step import device_label, device_name
from course_utils.train import TrainRun

__all__ = ["auto_jobs", "default_out", "fig6"]

AUTO_JOBS_ITERATIONS = 200  # below this, spawning processes (seconds each) costs more than it saves


def default_out(profile_name: str) -> Path:
    """Where ``fig6`` writes unless told: ``runs/fig6-<profile>`` (git-ignored), never the committed results."""
    return runs_dir(f"fig6-{profile_name}")


def _finished(spec: RunSpec, out: Path) -> dict | None:
    """The finished result of ``spec`` in ``out``; refuses one trained with another schedule."""
    path = out / f"{spec.stem}.json"
    if not path.exists():
        return None
    done = results.read_json(path)
    if done.get("schedule") != spec.schedule.to_dict():
        raise ValueError(
            f"{path} holds a finished run with schedule {done.get('schedule')}, but this call "
            f"asks for {spec.schedule.to_dict()}. Delete it (and {out / 'checkpoints'}/{spec.stem}.pt) "
            f"to retrain, or write elsewhere (out=, --out)."
        )
    return done


def _entry(r: dict, status: str) -> dict:
    h = r["history"]
    return {
        "model": r["model"],
        "seed": r["seed"],
        "file": f"{run_name(r['model'], r['seed'])}.json",
        "status": status,
        "iterations": r["schedule"]["iterations"],
        "wall_seconds": r["wall_seconds"],
        "wall_by_device": r.get("wall_by_device", {}),
        "variant": r.get("variant", "eager"),
        "final_train_error": h["train_error"][-1] if h["train_error"] else None,
        "final_test_error": h["test_error"][-1] if h["test_error"] else None,
    }


@dataclass
class _Set:
    """What the groups of one ``fig6`` call share: sizes, data, output folder, the probe's choices."""

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
    step_s: dict[str, float] = field(default_factory=dict)  # seconds per step measured by the probe
    status: dict[str, str] = field(default_factory=dict)  # trained or resumed, per run

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

    def choose(self, runs: list[TrainRun]) -> dict[str, str]:
        """The variant per net: probed once per net and device (when there is a choice, or when asked), kept in
        probe.json under the device's label (another processor or GPU probes anew)."""
        saved, label = self.state / "probe.json", device_label(self.prof.device)
        by_device = results.read_json(saved) if saved.exists() else {}
        known = by_device.get(label, {})
        choices = engine.candidates(self.prof.device, self.variant)
        todo = [r for r in {r.name: r for r in runs}.values() if r.name not in known or self.force_probe]
        if todo and (len(choices) > 1 or self.force_probe):
            rows = probe.probe(todo, choices)
            print(probe.probe_table(rows, {r.name: r.remaining for r in todo}))
            known |= probe.pick(rows)
            self.step_s |= {r.name: 1 / r.steps_per_s for r in rows if r.ok and r.steps_per_s > 0}
            now = results.read_json(saved) if saved.exists() else {}  # another process may have written meanwhile
            results.write_json(saved, {**now, label: {**now.get(label, {}), **known}})
        chosen = {r.name: known.get(r.name, choices[0]) if len(choices) > 1 else choices[0] for r in runs}
        print("variant: " + ", ".join(f"{k} -> {v}" for k, v in chosen.items()))
        return chosen

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
        self.entries.append(_entry(res, self.status[stem]))

    def failed(self, run: TrainRun, err: BaseException) -> None:
        """A run has failed (non-finite loss, an error in its step): reported; its last checkpoint is kept."""
        print(f"fig6: {run.name} s{run.seed} FAILED at iteration {run.iteration}: {err}")
        self.entries.append(
            {"model": run.name, "seed": run.seed, "status": "failed", "iteration": run.iteration, "error": str(err)}
        )

    def group(self, specs: Sequence[RunSpec]) -> engine.Group:
        return engine.Group(
            "+".join(s.stem for s in specs),
            lambda: self.build(specs),
            iterations=max(s.schedule.iterations for s in specs),
            step_s={s.model: self.step_s.get(s.model, STEP_SECONDS.get(s.model, 0.0)) for s in specs},
            choose=self.choose,
            on_done=self.done,
            on_failed=self.failed,
            fits_bundle=self.prof.device.type != "cuda" or scheduler.fits_bundle(specs),
            progress=self.progress,
        )

    def train(self, groups: Sequence[Sequence[RunSpec]], deadline: float | None, at_once: int) -> list[str]:
        """Train ``groups`` under ``deadline``; returns the stems of the runs left unfinished."""
        works = [self.group(g) for g in groups]
        report = scheduler.run_set(
            works, at_once=at_once, deadline=deadline, sync=lambda: engine.sync(self.prof.device)
        )
        paused = [f"{r.name}-s{r.seed}" for g in report.paused for r in g.live()]
        return paused + [s.stem for g, w in zip(groups, works, strict=True) if w in report.not_started for s in g]


_interrupted = False  # in a worker process: Ctrl-C came; the runs queued behind are left for the next call


def _worker(kwargs: dict) -> tuple[list[dict], list[str]]:
    """Process-pool entry point (``jobs`` > 1 on a CPU): one run in a fresh process of one thread."""
    global _interrupted
    torch.set_num_threads(kwargs.pop("threads"))
    spec, deadline = kwargs.pop("spec"), kwargs.pop("deadline")
    if _interrupted:
        return [], [spec.stem]
    s = _Set(**kwargs)
    try:
        left = s.train([[spec]], deadline, at_once=1)
    except KeyboardInterrupt:  # the run is checkpointed (scheduler.run_set pauses it); start no other
        _interrupted = True
        raise
    return s.entries, left


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
    the same call resumes. ``at_once``: groups trained at the same time (default 2 on a GPU, 1 elsewhere).
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
        f"fig6: {sum(map(len, groups))} run(s) in {len(groups)} group(s) "
        f"{' | '.join(', '.join(s.stem for s in g) for g in groups)}; profile {prof.name}, device "
        f"{device_name(prof.device)}, {iterations:,} iterations, {budget.train_set} training set -> {out}"
    )
    the_set = _Set(prof, budget, out, state, deterministic, variant, probe, progress, data)
    todo = []
    for g in groups:
        new = [s for s in g if _finished(s, out) is None]
        for s in new:  # a run in progress without its training state: stop now, before any work
            refuse_lost_state(state / f"{s.stem}.pt", s.model)
        the_set.entries += [_entry(_finished(s, out), "skipped") for s in g if s not in new]
        todo += [new] if new else []
    if jobs > 1:
        kw = dict(prof=prof, budget=budget, out=out, state=state, deterministic=deterministic, variant=variant)
        kw |= dict(force_probe=probe, progress=progress, data=data)
        threads = max(1, (os.cpu_count() or 1) // jobs)
        specs = [s for g in todo for s in g]  # the order of work: under a time budget the first groups finish
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_worker, dict(kw, spec=s, deadline=deadline, threads=threads)) for s in specs]
            try:
                done = [f.result() for f in futures]
            except KeyboardInterrupt:
                for f in futures:
                    f.cancel()  # not started yet: never started
                raise
        the_set.entries += [e for es, _ in done for e in es]
        left = [stem for _, lft in done for stem in lft]
    else:
        left = the_set.train(todo, deadline, at_once or (2 if prof.device.type == "cuda" else 1))
    return _summarise(the_set, groups, left, variant, jobs, iterations, t0, bool(todo))


def _summarise(
    the_set: _Set, groups: list, left: list[str], variant: str, jobs: int, iterations: int, t0: float, trained: bool
) -> dict:
    """Write and print ``summary.json``: every run of the set, finished, skipped, failed or unfinished."""
    out, prof = the_set.out, the_set.prof
    order = [s.stem for g in groups for s in g]
    entries = sorted(the_set.entries, key=lambda e: order.index(run_name(e["model"], e["seed"])))
    failed = [run_name(e["model"], e["seed"]) for e in entries if e["status"] == "failed"]
    for side in [the_set.state / f"{stem}.json" for stem in left]:  # unfinished: how far, on what (its sidecar)
        if side.exists():
            r = results.read_json(side)
            entries.append({**_entry(r, "unfinished"), "iteration": r["iteration"]})
    summary = {
        "experiment": "fig6",
        "profile": prof.name,
        "device": device_name(prof.device),
        "torch_version": str(torch.__version__),
        "iterations": iterations,
        "train_set": the_set.budget.train_set,
        "jobs": jobs,
        "variant_requested": variant,
        "complete": not left and not failed,
        "unfinished": left,
        "failed": failed,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "total_wall_seconds": round(time.perf_counter() - t0, 2),
        "runs": entries,
    }
    previous = results.read_json(out / "summary.json") if (out / "summary.json").exists() else {}
    calls = previous.get("call_wall_seconds", []) if previous.get("iterations") == iterations else []
    calls = calls + [summary["total_wall_seconds"]] if trained or not calls else calls
    summary.update(call_wall_seconds=calls, total_wall_seconds=round(sum(calls), 2))  # a resumed set adds up
    results.write_json(out / "summary.json", summary)
    for e in entries:
        if e["status"] in ("failed", "unfinished"):
            why = f": {e['error']}" if e["status"] == "failed" else f" of {e['iterations']:,} ({e['variant']})"
            print(f"  {e['model']:>15} s{e['seed']}: {e['status'].upper()} at iteration {e['iteration']:,}{why}")
            continue
        print(
            f"  {e['model']:>15} s{e['seed']}: train err {e['final_train_error']:6.2f}%  "
            f"test err {e['final_test_error']:6.2f}%  ({e['status']}, {e['variant']}, {e['wall_seconds']:.0f} s)"
        )
    if left:
        print(
            f"fig6: stopped at the time budget with {len(left)} run(s) unfinished ({', '.join(left)}), all "
            f"checkpointed: run the same command again to resume"
        )
    print(
        f"fig6: {'done' if not left else 'paused'}: this call {calls[-1]:.0f} s, the set so far "
        f"{summary['total_wall_seconds']:.0f} s; results in {out}"
    )
    return summary
