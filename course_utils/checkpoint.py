"""Checkpoints: atomic writes that survive a SIGKILL, and reads that check the run they belong to.

A checkpoint is a dict of tensors, numbers, strings and lists/dicts of them, loaded with
``weights_only=True`` (no pickled code runs): a training run's whole state (:func:`run_state`, read back by
:func:`restore`: weights, momentum, BN statistics, RNG, the loader's position, the history, the running
sums). :func:`save_checkpoint` writes a temp file, fsyncs it and renames it over the old one, so a crash
leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "CKPT_FORMAT",
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "run_state",
    "restore",
    "refuse_lost_state",
]


CKPT_FORMAT = 1


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: unreadable, or written by a different run."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically: a temp file in the same folder, fsync, then ``os.replace``.

    A crash (even SIGKILL) leaves either the old checkpoint or the new one, never half of one.
    ``state`` must hold only tensors, numbers, strings, None and lists/dicts of them
    (what ``torch.load(..., weights_only=True)`` accepts).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, expect: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read a checkpoint (``weights_only=True``, tensors on the CPU) and check it belongs to this run.

    ``expect``: the run's identity (model name, schedule, seed, data sizes...); any field that
    differs raises :class:`CheckpointError`, which names the file and what to do.
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"{path}: cannot read this checkpoint ({type(err).__name__}: {err}). It is corrupt or not a "
            f"course_utils checkpoint. Delete it to restart this run from iteration 0 (nothing else is lost), "
            f"or put back a good copy to resume."
        ) from err
    if not isinstance(state, dict) or state.get("format") != CKPT_FORMAT or "meta" not in state:
        raise CheckpointError(
            f"{path}: not a course_utils.train checkpoint (format {CKPT_FORMAT}). "
            f"Delete it to restart this run from iteration 0."
        )
    diffs = [
        f"{k}: checkpoint has {state['meta'].get(k)!r}, this run has {v!r}"
        for k, v in (expect or {}).items()
        if state["meta"].get(k) != v
    ]
    if diffs:
        raise CheckpointError(
            f"{path} belongs to a different run ({'; '.join(diffs)}). Pass the matching model and schedule "
            f"to resume it, or delete the file (or write to another folder) to start this run from scratch."
        )
    return state


def refuse_lost_state(checkpoint: Path, name: str) -> None:
    """Raise ``CheckpointError`` where the sidecar ``<stem>.json`` says a run is under way but its training
    state ``checkpoint`` is missing: such a run is never silently restarted from iteration 0."""
    side = Path(checkpoint).with_suffix(".json")
    if Path(checkpoint).exists() or not side.exists():
        return
    done = json.loads(side.read_text(encoding="utf-8")).get("history", {}).get("iteration", [])
    raise CheckpointError(
        f"{side} says {name} is in progress ({done[-1] if done else 0:,} iterations recorded), but its training "
        f"state {checkpoint} is missing. Put it back (e.g. git checkout -- {checkpoint}) to resume; to really "
        f"restart this run from iteration 0, delete {side}."
    )


def run_state(run: Any) -> dict[str, Any]:
    """The checkpoint of a ``train.TrainRun``: everything that makes a resumed run equal an uninterrupted one."""
    return {
        "format": CKPT_FORMAT,
        "meta": run.meta,
        "iteration": run.iteration,
        "model": run.model.state_dict(),
        "optimizer": run.opt.state_dict(),
        "loader": run.loader.state_dict() if run.loader is not None else run.loader_state,
        "history": run.history,
        "rng_cpu": torch.get_rng_state(),
        "loss_sum": run.loss_sum.cpu(),
        "wrong": run.wrong.cpu(),
        "seen": run.seen,
        "wall_seconds": run.wall_seconds(),
        "wall_by_device": run.wall_by_device(),
    }


def restore(run: Any, st: dict[str, Any]) -> None:
    """Put the checkpoint ``st`` (:func:`run_state`, read by :func:`load_checkpoint`) back into ``run``."""
    try:
        run.model.load_state_dict(st["model"])
        run.opt.load_state_dict(st["optimizer"])
    except (RuntimeError, ValueError, KeyError) as err:
        raise CheckpointError(
            f"{run.checkpoint}: its weights do not fit this model ({err}). Delete it to "
            f"restart from iteration 0, or pass the model it was written for."
        ) from err
    torch.set_rng_state(st["rng_cpu"])
    run.iteration, run.wall_before, run.history = st["iteration"], st["wall_seconds"], st["history"]
    run.wall_by_before = st.get("wall_by_device", {"unknown": st["wall_seconds"]})
    for k in ("device", "variant"):  # a checkpoint of the first format edition did not record them
        run.history.setdefault(k, ["unknown"] * len(run.history["iteration"]))
    run.seen, run.saved_at, run.loader_state = st["seen"], st["iteration"], st["loader"]
    run.loss_sum.copy_(st["loss_sum"])
    run.wrong.copy_(st["wrong"])
