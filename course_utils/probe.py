"""Is a step variant correct, and how fast is it, per network: the probe behind ``--variant auto``.

A variant is checked on a *copy* of the run (its own weights and momentum) against an eager copy:
both take ``CHECK_STEPS`` steps from the same state on the same batches, and they must agree on every
loss, on the error counts, and on the parameters and BN buffers after the steps (the update itself is
compared, not only the first forward pass). The update must agree within 10%; for the CPU ``bf16``
variant, within three times the *bf16 floor*: how far fp32 eager itself moves when only its input
images are rounded to bf16 (the losses get three times the floor's loss gap on top of 0.02 + 2%).

From a trained state the floor is small and the check sharp (ResNet-20 after 2,204 iterations: bf16
moves the 5-step update by 3%). From a fresh start a net with BN is chaotic, a plain net most (its
gradient explodes with depth): rounding the inputs alone moves plain-20's 5-step update by about 100%
and ResNet-20's by about 40% on CIFAR-10, as much as the whole bf16 step does. There the check rests
on the losses and error counts, and the bf16 curves (``results/fig6-cpu-bf16``) are the proof over
thousands of steps. A correct variant is then timed for ``seconds``. :func:`pick` takes the fastest
correct variant (graphs on a GPU, bf16 on a CPU with native bf16, where each is faster than eager;
eager where they fail or are slower); :func:`probe_table` prints the rows.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch

from course_utils import engine, evaluation
from course_utils.step import make_optimizer
from course_utils.train import TrainRun

__all__ = [
    "CHECK_STEPS",
    "UPDATE_TOLERANCE",
    "FLOOR_FACTOR",
    "ProbeRow",
    "state_vector",
    "bf16_floor",
    "probe",
    "step_seconds",
    "eval_seconds",
    "pick",
    "probe_table",
]

CHECK_STEPS = 5
UPDATE_TOLERANCE = 0.1  # the update gap accepted for a variant that computes in eager's precision
FLOOR_FACTOR = 3.0  # the bf16 variant: its update gap at most this times the bf16 floor


@dataclass
class ProbeRow:
    """One variant of one network: how far it is from eager after the check steps, and its speed."""

    name: str
    variant: str
    steps_per_s: float = 0.0
    loss_gap: float = math.nan  # the largest |loss - eager loss| over the check steps
    wrong: tuple[int, int] = (0, 0)  # misclassified training images in the check steps: (variant, eager)
    update_gap: float = math.nan  # |update - eager update| / |eager update|: parameters, BN buffers (the worse)
    tolerance: float = UPDATE_TOLERANCE  # the largest update gap accepted (bf16: three times the bf16 floor)
    loss_slack: float = 0.0  # bf16: three times the bf16 floor's loss gap, allowed on top of 0.02 + 2%
    ok: bool = False
    note: str = ""


def state_vector(run: TrainRun) -> tuple[torch.Tensor, torch.Tensor]:
    """The run's parameters and its buffers (BN statistics), each flattened into one fp64 vector."""
    return tuple(
        torch.cat([t.detach().double().flatten() for t in ts]) for ts in (run.model.parameters(), run.model.buffers())
    )


def _gap(update: tuple, eager: tuple) -> float:
    """The larger of |update - eager update| / |eager update| for the parameters and for the buffers."""
    return max(float((u - e).norm() / e.norm().clamp_min(1e-12)) for u, e in zip(update, eager, strict=True))


def _steps(run: TrainRun, step, batches: list) -> tuple[list[float], int]:
    wrong0, losses = int(run.wrong), []
    for b in batches:
        losses.append(float(step(*b).detach()))  # a host sync per step: fine while probing
    return losses, int(run.wrong) - wrong0


def _check(row: ProbeRow, losses: list[float], eager: list[float], wrong: int, eager_wrong: int, n: int) -> None:
    row.loss_gap = max(abs(a - b) for a, b in zip(losses, eager, strict=True))
    row.wrong = (wrong, eager_wrong)
    bad = []
    if not all(abs(a - b) <= 0.02 + 0.02 * abs(b) + row.loss_slack for a, b in zip(losses, eager, strict=True)):
        bad.append("losses differ from eager")
    if abs(wrong - eager_wrong) > 2 + 0.02 * n:
        bad.append("error counts differ from eager")
    if not row.update_gap <= row.tolerance:
        bad.append("the update differs from eager's")
    row.ok, row.note = not bad, "; ".join(bad)


def _probe_one(
    run: TrainRun,
    variant: str,
    batches: list,
    seconds: float,
    eager: tuple,
    graphs: Callable | None,
    floor: tuple[float, float] = (0.0, 0.0),
) -> ProbeRow:
    tolerance = max(UPDATE_TOLERANCE, FLOOR_FACTOR * floor[0])
    row = ProbeRow(run.name, variant, tolerance=tolerance, loss_slack=FLOOR_FACTOR * floor[1])
    eager_losses, eager_wrong, eager_update, before = eager
    try:
        trial = _copy_run(run)
        step = engine.make_step(trial, variant, batches[0], graphs=graphs() if graphs else None)
        losses, wrong = _steps(trial, step, batches[:CHECK_STEPS])
        update = tuple(a - b for a, b in zip(state_vector(trial), before, strict=True))
        row.update_gap = _gap(update, eager_update)
        _check(row, losses, eager_losses, wrong, eager_wrong, CHECK_STEPS * len(batches[0][1]))
        row.steps_per_s = _timed(step, batches, run.device, seconds)
    except Exception as err:  # a variant that cannot run on this machine is passed over, with why
        row.ok, row.note = False, f"{type(err).__name__}: {str(err).splitlines()[0][:80] if str(err) else ''}"
    return row


def _timed(step: Callable, batches: list, device: torch.device, seconds: float) -> float:
    """Steps per second of ``step`` over ``batches`` (cycled) for ``seconds``, at least 3 steps."""
    engine.sync(device)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n < 3:
        step(*batches[n % len(batches)])
        n += 1
        if n % 10 == 0:
            engine.sync(device)
    engine.sync(device)
    return n / (time.perf_counter() - t0)


def step_seconds(run: TrainRun, variant: str, seconds: float = 0.5, graphs: Callable | None = None) -> float:
    """Seconds per training step of ``variant`` for ``run``, timed on a copy (the run is untouched) after one
    step of warm-up: where the probe did not time a net (nothing to choose, or its choice already made)."""
    trial = _copy_run(run)
    batches = list(trial.make_loader().batches(4))
    step = engine.make_step(trial, variant, batches[0], graphs=graphs() if graphs else None)
    step(*batches[0])  # the first step allocates and picks its kernels
    return 1 / _timed(step, batches, run.device, seconds)


def eval_seconds(run: TrainRun, images: int = 1000) -> float:
    """Seconds of one evaluation pass of ``run`` (a record: its test images), timed on its first ``images`` test
    images after a small warm-up and scaled to all of them; the model is left as it was (eval mode, no grad)."""
    x, y = run.test_x[:images], run.test_y[:images]
    evaluation.error_percent(run.model, x[:16], y[:16], normalizer=run.normalizer, device=run.device)
    t0 = time.perf_counter()
    evaluation.error_percent(run.model, x, y, normalizer=run.normalizer, device=run.device)  # ends in a host sync
    return (time.perf_counter() - t0) * len(run.test_y) / len(y)


def probe(
    runs: Sequence[TrainRun], variants: Iterable[str], seconds: float = 0.5, graphs: Callable | None = None
) -> list[ProbeRow]:
    """Check and time ``variants`` on copies of each run; the runs are untouched.

    Every variant is timed, eager included, so that :func:`pick` can take the fastest correct one. ``graphs``:
    a factory of graph capturers for the ``graphs`` variant (default: CUDA graphs; the tests pass a CPU
    stand-in).
    """
    rows, variants = [], list(variants)
    for run in runs:
        batches = list(_copy_run(run).make_loader().batches(CHECK_STEPS + 3))
        ref = _copy_run(run)
        before = state_vector(ref)
        eager_losses, eager_wrong = _steps(ref, ref.step, batches[:CHECK_STEPS])
        eager = (
            eager_losses,
            eager_wrong,
            tuple(a - b for a, b in zip(state_vector(ref), before, strict=True)),
            before,
        )
        floor = bf16_floor(run, batches[:CHECK_STEPS], eager) if "bf16" in variants else (0.0, 0.0)
        for v in variants:
            rows.append(_probe_one(run, v, batches, seconds, eager, graphs, floor if v == "bf16" else (0.0, 0.0)))
    return rows


def bf16_floor(run: TrainRun, batches: list, eager: tuple) -> tuple[float, float]:
    """The update gap and the largest loss gap of fp32 eager on ``batches`` whose images are rounded to bf16,
    against fp32 eager on the images as they are: the least any bf16 step must differ by (``eager``: as
    :func:`probe` makes it)."""
    ref = _copy_run(run)
    before = state_vector(ref)
    losses, _ = _steps(ref, ref.step, [(x.bfloat16().to(x.dtype), y) for x, y in batches])
    update = _gap(tuple(a - b for a, b in zip(state_vector(ref), before, strict=True)), eager[2])
    return update, max(abs(a - b) for a, b in zip(losses, eager[0], strict=True))


def _copy_run(run: TrainRun) -> TrainRun:
    """A shallow copy of ``run`` with its own model, optimizer and sums (the original stays untouched)."""
    trial = copy.copy(run)
    trial.model = copy.deepcopy(run.model)
    trial.opt = make_optimizer(trial.model, run.schedule, run.device)
    trial.opt.load_state_dict(copy.deepcopy(run.opt.state_dict()))  # its own momentum: load_state_dict shares tensors
    trial.loss_sum, trial.wrong = run.loss_sum.clone(), run.wrong.clone()
    trial.set_lr(force=True)  # its own optimizer: the lr set now, whatever the original's last was
    return trial


def pick(rows: Sequence[ProbeRow]) -> dict[str, str]:
    """The fastest correct variant per network (eager when none is correct; the first probed on a tie)."""
    best: dict[str, ProbeRow] = {}
    for r in rows:
        if r.ok and (r.name not in best or r.steps_per_s > best[r.name].steps_per_s):
            best[r.name] = r
    return {r.name: best[r.name].variant if r.name in best else "eager" for r in rows}


def probe_table(rows: Sequence[ProbeRow], iterations: dict[str, int]) -> str:
    """The probe as a text table, with each network's projected training time alone."""
    lines = [
        f"{'network':>16} {'variant':>8} {'steps/s':>9} {'loss gap':>9} {'update gap':>10} {'(at most)':>9} "
        f"{'wrong':>9}  ok  projected"
    ]
    for r in rows:
        proj = iterations.get(r.name, 0) / r.steps_per_s if r.steps_per_s > 0 else math.inf
        lines.append(
            f"{r.name:>16} {r.variant:>8} {r.steps_per_s:>9.1f} {r.loss_gap:>9.2e} {r.update_gap:>10.2e} "
            f"{r.tolerance:>9.2f} "
            f"{r.wrong[0]:>4}/{r.wrong[1]:<4}  {'yes' if r.ok else 'NO ':>3} {_minutes(proj):>9}  {r.note}"
        )
    return "\n".join(lines)


def _minutes(seconds: float) -> str:
    return "-" if not math.isfinite(seconds) else f"{seconds / 60:.1f} min"
