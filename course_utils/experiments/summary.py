"""``summary.json`` of a ``fig6`` call: every run of the set, finished, skipped, failed or unfinished, and the
lines that tell the reader where the set stands (why it stopped, and how to go on)."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import torch

from course_utils import results
from course_utils.fig6_set import run_name
from course_utils.step import device_name

__all__ = ["entry", "summarise"]


def entry(r: dict, status: str) -> dict:
    """A run's line in ``summary.json`` from its result (or its sidecar, for an unfinished run)."""
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


def summarise(
    rs: Any, iterations: int, t0: float, stopped: bool, order: list[str], entries: list[dict], left: list[str]
) -> dict:
    """Write and print ``summary.json`` of the call ``rs`` (``runset.RunSet``), begun at ``t0`` (a
    ``time.perf_counter()`` value) and ``stopped`` by Ctrl-C or not: ``entries`` (finished, skipped, failed) in the
    ``order`` of the set's stems, then the runs ``left`` unfinished, each as far as its sidecar says."""
    entries = sorted(entries, key=lambda e: order.index(run_name(e["model"], e["seed"])))
    failed = [run_name(e["model"], e["seed"]) for e in entries if e["status"] == "failed"]
    for side in [rs.state / f"{stem}.json" for stem in left]:  # unfinished: how far, on what (its sidecar)
        if side.exists():
            r = results.read_json(side)
            entries.append({**entry(r, "unfinished"), "iteration": r["iteration"]})
    summary = {
        "experiment": "fig6",
        "profile": rs.prof.name,
        "device": device_name(rs.prof.device),
        "torch_version": str(torch.__version__),
        "iterations": iterations,
        "train_set": rs.budget.train_set,
        "jobs": rs.lanes if rs.processes else 1,
        "variant_requested": rs.variant,
        "complete": not left and not failed,
        "unfinished": left,
        "failed": failed,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "total_wall_seconds": round(time.perf_counter() - t0, 2),
        "runs": entries,
    }
    previous = results.read_json(rs.out / "summary.json") if (rs.out / "summary.json").exists() else {}
    calls = previous.get("call_wall_seconds", []) if previous.get("iterations") == iterations else []
    calls = calls + [summary["total_wall_seconds"]] if rs.units or not calls else calls  # only skipped: no time
    summary.update(call_wall_seconds=calls, total_wall_seconds=round(sum(calls), 2))  # a resumed set adds up
    results.write_json(rs.out / "summary.json", summary)
    _report(summary, rs.out, stopped, left)
    return summary


def _report(summary: dict, out: Any, stopped: bool, left: list[str]) -> None:
    """The summary as lines: one per run, then why the call stopped and how to go on."""
    for e in summary["runs"]:
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
            f"fig6: stopped {'by Ctrl-C' if stopped else 'at the time limit'} with {len(left)} run(s) "
            f"unfinished ({', '.join(left)}), every one that trained saved: run the same command again to resume"
        )
    calls = summary["call_wall_seconds"]
    print(
        f"fig6: {'done' if not left else 'paused'}: this call {calls[-1]:.0f} s, the set so far "
        f"{summary['total_wall_seconds']:.0f} s; results in {out}"
    )
