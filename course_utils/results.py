"""The results contract: what a finished training run leaves behind, and how to read it back.

A run of an experiment writes, in its folder (``results/fig6/`` for our whole-schedule run,
``results/fig6-cpu/`` for the committed CPU reference run, ``runs/...`` for live runs):

- ``<model>-s<seed>.json``: a :class:`RunResult` (written last: its presence marks the run finished);
- ``weights/<model>-s<seed>.pt``: the final ``state_dict`` (fp16 for committed files, loads with
  ``weights_only=True``);
- ``summary.json``: the set of runs, its wall-clock time (``total_wall_seconds``) and whether it is complete;
- ``checkpoints/``: resumable state (never committed), or for the whole-schedule run, which is carried
  forward stretch by stretch on any machine, ``results/fig6-state/`` (committed): ``<stem>.pt`` and its
  sidecar ``<stem>.json``, the run so far in this contract with ``"finished": false``.

:func:`committed_fig6` is the one loader the notebooks use for finished runs: the whole-schedule run when
present, else the CPU reference run; :func:`in_progress` reads the runs under way, and :func:`reached`
says how far they are. :func:`describe` says in one line which one a figure shows. File stems come
from ``fig6_set.run_name`` (``resnet56-s0``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

import torch
from torch import nn

from course_utils import models
from course_utils.checkpoint import save_checkpoint
from course_utils.fig6_set import FOLDERS, run_name
from course_utils.paths import repo_root, results_dir
from course_utils.schedule import Schedule, recipe_for

__all__ = [
    "History",
    "RunResult",
    "REQUIRED",
    "write_json",
    "read_json",
    "save_weights",
    "load_state_dict",
    "load_results",
    "load_weights",
    "REFERENCE_EVAL_EVERY",
    "folder_problem",
    "committed_fig6",
    "STATE_FOLDER",
    "in_progress",
    "reached",
    "done",
    "describe",
    "missing_fields",
]


class History(TypedDict):
    """Records, one entry per ``eval_every`` iterations and one at the end (all lists of equal length)."""

    iteration: list[int]  # iterations done at the record
    train_error: list[float]  # % of training images misclassified since the previous record (augmented, train mode)
    test_error: list[float]  # % of test images misclassified (eval mode) at the record
    lr: list[float]  # the lr the optimizer used for the last step before the record
    train_loss: list[float]  # mean training loss since the previous record
    device: list[str]  # what trained the iterations since the previous record: "cpu (<processor>)" or a GPU
    variant: list[str]  # ... and how: eager (fp32 on a CPU), bf16, compile or graphs ("unknown": not recorded)


class RunResult(TypedDict, total=False):
    """One finished run (``<model>-s<seed>.json``)."""

    model: str  # a name ``models.get_model`` accepts, e.g. "resnet56"
    params: int
    seed: int
    schedule: dict  # ``schedule.Schedule.to_dict()``
    train_set: str  # "split" (45k of the 45k/5k split) or "all" (all 50k)
    n_train_images: int  # images trained on
    n_test_images: int  # test images per record (10,000 = the whole test set)
    eval_every: int
    normalization: str  # "per_pixel" (the paper) or "per_channel"
    data_source: str  # e.g. "CIFAR-10, JPEG q75 mirror"
    device: str  # the GPU's name, or "cpu"
    torch_version: str
    deterministic: bool
    variant: str  # the step variant chosen for the run (the last one, where it changed): graphs, compile, bf16, eager
    wall_seconds: float  # training time of this run (shared with the runs trained beside it)
    wall_by_device: dict  # the same, per device label (a run carried forward on several machines)
    finished: bool  # False in the sidecar of a run in progress (``results/fig6-state``); absent when finished
    iteration: int  # the sidecar's: iterations done so far
    depth: int
    profile: str
    experiment: str
    date: str  # ISO 8601, UTC
    test_error_full: float  # optional: the final weights on all 10,000 test images (``fig6 evaluate``)
    history: History


REQUIRED = (
    "model",
    "seed",
    "schedule",
    "n_train_images",
    "n_test_images",
    "data_source",
    "device",
    "wall_seconds",
    "history",
)
REFERENCE_EVAL_EVERY = 391  # the CPU reference run records once per epoch of 50k images, as the public curves
STATE_FOLDER = "fig6-state"  # under results/: the state of the whole-schedule run's unfinished runs


def missing_fields(result: dict) -> list[str]:
    """The :data:`REQUIRED` fields a result lacks (empty for a valid one)."""
    return [k for k in REQUIRED if k not in result]


def write_json(path: str | Path, obj: Any) -> Path:
    """Atomic JSON write: a temp file in the same folder, then ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def save_weights(path: str | Path, model_or_state: nn.Module | dict, *, half: bool = True) -> Path:
    """Write a ``state_dict`` atomically to the CPU, floating tensors as fp16 (``half``) or fp32.

    BatchNorm's running statistics stay fp32 (a few numbers per channel): a deep plain net's running
    variances reach 1e6, beyond fp16's 65,504; so does any other tensor that would not fit fp16.
    """
    state = model_or_state.state_dict() if isinstance(model_or_state, nn.Module) else model_or_state
    out = {}
    for k, v in state.items():
        v = v.detach().to("cpu")
        if v.is_floating_point():
            fits = half and not k.endswith(("running_mean", "running_var")) and v.abs().max().item() < 6e4
            v = v.to(torch.float16 if fits else torch.float32)
        out[k] = v.contiguous()
    save_checkpoint(path, out)
    return Path(path)


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A saved ``state_dict`` with floating tensors back in fp32 (safe load: ``weights_only=True``)."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def load_results(folder: str | Path, seed: int | None = 0) -> dict[str, RunResult]:
    """The finished runs in ``folder``: ``{model: result}`` for one ``seed``, or ``{"model-sN": result}``
    for every seed when ``seed=None``. Empty when the folder holds none."""
    found: dict[str, RunResult] = {}
    for path in sorted(Path(folder).glob("*-s*.json")):
        r = read_json(path)
        if not isinstance(r, dict) or missing_fields(r):
            continue
        if seed is None:
            found[path.stem] = r
        elif r.get("seed") == seed:
            found[r["model"]] = r
    return found


def load_weights(model_name: str, seed: int = 0, folder: str | Path | None = None) -> nn.Module | None:
    """The trained ``model_name`` from ``<folder>/weights/<model>-s<seed>.pt`` in eval mode; None if absent."""
    path = Path(folder or results_dir("fig6")) / "weights" / f"{run_name(model_name, seed)}.pt"
    if not path.exists():
        return None
    net = models.get_model(model_name)
    net.load_state_dict(load_state_dict(path))
    return net.eval()


def folder_problem(folder_name: str, result: dict) -> str | None:
    """Why ``result`` cannot stand in the committed folder ``folder_name`` (None when it can).

    ``fig6`` is our whole-schedule run: the paper's whole schedule (64k iterations for the CIFAR nets) on all
    50k training images, on any device (a run may be carried forward on several). ``fig6-cpu`` is the CPU
    reference run: an exact prefix of the paper's schedule on all 50k training images, the whole test set
    every 391 iterations. Any other folder is not a committed one.
    """
    sched, recipe = Schedule.from_dict(result["schedule"]), recipe_for(result["model"])
    if folder_name == "fig6":
        if sched != recipe or result.get("train_set") != "all":
            return (
                f"{result['model']} ran {sched.iterations:,} iterations on the {result.get('train_set')} training "
                f"set, not the paper's whole schedule ({recipe.iterations:,} iterations) on all 50k images"
            )
        return None
    if folder_name == "fig6-cpu":
        ok = (
            sched.is_prefix_of(recipe)
            and result.get("train_set") == "all"
            and result.get("n_test_images") == 10_000
            and result.get("eval_every") == REFERENCE_EVAL_EVERY
        )
        why = "a prefix of the paper's schedule on all 50k images, the whole test set every 391 iterations"
        return None if ok else f"{result['model']} is not {why}"
    return f"{folder_name!r} is not a committed fig6 folder ({', '.join(FOLDERS)})"


def committed_fig6(
    names: Sequence[str],
    seed: int = 0,
    *,
    root: str | Path | None = None,
    folders: Sequence[str] = FOLDERS,
    need_weights: bool = False,
) -> tuple[Path, dict[str, RunResult]] | None:
    """The first committed fig6 folder that holds every run of ``names`` (and their weights when
    ``need_weights``): ``(folder, {model: result})``; None when no folder holds them all.

    The order of ``folders`` is the order of preference: the whole-schedule run, then the CPU reference run.
    A folder counts only when its results say they are what it stands for (:func:`folder_problem`): a
    student's own shortened run written into ``results/fig6`` is not presented as the whole-schedule run.
    """
    base = Path(root) if root is not None else results_dir()
    for name in folders:
        folder = base / name
        found = {m: r for m, r in load_results(folder, seed).items() if folder_problem(name, r) is None}
        if all(n in found for n in names) and (
            not need_weights or all((folder / "weights" / f"{run_name(n, seed)}.pt").is_file() for n in names)
        ):
            return folder, {n: found[n] for n in names}
    return None


def in_progress(names: Sequence[str], seed: int = 0, *, root: str | Path | None = None) -> dict[str, RunResult]:
    """The whole-schedule runs of ``names`` under way: ``{model: sidecar}`` from ``results/fig6-state/``
    (read without torch; ``"finished": false``, history as far as it has reached). A run already finished
    (its result in ``results/fig6/``) or not started is left out."""
    base = Path(root) if root is not None else results_dir()
    found: dict[str, RunResult] = {}
    for name in names:
        side = base / STATE_FOLDER / f"{run_name(name, seed)}.json"
        if side.is_file() and not (base / "fig6" / side.name).is_file():
            r = read_json(side)
            if not missing_fields(r) and r.get("finished") is False and folder_problem("fig6", r) is None:
                found[name] = r
    return found


def done(result: RunResult | dict) -> int:
    """Iterations a run has trained: the sidecar's count while in progress, else its whole schedule."""
    return result.get("iteration", result["schedule"]["iterations"])


def reached(result: RunResult | dict) -> str:
    """How far a run has come and on what: ``"20,000 of 64,000 iterations, cpu (AMD EPYC) bf16"``
    (the devices and variants of its records, in order, each named once)."""
    h, its = result["history"], result["schedule"]["iterations"]
    pairs = zip(h.get("device", []), h.get("variant", []), strict=True)
    how = ", ".join(dict.fromkeys(f"{d} {'fp32' if v == 'eager' and d.startswith('cpu') else v}" for d, v in pairs))
    return f"{done(result):,} of {its:,} iterations" + (f", {how}" if how else "")


def describe(result: RunResult | dict, folder: str | Path | None = None) -> str:
    """One line that says what a figure or table shows: where, on what, how long, on which data."""
    where = ""
    if folder is not None:
        p = Path(folder).resolve()
        where = (p.relative_to(repo_root()).as_posix() if p.is_relative_to(repo_root()) else str(p)) + ": "
    its = result["schedule"]["iterations"]
    n = result["n_train_images"]
    if result.get("origin") == "public":
        return f"{result['label']}, not ours: {its:,} iterations, {n:,} training images, data: {result['data_source']}"
    return (
        f"{where}{its:,} iterations on {result.get('device', '?')}, {n:,} training images, "
        f"data: {result.get('data_source', '?')}"
    )
