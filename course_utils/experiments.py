"""Named experiments and their command line.

``fig6`` reproduces Fig. 6 of He et al. 2015: plain-20/56 and ResNet-20/56 (and the CIFAR
ResNet-18) trained with the paper's recipe, sized by the profile (gpu: the full 64k
iterations; cpu: a shortened schedule for a 2-core CPU; smoke: seconds)::

    python -m course_utils.experiments fig6 --models resnet20,resnet56 --out results/fig6

Every run writes ``<out>/<model>-s<seed>.json`` (the results contract), its final weights
``<out>/weights/<model>-s<seed>.pt`` and checkpoints in ``<out>/checkpoints/`` (git-ignored).
A finished run is skipped; a partial one resumes from its checkpoint. ``<out>/summary.json``
lists the runs and the wall-clock time of the whole set.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from course_utils import data as cdata
from course_utils import models, train
from course_utils.profile import Profile, get_profile, seed_everything

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "results" / "fig6"


def run_name(model: str, seed: int) -> str:
    return f"{model}-s{seed}"


def _write_json(path: Path, obj: Any) -> None:
    """Atomic JSON write (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def plan_schedule(model: str, iterations: int) -> train.Schedule:
    """The model's recipe (``train.recipe_for``) stretched to ``iterations`` (milestones scale)."""
    recipe = train.recipe_for(model)
    return recipe if iterations == recipe.iterations else recipe.scaled(iterations)


def run_one(model: str, seed: int, *, schedule: train.Schedule, out: Path, profile: Profile,
            eval_every: int, checkpoint_every: int | None, deterministic: bool, compile: bool | str = False,
            progress: bool = True, position: int | None = None, data: cdata.CIFAR10 | None = None) -> dict:
    """Train (or resume, or skip) one run of an experiment; returns its summary entry."""
    out = Path(out)
    stem = run_name(model, seed)
    json_path, ckpt = out / f"{stem}.json", out / "checkpoints" / f"{stem}.pt"
    if json_path.exists():
        done = json.loads(json_path.read_text(encoding="utf-8"))
        if done.get("schedule") != schedule.to_dict():
            raise ValueError(f"{json_path} holds a finished run with schedule {done.get('schedule')}, but this call "
                             f"asks for {schedule.to_dict()}. Delete it (and {ckpt}) to retrain, or use another --out.")
        return _entry(done, json_path, "skipped")
    status = "resumed" if ckpt.exists() else "trained"
    data = data if data is not None else cdata.load_cifar10(profile=profile)
    seed_everything(seed, deterministic)  # the same initial weights for the same seed
    net = models.get_model(model)
    result = train.train_model(net, data, schedule, seed=seed, eval_every=eval_every,
                               eval_images=profile.eval_images, train_images=profile.train_images,
                               device=profile.device, checkpoint=ckpt, checkpoint_every=checkpoint_every,
                               progress=progress, deterministic=deterministic, name=model, compile=compile,
                               position=position)
    result.update(depth=train.model_depth(model), profile=profile.name, experiment="fig6",
                  date=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    weights = {k: v.detach().to("cpu", torch.float32 if v.is_floating_point() else v.dtype).contiguous()
               for k, v in net.state_dict().items()}
    train.save_checkpoint(out / "weights" / f"{stem}.pt", weights)  # atomic, loads with weights_only=True
    _write_json(json_path, result)  # written last: its presence marks the run finished
    return _entry(result, json_path, status)


def _entry(result: dict, path: Path, status: str) -> dict:
    h = result["history"]
    return {"model": result["model"], "seed": result["seed"], "file": path.name, "status": status,
            "iterations": result["schedule"]["iterations"], "wall_seconds": result["wall_seconds"],
            "final_train_error": h["train_error"][-1], "final_test_error": h["test_error"][-1]}


def _worker(kwargs: dict) -> dict:
    """Process-pool entry point: one run in a fresh process (its own CUDA context)."""
    torch.set_num_threads(kwargs.pop("threads"))
    return run_one(**kwargs)


def fig6(models: Sequence[str] | str | None = None, seeds: Sequence[int] | int = (0,), iterations: int | None = None,
         checkpoint_every: int | None = None, out: str | Path = DEFAULT_OUT, profile: str | Profile | None = None,
         *, device: str | None = None, eval_every: int | None = None, jobs: int | None = None,
         deterministic: bool | None = None, compile: bool | str = False, progress: bool = True) -> dict:
    """Run the Fig. 6 set (default: the profile's models) and write ``<out>/summary.json``.

    ``jobs``: runs trained at once, each in its own process (default: 1 on a CPU, where one run
    already uses every core; up to 4 on a GPU, which one small CIFAR net cannot keep busy).
    ``deterministic`` (default: on for a CPU, where it costs nothing) makes resumed runs bitwise equal.
    """
    t0 = time.perf_counter()
    prof = get_profile(profile, device) if not isinstance(profile, Profile) else (
        profile.with_device(device) if device is not None else profile)
    names = _csv(models) if isinstance(models, str) else list(models or prof.models)
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    bad = [m for m in names if m not in models_names()]
    if bad:
        raise ValueError(f"unknown model(s) {bad}; choose from: {', '.join(models_names())}")
    iterations = int(iterations or prof.iterations)
    eval_every = min(int(eval_every or prof.eval_every), iterations)
    if checkpoint_every is None:  # about ten checkpoints per run, each at a record point
        checkpoint_every = eval_every * max(1, (iterations // 10) // eval_every)
    fast = prof.device.type == "cuda"
    deterministic = (not fast) if deterministic is None else deterministic
    runs = [(m, int(s)) for s in seeds for m in names]
    jobs = max(1, min(len(runs), jobs or (4 if fast else 1)))
    out = Path(out)
    print(f"fig6: {len(runs)} run(s) {', '.join(run_name(*r) for r in runs)}; profile {prof.name}, "
          f"device {train.device_name(prof.device)}, {iterations} iterations, {jobs} at a time -> {out}")
    common = dict(out=out, profile=prof, eval_every=eval_every, checkpoint_every=checkpoint_every,
                  deterministic=deterministic, compile=compile, progress=progress)
    if jobs == 1:
        data = None
        entries = []
        for m, s in runs:
            if data is None and not (out / f"{run_name(m, s)}.json").exists():
                data = cdata.load_cifar10(profile=prof)
            entries.append(run_one(m, s, schedule=plan_schedule(m, iterations), data=data, **common))
    else:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        ctx = multiprocessing.get_context("spawn")  # CUDA cannot be forked
        with ProcessPoolExecutor(jobs, mp_context=ctx) as pool:
            futures = [pool.submit(_worker, dict(model=m, seed=s, schedule=plan_schedule(m, iterations),
                                                 position=i % jobs, threads=threads, **common))
                       for i, (m, s) in enumerate(runs)]
            entries = [f.result() for f in futures]
    summary = {"experiment": "fig6", "profile": prof.name, "device": train.device_name(prof.device),
               "torch_version": torch.__version__, "iterations": iterations, "jobs": jobs,
               "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "total_wall_seconds": round(time.perf_counter() - t0, 2),
               "sum_run_wall_seconds": round(sum(e["wall_seconds"] for e in entries), 2), "runs": entries}
    _write_json(out / "summary.json", summary)
    for e in entries:
        print(f"  {e['model']:>15} s{e['seed']}: train err {e['final_train_error']:6.2f}%  "
              f"test err {e['final_test_error']:6.2f}%  ({e['status']}, {e['wall_seconds']:.0f} s)")
    print(f"fig6: done in {summary['total_wall_seconds']:.0f} s; results in {out}")
    return summary


def models_names() -> tuple[str, ...]:
    return models.MODEL_NAMES


# --- reading results back -------------------------------------------------------

def load_results(folder: str | Path = DEFAULT_OUT, seed: int | None = 0) -> dict[str, dict]:
    """The run results in ``folder``: ``{model: result}`` for one ``seed``, or ``{"model-sN": result}``
    for every seed when ``seed=None``. An empty dict when the folder holds none."""
    folder = Path(folder)
    found: dict[str, dict] = {}
    for path in sorted(folder.glob("*-s*.json")):
        r = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(r, dict) or "history" not in r:
            continue
        if seed is None:
            found[path.stem] = r
        elif r.get("seed") == seed:
            found[r["model"]] = r
    return found


def load_weights(model_name: str, seed: int = 0, folder: str | Path = DEFAULT_OUT) -> nn.Module | None:
    """The trained ``model_name`` from ``<folder>/weights/<model>-s<seed>.pt`` in eval mode; None if absent."""
    path = Path(folder) / "weights" / f"{run_name(model_name, seed)}.pt"
    if not path.exists():
        return None
    net = models.get_model(model_name)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.eval()


# --- command line ----------------------------------------------------------------

def _csv(text: str) -> list[str]:
    return [t for t in text.replace(" ", ",").split(",") if t]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m course_utils.experiments",
                                description="Run a named experiment of the ResNet course.")
    sub = p.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    f = sub.add_parser("fig6", help="He et al. 2015, Fig. 6: plain vs residual nets on CIFAR-10",
                       description="Train the Fig. 6 set with the paper's recipe; sized by $COURSE_PROFILE "
                                   "(gpu: 64k iterations; cpu: shortened; smoke: seconds). Finished runs are "
                                   "skipped, interrupted ones resume from their checkpoint.")
    f.add_argument("--models", type=_csv, default=None, metavar="M1,M2",
                   help="comma-separated model names (default: the profile's set, e.g. "
                        "plain20,plain56,resnet20,resnet56,resnet18_cifar on the gpu profile)")
    f.add_argument("--seeds", type=lambda s: [int(x) for x in _csv(s)], default=[0], metavar="S1,S2",
                   help="comma-separated seeds; one run per model and seed (default: 0)")
    f.add_argument("--iterations", type=int, default=None, metavar="N",
                   help="iterations per run, overriding the profile's; the lr milestones scale with it "
                        "(the paper: 64000, milestones 32000 and 48000)")
    f.add_argument("--eval-every", type=int, default=None, metavar="N",
                   help="iterations between two records of training/test error (default: the profile's)")
    f.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                   help="iterations between two checkpoints (default: about 10 per run); one is always "
                        "written at the end")
    f.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                   help=f"output folder for <model>-s<seed>.json, summary.json, weights/ and checkpoints/ "
                        f"(default: {DEFAULT_OUT.relative_to(REPO)} in the repository)")
    f.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, ...")
    f.add_argument("--profile", default=None, choices=("smoke", "cpu", "gpu"),
                   help="budget profile (default: $COURSE_PROFILE, else gpu with CUDA, cpu without)")
    f.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="runs trained at once, one process each (default: 1 on a CPU, up to 4 on a GPU)")
    f.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=None,
                   help="deterministic kernels; a resumed run then equals an uninterrupted one bitwise "
                        "(default: on for a CPU, off for a GPU, where it is slower)")
    f.add_argument("--compile", nargs="?", const=True, default=False, metavar="MODE",
                   help="torch.compile the models, optionally with a mode (e.g. reduce-overhead for CUDA "
                        "graphs); pays only on a GPU for full-length runs (it compiles for a minute first)")
    f.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        fig6(models=args.models, seeds=args.seeds, iterations=args.iterations,
             checkpoint_every=args.checkpoint_every, out=args.out, profile=args.profile,
             device=None if args.device == "auto" else args.device, eval_every=args.eval_every,
             jobs=args.jobs, deterministic=args.deterministic, compile=args.compile, progress=args.progress)
    except (train.CheckpointError, FloatingPointError, ValueError, cdata.DataNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the last checkpoint is kept; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
