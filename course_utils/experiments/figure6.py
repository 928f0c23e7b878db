"""Fig. 6 of He et al. 2015: plain-20/56 vs ResNet-20/56 (and a CIFAR ResNet-18), trained with the paper's recipe.

The work comes in a fixed order, so that partial (GPU) time still yields whole results:

1. the four Fig. 6 nets with the first seed, trained together on one shared batch stream;
2. the CIFAR ResNet-18 (first seed only);
3. the other seeds of the four nets, together.

A finished run is never repeated; an interrupted one resumes from its checkpoint. With a
``time_budget`` the set stops cleanly before the budget ends, every run checkpointed, and the
same call resumes it. Results follow ``course_utils.results``.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from course_utils import data as cdata
from course_utils import engine, models, probe, results
from course_utils.budget import Budget, test_subset_of
from course_utils.models import canonical_names
from course_utils.paths import runs_dir
from course_utils.profile import Profile, get_profile, seed_everything
from course_utils.schedule import Schedule, model_depth, recipe_for
from course_utils.step import device_name
from course_utils.train import TrainRun

__all__ = ["FIG6_NETS", "EXTRA_NET", "RunSpec", "plan", "plan_schedule", "default_out", "fig6"]

FIG6_NETS = ("plain20", "plain56", "resnet20", "resnet56")
EXTRA_NET = "resnet18_cifar"


@dataclass(frozen=True)
class RunSpec:
    """One run of the set: a model, a seed, and the schedule it is trained with."""

    model: str
    seed: int
    schedule: Schedule

    @property
    def stem(self) -> str:
        return results.run_name(self.model, self.seed)


def plan_schedule(model: str, iterations: int, prefix: bool = False) -> Schedule:
    """The model's recipe (``schedule.recipe_for``) stretched to ``iterations`` (milestones scale), or with
    ``prefix`` its first ``iterations`` unchanged (milestones stay where the paper puts them)."""
    recipe = recipe_for(model)
    if iterations == recipe.iterations:
        return recipe
    return recipe.prefix(iterations) if prefix else recipe.scaled(iterations)


def plan(names: Sequence[str], seeds: Sequence[int], iterations: int, prefix: bool = False) -> list[list[RunSpec]]:
    """The phases of the set, in the order they are trained (empty phases left out).

    Every net but the CIFAR ResNet-18 runs with every seed; the ResNet-18 runs with the first seed.
    """

    def specs(ms: Sequence[str], ss: Sequence[int]) -> list[RunSpec]:
        return [RunSpec(m, s, plan_schedule(m, iterations, prefix)) for s in ss for m in ms]

    small = [n for n in names if n != EXTRA_NET]
    phases = [
        specs(small, seeds[:1]),
        specs([EXTRA_NET] if EXTRA_NET in names else [], seeds[:1]),
        specs(small, seeds[1:]),
    ]
    return [p for p in phases if p]


def default_out(profile_name: str) -> Path:
    """Where ``fig6`` writes unless told: ``runs/fig6-<profile>`` (git-ignored), never the committed results."""
    return runs_dir(f"fig6-{profile_name}")


def _finished(spec: RunSpec, out: Path) -> results.RunResult | None:
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
        "file": f"{results.run_name(r['model'], r['seed'])}.json",
        "status": status,
        "iterations": r["schedule"]["iterations"],
        "wall_seconds": r["wall_seconds"],
        "engine": r.get("engine", "eager"),
        "final_train_error": h["train_error"][-1],
        "final_test_error": h["test_error"][-1],
    }


def _train_phase(
    specs: list[RunSpec],
    *,
    data: cdata.CIFAR10 | None,
    out: Path,
    prof: Profile,
    budget: Budget,
    deterministic: bool,
    engine_name: str,
    deadline: float | None,
    progress: bool,
) -> tuple[list[dict], list[str]]:
    """Train one phase's runs together; returns (summary entries of finished runs, stems left unfinished)."""
    data = data if data is not None else cdata.load_cifar10(profile=prof)
    runs = []
    for spec in specs:
        seed_everything(spec.seed, deterministic)  # the same initial weights for the same seed
        runs.append(
            TrainRun(
                models.get_model(spec.model),
                data,
                spec.schedule,
                name=spec.model,
                seed=spec.seed,
                budget=budget,
                device=prof.device,
                checkpoint=out / "checkpoints" / f"{spec.stem}.pt",
                deterministic=deterministic,
            )
        )
    status = {id(r): "resumed" if r.iteration else "trained" for r in runs}
    variants, _ = _choose_variants(runs, engine.candidates(prof.device, engine_name), out / "probe.json", False)
    entries = []

    def finish(run: TrainRun) -> None:
        v = engine._variant(variants, run.name)
        res = run.result(
            engine=v,
            depth=model_depth(run.name),
            profile=prof.name,
            experiment="fig6",
            date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        results.save_weights(out / "weights" / f"{results.run_name(run.name, run.seed)}.pt", run.model)  # fp16
        results.write_json(out / f"{results.run_name(run.name, run.seed)}.json", res)  # last: marks it finished
        entries.append(_entry(res, status[id(run)]))

    left = engine.train_together(runs, variants, deadline=deadline, on_finish=finish, progress=progress)
    return entries, [results.run_name(r.name, r.seed) for r in left]


def _choose_variants(
    runs: list[TrainRun], choices: tuple[str, ...], saved: Path, do_probe: bool
) -> tuple[dict[str, str], list[probe.ProbeRow]]:
    """The step variant per net, and the probe rows: probed (and saved to ``saved``) when there is a
    choice or ``do_probe``; a later call reuses the saved choice instead of probing again."""
    known = results.read_json(saved) if saved.exists() and not do_probe else {}
    todo = list({r.name: r for r in runs if r.name not in known}.values())
    rows: list[probe.ProbeRow] = []
    if todo and (do_probe or len(choices) > 1):
        rows = probe.probe(todo, choices)
        print(probe.probe_table(rows, {r.name: r.remaining for r in todo}))
        known |= probe.pick(rows)
        results.write_json(saved, known)
    variants = {r.name: known.get(r.name, choices[0]) for r in runs}
    print("engine: " + ", ".join(f"{k} -> {v}" for k, v in variants.items()))
    return variants, rows


def _probe_set(
    todo: list[list[RunSpec]],
    data: cdata.CIFAR10,
    prof: Profile,
    budget: Budget,
    out: Path,
    engine_name: str,
    do_probe: bool,
) -> None:
    """Probe every net of the remaining set once (one run each, untouched) and project its wall time."""
    choices = engine.candidates(prof.device, engine_name)
    if not (do_probe or len(choices) > 1):
        return
    first = {s.model: s for p in todo for s in p}
    runs = [
        TrainRun(models.get_model(m), data, s.schedule, name=m, seed=s.seed, budget=budget, device=prof.device)
        for m, s in first.items()
    ]
    variants, rows = _choose_variants(runs, choices, out / "probe.json", do_probe)
    speed = {r.name: r.steps_per_s for r in rows if r.variant == variants[r.name] and r.steps_per_s > 0}
    if rows and all(s.model in speed for p in todo for s in p):
        alone = sum(s.schedule.iterations / speed[s.model] for p in todo for s in p)
        print(
            f"projected wall time of the remaining set: {alone / 60:.1f} min with the nets one after another "
            f"(an upper bound: round-robin streams overlap their kernels)"
        )


def _worker(kwargs: dict) -> tuple[list[dict], list[str]]:
    """Process-pool entry point (``jobs`` > 1 on a CPU): one phase in a fresh process."""
    torch.set_num_threads(kwargs.pop("threads"))
    return _train_phase(**kwargs)


def fig6(
    models: Sequence[str] | str | None = None,
    *,
    seeds: Sequence[int] | int = (0,),
    iterations: int | None = None,
    out: str | Path | None = None,
    profile: str | Profile | None = None,
    device: str | None = None,
    eval_every: int | None = None,
    checkpoint_every: int | None = None,
    jobs: int = 1,
    deterministic: bool | None = None,
    engine_name: str = "auto",
    force_probe: bool = False,
    time_budget: float | None = None,
    progress: bool = True,
    data: cdata.CIFAR10 | None = None,
    prefix: bool = False,
    train_set: str | None = None,
    test_images: int | str | None = None,
) -> dict:
    """Run the Fig. 6 set (default: the profile's models) in the order of :func:`plan`; write ``summary.json``.

    ``engine_name``: auto (probe on a GPU and pick per net), graphs, compile or eager. ``force_probe``: print
    the probe table also when there is nothing to choose. ``time_budget``: seconds for the whole call;
    it stops before then with every run checkpointed (``summary["complete"]`` is False).
    ``jobs`` > 1 (CPU only): runs in that many processes, one run at a time each, threads split among them.
    ``deterministic`` (default: on for a CPU) makes resumed runs equal uninterrupted ones bitwise.
    ``prefix``: train the first ``iterations`` of the paper's schedule (lr milestones unchanged) instead of
    stretching it. ``train_set`` ("split" or "all") and ``test_images`` (a count, or "all" for the 10,000)
    override the profile's. ``out`` defaults to the profile's own scratch folder ``runs/fig6-<profile>``;
    the committed folders (``results/fig6``, ``results/fig6-cpu``) are written only when named.
    """
    if iterations is not None and int(iterations) < 1:
        raise ValueError(f"iterations must be a positive number of steps, got {iterations}")
    if time_budget is not None and not time_budget > 0:
        raise ValueError(f"the time budget must be a positive number of seconds, got {time_budget}")
    if eval_every is not None and int(eval_every) < 1:
        raise ValueError(f"eval_every must be a positive number of iterations, got {eval_every}")
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    t0 = time.perf_counter()
    deadline = t0 + time_budget if time_budget else None
    prof = profile if isinstance(profile, Profile) else get_profile(profile, device)
    prof = prof.with_device(device) if device is not None and isinstance(profile, Profile) else prof
    names = canonical_names(models or prof.models)
    seeds = [seeds] if isinstance(seeds, int) else [int(s) for s in seeds]
    iterations = int(iterations or prof.iterations)
    sizes = {} if train_set is None else {"train_set": train_set}
    if test_images is not None:
        sizes["test_subset"] = test_subset_of(test_images)
    budget = Budget.of(
        prof,
        eval_every=min(int(eval_every or prof.eval_every), iterations),
        checkpoint_every=checkpoint_every,
        **sizes,
    )
    deterministic = prof.device.type != "cuda" if deterministic is None else deterministic
    if jobs > 1 and prof.device.type == "cuda":
        raise ValueError("jobs > 1 (--jobs) is for CPUs; on a GPU the runs share one process (round-robin streams)")
    out = Path(out) if out is not None else default_out(prof.name)
    phases = plan(names, seeds, iterations, prefix)
    print(
        f"fig6: {sum(map(len, phases))} run(s) in {len(phases)} phase(s) "
        f"{' | '.join(', '.join(s.stem for s in p) for p in phases)}; profile {prof.name}, device "
        f"{device_name(prof.device)}, {iterations:,} iterations, {budget.train_set} training set -> {out}"
    )
    entries, left = [], []
    todo = []
    for phase in phases:
        new = []
        for spec in phase:
            done = _finished(spec, out)
            entries.append(_entry(done, "skipped")) if done is not None else new.append(spec)
        if new:
            todo.append(new)
    if todo and data is None and jobs == 1:  # worker processes load their own copy
        data = cdata.load_cifar10(profile=prof)
    if todo and jobs == 1:
        _probe_set(todo, data, prof, budget, out, engine_name, force_probe)
    common = dict(
        data=data,
        out=out,
        prof=prof,
        budget=budget,
        deterministic=deterministic,
        engine_name=engine_name,
        deadline=deadline,
        progress=progress,
    )
    if jobs > 1:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            specs = sorted((s for p in todo for s in p), key=lambda s: -model_depth(s.model))  # longest first
            for e, lft in pool.map(_worker, [dict(common, specs=[s], threads=threads) for s in specs]):
                entries, left = entries + e, left + lft
    else:
        for phase in todo:
            e, lft = _train_phase(phase, **common)
            entries, left = entries + e, left + lft
    order = [s.stem for p in phases for s in p]
    entries.sort(key=lambda e: order.index(results.run_name(e["model"], e["seed"])))
    summary = {
        "experiment": "fig6",
        "profile": prof.name,
        "device": device_name(prof.device),
        "torch_version": str(torch.__version__),
        "iterations": iterations,
        "train_set": budget.train_set,
        "jobs": jobs,
        "engine": engine_name,
        "complete": not left,
        "unfinished": left,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "total_wall_seconds": round(time.perf_counter() - t0, 2),
        "runs": entries,
    }
    previous = results.read_json(out / "summary.json") if (out / "summary.json").exists() else {}
    calls = previous.get("call_wall_seconds", []) if previous.get("iterations") == iterations else []
    calls = calls + [summary["total_wall_seconds"]] if todo or not calls else calls
    summary.update(call_wall_seconds=calls, total_wall_seconds=round(sum(calls), 2))  # a resumed set adds up
    results.write_json(out / "summary.json", summary)
    for e in entries:
        print(
            f"  {e['model']:>15} s{e['seed']}: train err {e['final_train_error']:6.2f}%  "
            f"test err {e['final_test_error']:6.2f}%  ({e['status']}, {e['engine']}, {e['wall_seconds']:.0f} s)"
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
