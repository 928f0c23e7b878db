"""Checkpoints: atomic writes that survive a SIGKILL, and reads that check the run they belong to.

A checkpoint is a dict of tensors, numbers, strings and lists/dicts of them, loaded with
``weights_only=True`` (no pickled code runs). :func:`save_checkpoint` writes a temp file,
fsyncs it and renames it over the old one, so a crash leaves the old file or the new one,
never half of one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

__all__ = ["CKPT_FORMAT", "CheckpointError", "save_checkpoint", "load_checkpoint", "refuse_lost_state"]


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
