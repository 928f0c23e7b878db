"""The fast engine: several networks trained at once in one process, each step as fast as the machine allows.

Small CIFAR nets cannot keep a GPU busy: an eager ResNet-56 step launches about 600 small
kernels, and the host time to launch them is longer than the GPU time to run them. The
remedy is ``graphs``: the whole step (``TrainRun.step``: forward, backward, SGD update,
loss/error sums) captured once as a CUDA graph and replayed from static buffers, one launch
per step. The lr is baked into the capture, so the graph is captured again when the schedule
changes it (twice per run). ``probe`` checks it against ``eager`` (the same step, run as Python
code) and falls back to eager for a net where graphs fail; ``compile`` (``torch.compile`` of the
network) is used only when asked for. On a CPU whose processor does bf16 natively (``cpu.native_bf16``)
the ``bf16`` variant, eager with the forward pass under bf16 autocast (on CUDA every variant already
runs it so), is tried against fp32 eager and taken where the probe finds it equal and faster.

A :class:`Group` is runs that share one batch stream (same seed, same batches: a paired
comparison); the scheduler (``scheduler.run_set``) starts, steps, saves and pauses groups. On a
GPU each group makes its batches on a producer stream of its own, each run steps on its own
stream and waits only for its group's batch (an event), and each graph is captured on a stream
of its own. On a CPU the same code runs without graphs and streams, and gives bit-for-bit the
histories of training each run alone.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from course_utils import cpu, scheduler
from course_utils.graphs import CudaGraphs, EmulatedGraphs, GraphStep
from course_utils.train import Step, TrainRun

__all__ = [
    "VARIANTS",
    "candidates",
    "make_step",
    "sync",
    "Group",
    "train_together",
]

VARIANTS = ("graphs", "compile", "bf16", "eager")


def candidates(device: torch.device, variant: str = "auto") -> tuple[str, ...]:
    """The variants ``variant`` allows on ``device``: ``auto`` = graphs, then eager on CUDA; bf16, then eager
    on a CPU with native bf16 (``cpu.native_bf16``); eager elsewhere."""
    if variant not in ("auto", *VARIANTS):
        raise ValueError(f"unknown variant {variant!r}: choose one of auto, {', '.join(VARIANTS)}")
    if variant == "graphs" and device.type != "cuda":
        raise ValueError("the graphs variant needs CUDA: choose auto, compile, bf16 or eager on this machine")
    if variant == "bf16" and device.type != "cpu":
        raise ValueError("the bf16 variant is for CPUs (on a GPU every variant runs the forward pass in bf16)")
    if variant != "auto":
        return (variant,)
    if device.type == "cuda":
        return ("graphs", "eager")
    return ("bf16", "eager") if device.type == "cpu" and cpu.native_bf16() else ("eager",)


def make_step(
    run: TrainRun,
    variant: str,
    example: tuple[torch.Tensor, torch.Tensor] | None = None,
    graphs: CudaGraphs | EmulatedGraphs | None = None,
) -> Step:
    """The step function of ``variant`` for ``run``; ``graphs`` needs an ``example`` batch for its buffers."""
    if variant == "eager":
        return run.step
    if variant == "bf16":
        return lambda x, y: run.step(x, y, bf16=True)
    if variant == "compile":
        compiled = torch.compile(run.model)  # shares the run's parameters
        return lambda x, y: run.step(x, y, model=compiled)
    if variant == "graphs":
        if example is None:
            raise ValueError("the graphs variant needs an example batch (x, y) for its static buffers")
        return GraphStep(run, *example, graphs=graphs)
    raise ValueError(f"unknown variant {variant!r}: choose one of {', '.join(VARIANTS)}")


def sync(device: torch.device) -> None:
    """Wait for the device (CUDA); nothing to wait for elsewhere."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- groups of runs -------------------------------------------------------------


def _on(stream: torch.cuda.Stream | None) -> contextlib.AbstractContextManager:
    return torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext()


@dataclass
class _Feed:
    """Runs that are fed the same batches: same seed, training images, batch size and position."""

    runs: list[TrainRun]
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]]


def _feeds(runs: Sequence[TrainRun]) -> list[_Feed]:
    by: dict[tuple, list[TrainRun]] = {}
    for r in runs:
        key = (r.seed, r.meta["train_set"], r.n_train, r.schedule.batch_size, r.iteration, r.meta["normalization"])
        by.setdefault(key, []).append(r)
    feeds = []
    for rs in by.values():
        loader = rs[0].make_loader()  # restored from the first run's checkpoint
        for r in rs:
            r.loader = loader  # each run saves the loader's position with its own checkpoint
        feeds.append(_Feed(rs, loader.batches()))
    return feeds


class Group:
    """Runs trained together on one batch stream: the unit that ``scheduler.run_set`` starts, steps and saves.

    ``build()`` makes the runs (when the group starts, not before); ``choose(runs)`` gives the variant
    per run name (default: eager); ``on_done(run, variant)`` is called once per finished run and
    ``on_failed(run, error)`` once per failed one (a non-finite loss or an error in its step: that run
    stops, the others go on). ``step_s``: estimated seconds per step per net, and ``start_s`` the seconds
    ``build`` and ``choose`` take, for the scheduler.
    """

    def __init__(
        self,
        name: str,
        build: Callable[[], list[TrainRun]],
        *,
        iterations: int,
        step_s: dict[str, float] | None = None,
        choose: Callable[[list[TrainRun]], dict[str, str]] | None = None,
        on_done: Callable[[TrainRun, str], None] | None = None,
        on_failed: Callable[[TrainRun, BaseException], None] | None = None,
        fits_bundle: bool = True,
        progress: bool = True,
        start_s: float = 0.0,
    ) -> None:
        self.name, self.build, self.iterations, self.step_s = name, build, iterations, step_s or {}
        self.start_s = start_s
        self.choose = choose or (lambda runs: {r.name: "eager" for r in runs})
        self.on_done, self.on_failed = on_done, on_failed
        self.fits_bundle, self.progress = fits_bundle, progress
        self.runs: list[TrainRun] = []
        self.failed: dict[int, str] = {}
        self.variants: dict[str, str] = {}
        self.steps: dict[int, Step] = {}

    def live(self) -> list[TrainRun]:
        return [r for r in self.runs if not r.done and id(r) not in self.failed]

    def estimate(self) -> float:
        if not self.runs:  # not started: the whole schedule of each net
            return self.iterations * sum(self.step_s.values())
        return sum(r.remaining * self.step_s.get(r.name, 0.0) for r in self.live())

    def start(self) -> None:
        self.runs = self.build()
        live = self.live()
        self.variants = self.choose(live) if live else {}
        for r in live:
            r.variant = self.variants.get(r.name, "eager")  # its history records say so
        self.feeds = _feeds(live)
        cuda = [r for r in live if r.device.type == "cuda"]
        self.producer = torch.cuda.Stream(cuda[0].device) if cuda else None
        self.streams = {id(r): torch.cuda.Stream(r.device) for r in cuda}
        for stream in [self.producer, *self.streams.values()] if cuda else []:
            stream.wait_stream(torch.cuda.current_stream())  # the data, weights and state loaded so far
        self.bars = {id(r): r.progress_bar(self.progress) for r in live}

    def step(self) -> None:
        for feed in self.feeds:
            live = [r for r in feed.runs if not r.done and id(r) not in self.failed]
            if not live:
                continue
            with _on(self.producer):
                x, y = next(feed.batches)  # (B, 3, 32, 32), (B,): one augmented batch for every run of the feed
            ready = torch.cuda.Event() if self.producer is not None else None
            if ready is not None:
                ready.record(self.producer)
            for r in live:
                self._step(r, x, y, ready)

    def _step(self, r: TrainRun, x: torch.Tensor, y: torch.Tensor, ready: torch.cuda.Event | None) -> None:
        s = self.streams.get(id(r))
        try:
            with _on(s):
                if s is not None:
                    s.wait_event(ready)  # this group's batch only: no wait for other groups or runs
                    x.record_stream(s)  # its memory is not reused before this stream is done with it
                    y.record_stream(s)
                if id(r) not in self.steps:
                    self.steps[id(r)] = make_step(r, self.variants.get(r.name, "eager"), (x, y))
                r.advance(self.steps[id(r)], x, y)
        except (FloatingPointError, RuntimeError) as err:
            self.failed[id(r)] = f"{type(err).__name__}: {err}"
            self.bars[id(r)].close()
            if self.on_failed is not None:
                self.on_failed(r, err)
            return
        r.show(self.bars[id(r)])
        if r.done:
            self.bars[id(r)].close()
            sync(r.device)  # its stream's last step has landed before the weights are written
            if self.on_done is not None:
                self.on_done(r, self.variants.get(r.name, "eager"))

    def done(self) -> bool:
        return not self.live()

    def finish(self) -> None:
        for b in self.bars.values():
            b.close()

    def pause(self) -> None:
        """Checkpoint every live run that has stepped since its last checkpoint."""
        for r in self.live():
            sync(r.device)
            if r.saved_at != r.iteration:
                r.save()
        self.finish()


def train_together(
    runs: Sequence[TrainRun],
    variants: dict[str, str] | str = "eager",
    *,
    deadline: float | None = None,
    on_finish: Callable[[TrainRun], None] | None = None,
    progress: bool = True,
) -> list[TrainRun]:
    """Train ``runs`` (already built) as one group until each is done or ``deadline`` (a
    ``time.perf_counter()`` value) nears; returns the runs left unfinished, each checkpointed."""
    group = Group(
        "together",
        lambda: list(runs),
        iterations=max(r.schedule.iterations for r in runs),
        choose=lambda rs: {
            r.name: variants if isinstance(variants, str) else variants.get(r.name, "eager") for r in rs
        },
        on_done=(lambda r, v: on_finish(r)) if on_finish is not None else None,
        progress=progress,
    )
    scheduler.run_set([group], deadline=deadline, clock=time.perf_counter)
    return [r for r in runs if not r.done]
