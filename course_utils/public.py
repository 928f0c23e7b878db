"""The public full-schedule curves (a-martyn/resnet, BSD-3) in the results contract, and reading runs against them.

Fig. 6 needs 64k iterations; a short run shows only its first part. The per-epoch curves of a
public reproduction of the whole schedule (``results/reference/a-martyn-resnet/``, its README
gives provenance and licence) say what that first part looks like in a full run: a result
dict per net, like any run of ours, but labelled as that public run (``origin``).

    >>> r = load_public()["resnet56"]
    >>> r["history"]["iteration"][:2], r["n_test_images"], r["origin"]
    ([391, 782], 10000, 'public')
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from course_utils.paths import results_dir
from course_utils.schedule import Schedule

__all__ = [
    "PUBLIC_RUN",
    "EPOCH_ITERATIONS",
    "public_dir",
    "load_public",
    "value_at",
    "compare_with_public",
]

PUBLIC_RUN = "a-martyn/resnet"  # github.com/a-martyn/resnet, commit bdbeaee5 (results/*.csv)
EPOCH_ITERATIONS = 391  # 50,000 images / batch 128, the last partial batch kept
_FILES = {f"{kind}{d}": f"{'plainnet' if kind == 'plain' else 'resnet'}{d}.csv" for kind in ("plain", "resnet")
          for d in (20, 32, 44, 56)}  # fmt: skip
_LR_DROPS = (83, 124)  # first epoch (0-based) at lr 0.01 and at 0.001: where its training error drops


def public_dir() -> Path:
    """``results/reference/a-martyn-resnet``: the eight CSVs, their LICENSE and README."""
    return results_dir("reference") / "a-martyn-resnet"


def _read(path: Path, model: str) -> dict:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    epochs = [int(r["epoch"]) for r in rows]
    if epochs != list(range(len(rows))):
        raise ValueError(f"{path}: epochs must run 0, 1, 2, ... without gaps")
    milestones = tuple(e * EPOCH_ITERATIONS for e in _LR_DROPS)
    sched = Schedule(milestones=milestones, iterations=len(rows) * EPOCH_ITERATIONS)
    its = [(e + 1) * EPOCH_ITERATIONS for e in epochs]  # epoch e is recorded after its last iteration
    return {
        "model": model,
        "seed": 0,
        "origin": "public",
        "label": f"public run ({PUBLIC_RUN})",
        "schedule": sched.to_dict(),
        "train_set": "all",
        "n_train_images": 50_000,
        "n_test_images": 10_000,
        "eval_every": EPOCH_ITERATIONS,
        "normalization": "per_channel",
        "data_source": "CIFAR-10, official PNG images",
        "device": f"unknown ({PUBLIC_RUN})",
        "wall_seconds": None,
        "history": {
            "iteration": its,
            "train_error": [100 * float(r["train_err"]) for r in rows],
            "test_error": [100 * float(r["test_err"]) for r in rows],
            "lr": [sched.lr_at(i - 1) for i in its],
            "train_loss": [float(r["train_loss"]) for r in rows],
        },
    }


def load_public(names: Sequence[str] | None = None, folder: str | Path | None = None) -> dict[str, dict]:
    """``{model: result}`` for the public run's nets (default: all eight: plain20 ... resnet56).

    Raises a ``ValueError`` for a net it does not hold (it has no ResNet-110 and no CIFAR ResNet-18).
    """
    base = Path(folder) if folder is not None else public_dir()
    names = list(names) if names is not None else list(_FILES)
    unknown = [n for n in names if n not in _FILES]
    if unknown:
        raise ValueError(f"the public run has no {', '.join(unknown)}; it holds: {', '.join(_FILES)}")
    return {n: _read(base / _FILES[n], n) for n in names}


def value_at(result: dict, iteration: int, kind: str = "test") -> float | None:
    """``result``'s ``kind`` ("train" or "test") error at the record of ``iteration``; None if it has none."""
    h = result["history"]
    return h[f"{kind}_error"][h["iteration"].index(iteration)] if iteration in h["iteration"] else None


def compare_with_public(ours: dict, public: dict) -> list[dict]:
    """One row per iteration at which both have a record: ``{iteration, epoch, ours, public, diff}``
    (test error, %; ``diff`` = ours - public, in points)."""
    rows = []
    for it in ours["history"]["iteration"]:
        theirs = value_at(public, it)
        if theirs is None:
            continue
        mine = value_at(ours, it)
        rows.append({"iteration": it, "epoch": it // EPOCH_ITERATIONS, "ours": mine, "public": theirs,
                     "diff": mine - theirs})  # fmt: skip
    return rows
