"""Training a CIFAR-10 network with the paper's recipe, counted in iterations.

A :class:`TrainRun` is one network being trained: its model and SGD optimizer, the schedule, the data it
trains and tests on, the history of the results contract and the running sums behind it. Its
:meth:`TrainRun.step` is the one training step of the course (run as it is, compiled, or captured as a CUDA
graph); it advances one step at a time and checkpoints itself (``checkpoint``) with the position of the loader
it trains from (:meth:`TrainRun.feed`), so the loop here (:func:`train_model`) and the engine that steps
several runs together (``engine``) share every line of bookkeeping. On CUDA the dataset lives on the GPU
(``loader.DeviceLoader``) and loss and error sums stay there until a record or checkpoint (no host sync).

    >>> from course_utils import data, models
    >>> run = TrainRun(models.get_model("resnet20"), data.synthetic_cifar10(300, 50),
    ...                Schedule(iterations=2), budget=Budget(test_subset=20), device="cpu")
    >>> run.iteration, run.remaining, run.n_train
    (0, 2, 270)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_utils import data as cdata
from course_utils.budget import Budget, split_data
from course_utils.checkpoint import load_checkpoint, refuse_lost_state, restore, run_state, save_checkpoint
from course_utils.evaluation import error_percent
from course_utils.loader import DeviceLoader
from course_utils.profile import get_device, seed_everything
from course_utils.progress import progress_bar, show
from course_utils.results import write_json
from course_utils.schedule import Schedule
from course_utils.step import (
    device_label,
    device_name,
    make_optimizer,
    on_cuda,
    prepare_model,
    train_step,
    uses_channels_last,
)
from course_utils.transforms import make_normalizer


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the last good checkpoint was kept."""


Step = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x, y) -> loss; updates the run's sums

DEFAULT_BUDGET = Budget()
HISTORY_KEYS = ("iteration", "train_error", "test_error", "lr", "train_loss", "device", "variant")

__all__ = ["TrainRun", "train_model", "NonFiniteLossError", "Step", "DEFAULT_BUDGET", "HISTORY_KEYS"]


class TrainRun:
    """One network in training: model, optimizer, schedule, data, history; resumable from ``checkpoint``.

    Drive it with :meth:`advance` (one step of a given step function, then the bookkeeping:
    lr changes, records, checkpoints). The history holds, every ``budget.eval_every`` iterations
    and at the end, the training error and loss since the last record, the test error, the lr, and
    the device and variant (:attr:`variant`, set by whoever picks the step) that trained the
    iterations since the last record: a run resumed elsewhere may mix CPU fp32, CPU bf16 and a GPU.

    Each checkpoint ``<stem>.pt`` has a sidecar ``<stem>.json``: the run so far in the results
    contract with ``"finished": false``, readable without torch (a run in progress can be drawn).
    """

    def __init__(
        self,
        model: nn.Module,
        data: cdata.CIFAR10,
        schedule: Schedule | None = None,
        *,
        name: str | None = None,
        seed: int = 0,
        budget: Budget = DEFAULT_BUDGET,
        device: str | torch.device | None = None,
        checkpoint: str | Path | None = None,
        deterministic: bool = False,
        normalization: str = "per_pixel",
    ) -> None:
        self.schedule, self.budget, self.seed = schedule or Schedule(), budget, seed
        self.device = get_device(str(device) if device is not None else None)
        self.name, self.model, self.deterministic = name or type(model).__name__, model, deterministic
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.eval_every = min(budget.eval_every, self.schedule.iterations)
        seed_everything(seed, deterministic)
        prepare_model(model, self.device, deterministic)
        split = split_data(data, budget)
        self.train_x, self.train_y = split.train_images, split.train_labels  # stay on the CPU; loaders copy them
        self.test_x, self.test_y = split.test_images.to(self.device), split.test_labels.to(self.device)
        self.normalizer = make_normalizer(normalization, split.train_images)
        self.opt = make_optimizer(model, self.schedule, self.device)
        self.meta = {
            "name": self.name,
            "params": sum(p.numel() for p in model.parameters()),
            "seed": seed,
            "schedule": self.schedule.to_dict(),
            "eval_every": self.eval_every,
            "train_set": budget.train_set,
            "n_train_images": len(split.train_labels),
            "n_test_images": len(split.test_labels),
            "normalization": normalization,
            "data_source": data.source,
        }
        self.history: dict[str, list] = {k: [] for k in HISTORY_KEYS}
        self.variant = "eager"  # the step variant training it now (engine.Group sets it)
        self.label = device_label(self.device)
        self.iteration, self.seen, self.wall_before, self.wall_by_before = 0, 0, 0.0, {}
        self.loss_sum = torch.zeros((), device=self.device)  # sums since the last record, on the device
        self.wrong = torch.zeros((), dtype=torch.int64, device=self.device)
        self.loader_state: dict | None = None  # the loader position read from the checkpoint
        self.loader: DeviceLoader | None = None  # the loader that feeds this run (its position is saved)
        self.saved_at, self._lr, self._t0, self._last_save_t = 0, None, time.perf_counter(), time.perf_counter()
        if self.checkpoint is not None and self.checkpoint.exists():
            restore(self, load_checkpoint(self.checkpoint, expect=self.meta))
        elif self.checkpoint is not None:
            refuse_lost_state(self.checkpoint, self.name)

    # --- state ------------------------------------------------------------------
    @property
    def n_train(self) -> int:
        return len(self.train_y)

    @property
    def remaining(self) -> int:
        return self.schedule.iterations - self.iteration

    @property
    def done(self) -> bool:
        return self.remaining <= 0

    def feed(self, loader: DeviceLoader | None = None) -> DeviceLoader:
        """The loader this run trains from, kept as :attr:`loader` (each checkpoint saves its position) and
        returned: a new one (:meth:`make_loader`), or ``loader``, shared by runs fed the same batches."""
        self.loader = loader if loader is not None else self.make_loader()
        return self.loader

    def make_loader(self) -> DeviceLoader:
        """A new loader of this run's training batches (crop + flip, normalised) on its device, seeded by its seed
        and restored to the checkpoint's position; nothing else changes (to train the run from it: :meth:`feed`)."""
        loader = DeviceLoader(
            self.train_x,
            self.train_y,
            self.schedule.batch_size,
            train=True,
            normalizer=self.normalizer,
            device=self.device,
            seed=self.seed,
            channels_last=uses_channels_last(self.device),
        )
        if self.loader_state is not None:
            loader.load_state_dict(self.loader_state)
        return loader

    def wall_seconds(self) -> float:
        return self.wall_before + time.perf_counter() - self._t0

    def wall_by_device(self) -> dict[str, float]:
        """Seconds of training per device label (``cpu (<processor>)`` or the GPU's name), over every resume."""
        by = dict(self.wall_by_before)
        by[self.label] = round(by.get(self.label, 0.0) + time.perf_counter() - self._t0, 2)
        return by

    @property
    def sidecar(self) -> Path | None:
        """``<stem>.json`` beside the checkpoint: the run so far, readable without torch."""
        return self.checkpoint.with_suffix(".json") if self.checkpoint is not None else None

    def save(self) -> None:
        """Checkpoint now (atomic), after a finiteness check of the running loss, and its sidecar JSON."""
        if self.checkpoint is None:
            return
        if self.loader is None and self.iteration > self.saved_at:
            raise RuntimeError(f"{self.name}: its last steps came from no loader it knows, so no checkpoint could "
                               "resume its batches: train it on run.feed()'s batches, not make_loader()'s")  # fmt: skip
        self.check_finite(self.loss_sum)
        save_checkpoint(self.checkpoint, run_state(self))
        write_json(self.sidecar, self.result(finished=False, iteration=self.iteration))
        self.saved_at, self._last_save_t = self.iteration, time.perf_counter()

    def forget(self) -> None:
        """Delete the checkpoint and its sidecar (the run has finished and its result is written)."""
        for path in (self.checkpoint, self.sidecar):
            if path is not None:
                path.unlink(missing_ok=True)

    # --- stepping ---------------------------------------------------------------
    def set_lr(self, force: bool = False) -> None:
        """Give the optimizer the schedule's lr for the next step (a no-op while it stays the same, unless
        ``force``: a copy of the run with an optimizer of its own)."""
        lr = self.schedule.lr_at(self.iteration)
        if force or lr != self._lr:
            for g in self.opt.param_groups:
                g["lr"] = lr
            self._lr = lr

    def step(
        self, x: torch.Tensor, y: torch.Tensor, model: nn.Module | None = None, bf16: bool | None = None
    ) -> torch.Tensor:
        """One SGD step on ``x (B, 3, 32, 32)``, ``y (B,)`` that adds to the running sums; returns the loss.

        No host sync, so it can be captured as a CUDA graph (``graphs.GraphStep``). ``model``: the module
        to run forward (default: the run's; e.g. its ``torch.compile`` wrapper). ``bf16``: the forward
        pass under bf16 autocast (default: on CUDA only; the ``bf16`` variant asks for it on a CPU).
        """
        loss, logits = train_step(model if model is not None else self.model, self.opt, x, y, bf16)
        self.loss_sum += loss.detach().float()
        self.wrong += (logits.argmax(1) != y).sum()
        return loss

    def advance(self, step: Step, x: torch.Tensor, y: torch.Tensor) -> None:
        """One training step through ``step`` (:meth:`step` or a variant of it) on ``x (B, 3, 32, 32)``,
        ``y (B,)``, then the bookkeeping: lr, records, checkpoints."""
        self.set_lr()
        loss = step(x, y)
        if not on_cuda(self.device):  # on the CPU a check per step costs nothing
            self.check_finite(loss, self.iteration + 1)
        self.iteration += 1
        self.seen += len(y)
        if self.iteration % self.eval_every == 0 or self.done:
            self.record()
        every = self.budget.checkpoint_every
        if self.done or (every and self.iteration % every == 0) or self.save_due():
            self.save()

    def save_due(self) -> bool:
        secs = self.budget.checkpoint_seconds
        return bool(self.checkpoint and secs and time.perf_counter() - self._last_save_t >= secs)

    def record(self) -> None:
        """Append one record to the history (a host sync) and reset the running sums."""
        self.check_finite(self.loss_sum)
        steps = max(1, self.seen // self.schedule.batch_size)
        h = self.history
        h["iteration"].append(self.iteration)
        h["train_loss"].append(self.loss_sum.item() / steps)
        h["train_error"].append(100.0 * self.wrong.item() / max(1, self.seen))
        h["test_error"].append(
            error_percent(self.model, self.test_x, self.test_y, normalizer=self.normalizer, device=self.device)
        )
        h["lr"].append(self.opt.param_groups[0]["lr"])  # the lr the optimizer really used last
        h["device"].append(self.label)
        h["variant"].append(self.variant)
        self.loss_sum.zero_()
        self.wrong.zero_()
        self.seen = 0

    def check_finite(self, value: torch.Tensor, at: int | None = None) -> None:
        if not torch.isfinite(value):
            where = (
                f"the last good checkpoint {self.checkpoint} (iteration {self.saved_at}) was kept"
                if self.checkpoint
                else "no checkpoint was being written"
            )
            raise NonFiniteLossError(
                f"{self.name}: the training loss became {value.item()} by iteration "
                f"{at or self.iteration}; training stopped and {where}. Lower the learning "
                f"rate or check the data: resuming with the same settings would diverge again."
            )

    def result(self, **extra: Any) -> dict[str, Any]:
        """The run's result (``results.RunResult``): identity, data, device, wall clock, history."""
        return {
            "model": self.name,
            **{k: v for k, v in self.meta.items() if k != "name"},
            "device": device_name(self.device),
            "torch_version": str(torch.__version__),
            "deterministic": self.deterministic,
            "wall_seconds": round(self.wall_seconds(), 2),
            "wall_by_device": self.wall_by_device(),
            "variant": self.variant,
            **extra,
            "history": self.history,
        }


def train_model(
    model: nn.Module, data: cdata.CIFAR10, schedule: Schedule | None = None, *, progress: bool = True, **options: Any
) -> dict[str, Any]:
    """Train ``model`` on CIFAR-10 with ``schedule`` (default: the paper's) and return its result dict.

    ``options`` are :class:`TrainRun`'s (name, seed, budget, device, checkpoint, deterministic, normalization).
    With ``checkpoint`` (a path) it resumes from that file when it exists and writes it as the budget says and at
    the end. ``seed`` fixes the batches and augmentation; the initial weights are the model's as passed in: call
    ``profile.seed_everything(seed)`` *before* building the model for a reproducible start (``fig6`` does). Raises
    :class:`NonFiniteLossError` on a NaN/inf loss and ``checkpoint.CheckpointError`` on a checkpoint of another run.
    """
    run = TrainRun(model, data, schedule, **options)
    with progress_bar(run, progress) as bar:
        for x, y in run.feed().batches(run.remaining):  # x (B, 3, 32, 32) float, y (B,) int64, on the device
            run.advance(run.step, x, y)
            show(run, bar)
    return run.result()
