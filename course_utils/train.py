"""Training a CIFAR-10 network with the paper's recipe, counted in iterations.

He et al. 2015 (sec. 4.2) train the CIFAR nets with SGD (momentum 0.9,
weight decay 1e-4, batch 128) for 64k iterations, lr 0.1 divided by 10 at
32k and 48k, on a 45k/5k train/val split, with pad-4 crop + flip and the
per-pixel mean subtracted. :func:`train_model` runs that recipe (or any other
:class:`Schedule`), records the history of the results contract, writes
resumable checkpoints and stops on a NaN loss.

The same loop runs everywhere; on CUDA it takes the fast path: the dataset
lives on the GPU (``data.DeviceLoader``), channels_last memory, bf16
autocast, and no host synchronisation inside the step loop (loss and error
sums stay on the device until a record, checkpoint or progress-bar point).

    >>> s = Schedule()
    >>> [s.lr_at(i) for i in (0, 31_999, 32_000, 48_000)]
    [0.1, 0.1, 0.01, 0.001]
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_utils import data as cdata
from course_utils.profile import get_device, seed_everything

__all__ = [
    "Schedule", "paper_schedule", "recipe_for", "RECIPES", "train_model", "train_step", "evaluate", "predict",
    "confusion_matrix", "per_class_error", "NonFiniteLossError", "CheckpointError",
    "save_checkpoint", "load_checkpoint",
]


# --- the schedule -------------------------------------------------------------

@dataclass(frozen=True)
class Schedule:
    """SGD hyper-parameters and a step lr schedule, counted in iterations (minibatches)."""

    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    milestones: tuple[int, ...] = (32_000, 48_000)  # lr /= 10 at each
    iterations: int = 64_000
    warmup_iterations: int = 0  # lr = warmup_lr for iterations [0, warmup_iterations)
    warmup_lr: float = 0.01

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        if self.iterations < 1 or self.batch_size < 1:
            raise ValueError(f"iterations and batch_size must be >= 1, got {self.iterations}, {self.batch_size}")
        if list(self.milestones) != sorted(self.milestones):
            raise ValueError(f"milestones must be increasing, got {self.milestones}")

    def lr_at(self, it: int) -> float:
        """Learning rate of step ``it`` (0-based): warm-up, then lr / 10 per milestone passed."""
        if it < self.warmup_iterations:
            return self.warmup_lr
        return self.lr / 10 ** sum(it >= m for m in self.milestones)

    def scaled(self, iterations: int) -> "Schedule":
        """The same schedule stretched to ``iterations``: milestones and warm-up scale proportionally.

        A warm-up keeps at least one iteration, so a shortened ResNet-110 run still warms up.
        """
        f = iterations / self.iterations
        warm = max(1, round(self.warmup_iterations * f)) if self.warmup_iterations else 0
        return replace(self, iterations=int(iterations), warmup_iterations=warm,
                       milestones=tuple(max(1, round(m * f)) for m in self.milestones))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (the ``schedule`` entry of a result)."""
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Schedule":
        return cls(**{k: (tuple(v) if k == "milestones" else v) for k, v in d.items()})


def model_depth(name: str) -> int:
    """Depth from a model name: ``resnet110`` -> 110, ``resnet18_cifar`` -> 18."""
    m = re.search(r"(\d+)", name)
    if m is None:
        raise ValueError(f"cannot read a depth from model name {name!r} (expected e.g. 'resnet56')")
    return int(m.group(1))


def paper_schedule(model_name: str) -> Schedule:
    """The paper's CIFAR-10 recipe; depth >= 110 warms up at lr 0.01 for 400 iterations."""
    if model_depth(model_name) >= 110:
        return replace(RECIPES["paper"], warmup_iterations=400)
    return RECIPES["paper"]


# Recipes are data: one Schedule each, no code paths.
RECIPES: dict[str, Schedule] = {
    # He et al. 2015, sec. 4.2: 64k iterations = 182 epochs of the 45k split.
    "paper": Schedule(),
    # The CIFAR ResNet-18 (11.2M parameters, 40x ResNet-20) is not in the paper. We use the recipe of
    # the public PyTorch reproductions that reach 93-95% (e.g. kuangliu/pytorch-cifar): SGD lr 0.1,
    # momentum 0.9, batch 128, weight decay 5e-4 -- five times the paper's, because this much wider net
    # overfits CIFAR-10 more -- with a step decay at 50% / 75% of the run. We keep the paper's length
    # (64k iterations, 182 epochs, similar to the 200 epochs of those reproductions) so its curve shares
    # the x-axis of Fig. 6 and the only recipe differences are the weight decay and the width.
    "resnet18_cifar": Schedule(weight_decay=5e-4),
}


def recipe_for(model_name: str) -> Schedule:
    """The schedule a model is trained with in ``fig6``: its own recipe if it has one, else the paper's."""
    return RECIPES.get(model_name) or paper_schedule(model_name)


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the last good checkpoint was kept."""


# --- evaluation ---------------------------------------------------------------

def _fast(device: torch.device) -> bool:
    return device.type == "cuda"


def _eval_logits(model: nn.Module, images: torch.Tensor, normalizer, batch_size: int, device: torch.device):
    """Yield ``(start, logits (b, classes))`` over ``images`` in eval mode (restored afterwards), no grad."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(images), batch_size):
                x = normalizer(images[i:i + batch_size].to(device, non_blocking=True))  # (b, 3, 32, 32) float
                if _fast(device):
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=_fast(device)):
                    yield i, model(x)
    finally:
        model.train(was_training)


def predict(model: nn.Module, images: torch.Tensor, *, normalizer, batch_size: int = 1000,
            device: torch.device | str | None = None) -> torch.Tensor:
    """Logits ``(N, num_classes)`` (float32, CPU) for uint8 ``images (N, 3, 32, 32)``; argmax(1) = predictions."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    return torch.cat([lg.float().cpu() for _, lg in _eval_logits(model, images, normalizer, batch_size, device)])


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, normalizer,
             batch_size: int = 1000, device: torch.device | str | None = None) -> float:
    """Top-1 error in percent of ``model`` on uint8 ``images (N, 3, 32, 32)`` with int64 ``labels (N,)``.

    Runs in eval mode (BN uses its running statistics), restores the previous mode; one host sync at the end.
    """
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"need as many labels as images (> 0), got {len(images)} images, {len(labels)} labels")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    labels = labels.to(device)
    wrong = torch.zeros((), dtype=torch.int64, device=device)
    for i, logits in _eval_logits(model, images, normalizer, batch_size, device):
        wrong += (logits.argmax(1) != labels[i:i + len(logits)]).sum()
    return 100.0 * wrong.item() / len(labels)


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """``(C, C)`` int64 counts: row = true class, column = predicted class."""
    preds, labels = preds.reshape(-1).long().cpu(), labels.reshape(-1).long().cpu()
    if preds.shape != labels.shape:
        raise ValueError(f"preds and labels differ in length: {preds.numel()} vs {labels.numel()}")
    idx = labels * num_classes + preds
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_error(cm: torch.Tensor) -> torch.Tensor:
    """Error in percent per true class ``(C,)`` from a confusion matrix (NaN for an absent class)."""
    cm = cm.double()
    return 100.0 * (1.0 - cm.diag() / cm.sum(1))


# --- checkpoints --------------------------------------------------------------

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
    except Exception as err:  # noqa: BLE001  (truncated zip, pickle error, foreign object: all "corrupt")
        raise CheckpointError(
            f"{path}: cannot read this checkpoint ({type(err).__name__}: {err}). It is corrupt or not a "
            f"course_utils checkpoint. Delete it to restart this run from iteration 0 (nothing else is lost), "
            f"or put back a good copy to resume.") from err
    if not isinstance(state, dict) or state.get("format") != CKPT_FORMAT or "meta" not in state:
        raise CheckpointError(f"{path}: not a course_utils.train checkpoint (format {CKPT_FORMAT}). "
                              f"Delete it to restart this run from iteration 0.")
    diffs = [f"{k}: checkpoint has {state['meta'].get(k)!r}, this run has {v!r}"
             for k, v in (expect or {}).items() if state["meta"].get(k) != v]
    if diffs:
        raise CheckpointError(
            f"{path} belongs to a different run ({'; '.join(diffs)}). Pass the matching model and schedule "
            f"to resume it, or delete the file (or write to another folder) to start this run from scratch.")
    return state


# --- the training loop --------------------------------------------------------

def device_name(device: torch.device) -> str:
    """A readable device name for results: the GPU's name, or ``cpu`` / ``mps``."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


def _fixed_subset(n_total: int, n: int | None, seed: int = 0) -> torch.Tensor | None:
    """A fixed pseudo-random subset of ``n`` indices (sorted), the same for every run; None = all."""
    if n is None or n >= n_total:
        return None
    return torch.randperm(n_total, generator=torch.Generator().manual_seed(seed))[:n].sort().values


def split_data(data: cdata.CIFAR10, *, train_images: int | None = None, eval_images: int | None = None,
               val_size: int = 5000) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train_x, train_y, test_x, test_y) as the paper uses them: train on the 45k part of the 45k/5k split
    (a fixed subset of it when ``train_images``), test on the test set (a fixed subset when ``eval_images``)."""
    val_size = min(val_size, len(data.train_labels) // 10)  # small synthetic sets keep 90% for training
    train_idx, _ = cdata.train_val_split(data.train_labels, val_size=val_size, seed=0)
    sub = _fixed_subset(len(train_idx), train_images)
    train_idx = train_idx if sub is None else train_idx[sub]
    test_idx = _fixed_subset(len(data.test_labels), eval_images)
    test_x, test_y = data.test_images, data.test_labels
    if test_idx is not None:
        test_x, test_y = test_x[test_idx], test_y[test_idx]
    return data.train_images[train_idx], data.train_labels[train_idx], test_x, test_y


def make_normalizer(mode: str, train_x: torch.Tensor) -> cdata.Normalizer:
    """``per_pixel`` (the paper: subtract the per-pixel mean of the training images) or ``per_channel``."""
    if mode == "per_pixel":
        return cdata.Normalizer("per_pixel", mean=cdata.per_pixel_mean(train_x))
    return cdata.Normalizer(mode)


def prepare_model(model: nn.Module, device: torch.device, deterministic: bool = False) -> nn.Module:
    """Move ``model`` to ``device`` in train mode; on CUDA also channels_last and cudnn autotuning."""
    if _fast(device):
        torch.backends.cudnn.benchmark = not deterministic
        return model.to(device, memory_format=torch.channels_last).train()
    return model.to(device).train()


def make_optimizer(model: nn.Module, schedule: Schedule, device: torch.device) -> torch.optim.SGD:
    """SGD of the schedule (weight decay on every parameter, as in the paper); fused on CUDA."""
    return torch.optim.SGD(model.parameters(), lr=schedule.lr_at(0), momentum=schedule.momentum,
                           weight_decay=schedule.weight_decay, fused=True if _fast(device) else None)


def maybe_compile(model: nn.Module, compile: bool | str) -> nn.Module:
    """``torch.compile(model)``; a string picks the mode, e.g. ``"max-autotune"``; False: eager."""
    if not compile:
        return model
    return torch.compile(model, mode=None if compile is True else compile)


def train_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step on a batch ``x (B, 3, 32, 32)``, ``y (B,)``; returns (loss, logits (B, 10)), no host sync.

    On CUDA the forward pass runs under bf16 autocast (weights, gradients and the update stay fp32).
    """
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=x.device.type == "cuda"):
        logits = model(x)
        loss = F.cross_entropy(logits, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss, logits


def train_model(model: nn.Module, data: cdata.CIFAR10, schedule: Schedule | None = None, *, seed: int = 0,
                eval_every: int | None = None, eval_images: int | None = None, train_images: int | None = None,
                device: str | torch.device | None = None, checkpoint: str | Path | None = None,
                checkpoint_every: int | None = None, progress: bool = True, deterministic: bool = False,
                name: str | None = None, normalization: str = "per_pixel", compile: bool | str = False,
                position: int | None = None) -> dict[str, Any]:
    """Train ``model`` on CIFAR-10 with ``schedule`` and return the result (see the results contract).

    Records every ``eval_every`` iterations (and at the end): the running training error since the last
    record, the test error, the lr. With ``checkpoint`` (a path) it resumes from that file when it exists
    and writes it every ``checkpoint_every`` iterations and at the end. ``compile=True`` wraps the model in
    ``torch.compile`` (pays only for long GPU runs: it costs a minute or so of compilation first).
    ``position``: the progress bar's line, when several runs share a terminal.
    Raises :class:`NonFiniteLossError` on a NaN/inf loss, :class:`CheckpointError` on a bad checkpoint.
    """
    schedule = schedule or Schedule()
    device = get_device(str(device) if device is not None else None)
    name = name or type(model).__name__
    total = schedule.iterations
    eval_every = min(eval_every or 500, total)
    seed_everything(seed, deterministic)
    fast = _fast(device)
    prepare_model(model, device, deterministic)
    train_x, train_y, test_x, test_y = split_data(data, train_images=train_images, eval_images=eval_images)
    normalizer = make_normalizer(normalization, train_x)
    loader = cdata.DeviceLoader(train_x, train_y, schedule.batch_size, train=True, normalizer=normalizer,
                                device=device, seed=seed, channels_last=fast)
    test_x, test_y = test_x.to(device), test_y.to(device)
    opt = make_optimizer(model, schedule, device)
    step_model = maybe_compile(model, compile)
    n_params = sum(p.numel() for p in model.parameters())
    meta = {"name": name, "params": n_params, "seed": seed, "schedule": schedule.to_dict(),
            "eval_every": eval_every, "train_images": len(train_y), "eval_images": len(test_y),
            "normalization": normalization, "data_source": data.source}
    hist: dict[str, list] = {"iteration": [], "train_error": [], "test_error": [], "lr": [], "train_loss": []}
    it, wall_before = 0, 0.0
    loss_sum = torch.zeros((), device=device)  # sums since the last record, kept on the device
    wrong = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    if checkpoint is not None and Path(checkpoint).exists():
        st = load_checkpoint(checkpoint, expect=meta)
        try:
            model.load_state_dict(st["model"])
            opt.load_state_dict(st["optimizer"])
        except (RuntimeError, ValueError, KeyError) as err:
            raise CheckpointError(f"{checkpoint}: its weights do not fit this model ({err}). Delete it to "
                                  f"restart from iteration 0, or pass the model it was written for.") from err
        loader.load_state_dict(st["loader"])
        torch.set_rng_state(st["rng_cpu"])
        if st["rng_cuda"] and torch.cuda.is_available() and len(st["rng_cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(st["rng_cuda"])
        it, wall_before, hist, seen = st["iteration"], st["wall_seconds"], st["history"], st["seen"]
        loss_sum.copy_(st["loss_sum"])
        wrong.copy_(st["wrong"])
    t0 = time.perf_counter()

    def check_finite(value: torch.Tensor, at: int) -> None:  # a host sync on CUDA: only at record points
        if not torch.isfinite(value):
            where = (f"the last good checkpoint {checkpoint} (iteration {it_saved}) was kept" if checkpoint
                     else "no checkpoint was being written")
            raise NonFiniteLossError(f"{name}: the training loss became {value.item()} by iteration {at}; "
                                     f"training stopped and {where}. Lower the learning rate or check the "
                                     f"data: resuming with the same settings would diverge again.")

    def save(at: int) -> None:
        save_checkpoint(checkpoint, {
            "format": CKPT_FORMAT, "meta": meta, "iteration": at, "model": model.state_dict(),
            "optimizer": opt.state_dict(), "loader": loader.state_dict(), "history": hist,
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if fast else [],
            "loss_sum": loss_sum.cpu(), "wrong": wrong.cpu(), "seen": seen,
            "wall_seconds": wall_before + time.perf_counter() - t0})

    it_saved = it
    bar = tqdm(total=total, initial=it, desc=name, disable=not progress, dynamic_ncols=True,
                position=position)
    live = _LiveStats(device, schedule.batch_size)
    cur_lr = None
    for x, y in loader.batches(total - it):  # x (B, 3, 32, 32) float, y (B,) int64, both on `device`
        lr = schedule.lr_at(it)
        if lr != cur_lr:
            for g in opt.param_groups:
                g["lr"] = lr
            cur_lr = lr
        loss, logits = train_step(step_model, opt, x, y)
        if not fast:  # on the CPU a check per step costs nothing
            check_finite(loss, it + 1)
        it += 1
        loss_sum += loss.detach().float()
        wrong += (logits.argmax(1) != y).sum()
        seen += len(y)
        if it % 20 == 0 or it == total:
            bar.update(it - bar.n)
            bar.set_postfix(live.read(loss_sum, wrong, seen) | {"lr": f"{lr:g}"}, refresh=False)
        if it % eval_every == 0 or it == total:
            check_finite(loss_sum, it)
            steps = seen / schedule.batch_size
            hist["iteration"].append(it)
            hist["train_loss"].append(loss_sum.item() / steps)
            hist["train_error"].append(100.0 * wrong.item() / seen)
            hist["test_error"].append(evaluate(model, test_x, test_y, normalizer=normalizer, device=device))
            hist["lr"].append(schedule.lr_at(it - 1))  # the lr of the last step before this record
            loss_sum.zero_(), wrong.zero_()
            seen = 0
        if checkpoint is not None and (it == total or (checkpoint_every and it % checkpoint_every == 0)):
            check_finite(loss_sum, it)
            save(it)
            it_saved = it
    bar.close()
    return {"model": name, "params": n_params, "seed": seed, "schedule": schedule.to_dict(),
            "data_source": data.source, "train_images": len(train_y), "eval_images": len(test_y),
            "eval_every": eval_every, "normalization": normalization, "device": device_name(device), "torch_version": torch.__version__,
            "deterministic": deterministic, "compiled": compile,
            "wall_seconds": round(wall_before + time.perf_counter() - t0, 2), "history": hist}


class _LiveStats:
    """Running loss / error for the progress bar. On CUDA without a host sync: each refresh starts an
    asynchronous copy to pinned memory and shows the previous copy once it has landed (20 its old)."""

    def __init__(self, device: torch.device, batch_size: int) -> None:
        self.fast, self.batch_size = _fast(device), batch_size
        self.buf = torch.zeros(2, pin_memory=self.fast)
        self.event: Any = None
        self.pending_seen = 0
        self.shown: dict[str, str] = {}

    def read(self, loss_sum: torch.Tensor, wrong: torch.Tensor, seen: int) -> dict[str, str]:
        vals = torch.stack([loss_sum.float(), wrong.float()])  # (2,) on the device
        if not self.fast:
            self._show(*vals.tolist(), seen)
            return dict(self.shown)
        if self.event is not None and self.event.query():  # the previous copy has landed
            self._show(*self.buf.tolist(), self.pending_seen)
            self.event = None
        if self.event is None:
            self.buf.copy_(vals, non_blocking=True)
            self.pending_seen = seen
            self.event = torch.cuda.Event()
            self.event.record()
        return dict(self.shown)

    def _show(self, loss: float, err: float, n: int) -> None:
        if n > 0:
            self.shown = {"loss": f"{loss * self.batch_size / n:.3f}", "err": f"{100 * err / n:.1f}%"}
