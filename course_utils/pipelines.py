"""The pipelines ``bench`` times: ours (as the engine runs it), its NCHW and one-variant forms, two
one-thread processes at once, and the conventional DataLoader loop.

Each ``_time_*`` takes a :class:`_Case` (the net, the data, the device, the batch, the steps, the
clock) and returns the seconds of ``steps`` training steps after ``warmup`` untimed ones; the
clock is read after a device synchronisation. ``bench.run_bench`` turns them into images per second.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from course_utils import data as cdata
from course_utils import engine, models, probe
from course_utils.budget import Budget
from course_utils.loader import DeviceLoader
from course_utils.profile import seed_everything
from course_utils.schedule import Schedule
from course_utils.train import TrainRun
from course_utils.transforms import TensorImageDataset, dataloader_transform

__all__ = ["Clock"]

Clock = Callable[[], float]


def _timed(
    step, batches: Iterator, warmup: int, steps: int, device: torch.device, clock: Clock = time.perf_counter
) -> float:
    """Seconds (of ``clock``) for ``steps`` calls of ``step(x, y)`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step(*next(batches))
    engine.sync(device)
    t0 = clock()
    for _ in range(steps):
        step(*next(batches))
    engine.sync(device)
    return clock() - t0


@dataclass(frozen=True)
class _Case:
    """What every timed pipeline shares: the net, the data, the device, the batch, the steps, the clock."""

    model: str
    data: cdata.CIFAR10
    device: torch.device
    batch_size: int
    warmup: int
    steps: int
    clock: Clock = time.perf_counter

    def timed(self, step, batches: Iterator) -> float:
        return _timed(step, batches, self.warmup, self.steps, self.device, self.clock)

    def ours(self) -> TrainRun:
        """Our training run of the net, as ``fig6`` builds it (lr set, ready to step)."""
        seed_everything(0)
        run = TrainRun(
            models.get_model(self.model),
            self.data,
            Schedule(batch_size=self.batch_size),
            name=self.model,
            budget=Budget(train_set="all"),
            device=self.device,
        )
        run.set_lr()
        return run


def _time_ours(c: _Case, variant: str) -> tuple[float, str]:
    """Our pipeline, built from the engine's own pieces (the code ``fig6`` runs): (seconds, variant used)."""
    run = c.ours()
    choices = engine.candidates(c.device, variant)
    variant = choices[0] if len(choices) == 1 else probe.pick(probe.probe([run], choices))[c.model]
    loader = run.make_loader()
    step = engine.make_step(run, variant, next(loader.batches(1)))
    return c.timed(step, loader.batches()), variant


def _time_nchw(c: _Case) -> float:
    """Our CPU pipeline with NCHW (contiguous) weights and batches instead of channels_last: seconds."""
    run = c.ours()
    run.model.to(memory_format=torch.contiguous_format)
    loader = DeviceLoader(
        run.train_x, run.train_y, c.batch_size, normalizer=run.normalizer, device=c.device, channels_last=False
    )
    return c.timed(run.step, loader.batches())


def _time_variant(c: _Case, variant: str) -> float:
    """Our pipeline with the step ``variant`` (no probe): seconds."""
    run = c.ours()
    return c.timed(engine.make_step(run, variant), run.make_loader().batches())


def _pair_worker(args: tuple[_Case, str, Any]) -> float:
    """One of the two ``pair`` processes: one thread, our pipeline; waits for the other before timing."""
    c, variant, barrier = args
    torch.set_num_threads(1)
    run = c.ours()
    step, loader = engine.make_step(run, variant), run.make_loader()
    _timed(step, loader.batches(), c.warmup, 0, run.device)
    barrier.wait()  # both processes start their timed steps together
    return _timed(step, loader.batches(), 0, c.steps, run.device)


def _time_pair(c: _Case, variant: str = "eager") -> float:
    """Two copies of the net in two processes of one thread each: seconds until both have made ``steps``."""
    ctx = multiprocessing.get_context("spawn")
    case = replace(c, device=torch.device("cpu"), clock=time.perf_counter)  # a process reads its own clock
    with ctx.Manager() as manager, ProcessPoolExecutor(2, mp_context=ctx) as pool:
        barrier = manager.Barrier(2)
        return max(pool.map(_pair_worker, [(case, variant, barrier)] * 2))


def _time_baseline(c: _Case, num_workers: int) -> float:
    """The conventional loop: PIL transforms in DataLoader workers, fp32, eager, ``loss.item()`` every step."""
    seed_everything(0)
    device = c.device
    net = models.get_model(c.model).to(device).train()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # what the usual CIFAR scripts set too
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    ds = TensorImageDataset(c.data.train_images, c.data.train_labels, dataloader_transform(train=True))
    dl = torch.utils.data.DataLoader(
        ds,
        batch_size=c.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=num_workers > 0,
    )

    def endless() -> Iterator:
        while True:
            yield from dl

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()  # the running-loss bookkeeping of a conventional loop: a host sync per step

    return c.timed(step, endless())
