"""Which step variant is fastest and still correct, per network: the probe behind ``--engine auto``.

Each variant (``engine.VARIANTS``) steps a *copy* of each run for a few seconds on the same
batches; its first loss must match an eager step's from the same weights and batch (bf16
tolerance), and the fastest correct variant wins (:func:`pick`). :func:`probe_table` prints it.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from course_utils import engine
from course_utils.loader import DeviceLoader
from course_utils.step import make_optimizer, uses_channels_last
from course_utils.train import TrainRun

__all__ = ["ProbeRow", "probe", "pick", "probe_table"]


@dataclass
class ProbeRow:
    """One variant of one network: correct (first loss matches eager) and its measured speed."""

    name: str
    variant: str
    steps_per_s: float = 0.0
    first_loss: float = math.nan
    eager_loss: float = math.nan
    ok: bool = False
    note: str = ""


def _probe_one(run: TrainRun, variant: str, batches: list, seconds: float, eager_loss: float) -> ProbeRow:
    row = ProbeRow(run.name, variant, eager_loss=eager_loss)
    try:
        step = engine.make_step(run, variant, batches[0])
        row.first_loss = float(step(*batches[0]).detach())  # a host sync: fine while probing
        # bf16 autocast: losses from the same weights and batch agree to about 1e-2
        row.ok = abs(row.first_loss - eager_loss) <= 0.02 + 0.02 * abs(eager_loss)
        if not row.ok:
            row.note = "first loss differs from eager"
        for b in batches[1:3]:  # compile / capture costs stay out of the timing
            step(*b)
        engine.sync(run.device)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds or n < 3:
            step(*batches[n % len(batches)])
            n += 1
            if n % 10 == 0:
                engine.sync(run.device)
        engine.sync(run.device)
        row.steps_per_s = n / (time.perf_counter() - t0)
    except Exception as err:
        row.ok, row.note = False, f"{type(err).__name__}: {str(err).splitlines()[0][:80] if str(err) else ''}"
    return row


def probe(runs: Sequence[TrainRun], variants: Iterable[str], seconds: float = 3.0) -> list[ProbeRow]:
    """Time each variant on a copy of each run (same weights, same batches; the runs are untouched).

    Correctness: the variant's first loss must match an eager step's from the same weights and batch.
    ``compile`` is the fallback of ``graphs``: it is only tried when graphs fail for that net.
    """
    rows = []
    for run in runs:
        loader = DeviceLoader(
            run.train_x,
            run.train_y,
            run.schedule.batch_size,
            normalizer=run.normalizer,
            device=run.device,
            seed=run.seed,
            channels_last=uses_channels_last(run.device),
        )
        batches = list(loader.batches(8))
        eager_copy = _copy_run(run)
        eager_copy.set_lr()
        eager_loss = float(eager_copy.eager_step(*batches[0]).detach())
        mine: list[ProbeRow] = []
        for v in variants:
            if v == "compile" and any(r.ok and r.variant == "graphs" for r in mine):
                # compile is the fallback for when graphs fail: compiling costs a minute per net of scarce GPU time
                mine.append(ProbeRow(run.name, v, eager_loss=eager_loss, note="not tried: graphs work"))
                continue
            trial = _copy_run(run)
            trial.set_lr()
            mine.append(_probe_one(trial, v, batches, seconds, eager_loss))
        rows += mine
    return rows


def _copy_run(run: TrainRun) -> TrainRun:
    """A shallow copy of ``run`` with its own model, optimizer and sums (the original stays untouched)."""
    trial = copy.copy(run)
    trial.model = copy.deepcopy(run.model)
    trial.opt = make_optimizer(trial.model, run.schedule, run.device)
    trial.opt.load_state_dict(run.opt.state_dict())
    trial.loss_sum, trial.wrong = run.loss_sum.clone(), run.wrong.clone()
    trial._lr = None
    return trial


def pick(rows: Sequence[ProbeRow]) -> dict[str, str]:
    """The fastest correct variant per network (eager when nothing else is correct)."""
    best: dict[str, ProbeRow] = {}
    for r in rows:
        if r.ok and (r.name not in best or r.steps_per_s > best[r.name].steps_per_s):
            best[r.name] = r
    return {r.name: best[r.name].variant if r.name in best else "eager" for r in rows}


def probe_table(rows: Sequence[ProbeRow], iterations: dict[str, int]) -> str:
    """The probe as a text table, with each network's projected training time alone."""
    lines = [f"{'network':>16} {'variant':>8} {'steps/s':>9} {'first loss':>11} {'eager':>7}  ok  projected"]
    for r in rows:
        proj = iterations.get(r.name, 0) / r.steps_per_s if r.steps_per_s > 0 else math.inf
        lines.append(
            f"{r.name:>16} {r.variant:>8} {r.steps_per_s:>9.1f} {r.first_loss:>11.4f} "
            f"{r.eager_loss:>7.4f}  {'yes' if r.ok else 'NO ':>3} {_minutes(proj):>9}  {r.note}"
        )
    return "\n".join(lines)


def _minutes(seconds: float) -> str:
    return "-" if not math.isfinite(seconds) else f"{seconds / 60:.1f} min"
