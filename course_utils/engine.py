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

A :class:`Group` is runs that share one *feed* of batches (same seed, same batches: a paired
comparison); ``fig6``'s loop (``experiments.figure6.train``) starts groups, steps them, saves each run
the moment it finishes and pauses the rest at the time limit. On a GPU each group makes its batches on a
CUDA stream of its own, each run steps on its own CUDA stream and waits only for its group's batch (an
event), and each graph is captured on a CUDA stream of its own. On a CPU the same code runs without graphs
and CUDA streams, and gives bit-for-bit the histories of training each run alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence

import torch

from course_utils import cpu
from course_utils.graphs import CudaGraphs, GraphStep
from course_utils.progress import progress_bar, show
from course_utils.train import Step, TrainRun

__all__ = [
    "VARIANTS",
    "candidates",
    "make_step",
    "sync",
    "Group",
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
    graphs: CudaGraphs | None = None,
) -> Step:
    """The step function of ``variant`` for ``run``; ``graphs`` needs an ``example`` batch for its buffers
    (``graphs``: the graph capturer, default CUDA graphs; the tests pass a CPU stand-in)."""
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

Feed = tuple[list[TrainRun], Iterator[tuple[torch.Tensor, torch.Tensor]]]  # runs fed the same batches, and the batches


def _on(stream: torch.cuda.Stream | None) -> contextlib.AbstractContextManager:
    return torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext()


def _feeds(runs: Sequence[TrainRun]) -> list[Feed]:
    """The runs grouped by the batches they get (same seed, training images, batch size and position): one loader
    each, restored from the first run's checkpoint; every run of a feed saves that loader's position."""
    by: dict[tuple, list[TrainRun]] = {}
    for r in runs:
        key = (r.seed, r.meta["train_set"], r.n_train, r.schedule.batch_size, r.iteration, r.meta["normalization"])
        by.setdefault(key, []).append(r)
    feeds = []
    for rs in by.values():
        loader = rs[0].feed()
        for r in rs[1:]:
            r.feed(loader)
        feeds.append((rs, loader.batches()))
    return feeds


class Group:
    """Runs trained together on one feed of batches: started with its built runs and each net's variant (default
    eager), stepped by :meth:`step`, which returns each run that finished or failed in that step (with its error;
    None when it finished) so that the caller saves it at once, and paused by :meth:`pause` (a checkpoint of every
    run still training). A run that fails (a non-finite loss, an error in its step) stops; the others go on.
    """

    def __init__(self, runs: Sequence[TrainRun], variants: Mapping[str, str] | None = None, progress: bool = True):
        self.runs = list(runs)
        self.variants = {r.name: (variants or {}).get(r.name, "eager") for r in self.runs}
        self.failed: set[int] = set()
        self.steps: dict[int, Step] = {}
        live = self.live()
        for r in live:
            r.variant = self.variants[r.name]  # its history records say so
        self.feeds = _feeds(live)
        cuda = [r for r in live if r.device.type == "cuda"]
        self.producer = torch.cuda.Stream(cuda[0].device) if cuda else None  # where the batches are made
        self.streams = {id(r): torch.cuda.Stream(r.device) for r in cuda}  # where each run steps
        for stream in [self.producer, *self.streams.values()] if cuda else []:
            stream.wait_stream(torch.cuda.current_stream())  # the data, weights and state loaded so far
        self.bars = {id(r): progress_bar(r, progress) for r in live}

    def live(self) -> list[TrainRun]:
        """The runs still training: neither finished nor failed."""
        return [r for r in self.runs if not r.done and id(r) not in self.failed]

    def seconds_left(self, step_s: Mapping[str, float]) -> float:
        """Seconds of training left at ``step_s`` seconds a step per net (the device is shared: they add up)."""
        return sum(r.remaining * step_s.get(r.name, 0.0) for r in self.live())

    def step(self) -> list[tuple[TrainRun, BaseException | None]]:
        """One step of every live run; returns the runs that finished (error None) or failed in it."""
        ended = []
        for runs, batches in self.feeds:
            live = [r for r in runs if not r.done and id(r) not in self.failed]
            if not live:
                continue
            with _on(self.producer):
                x, y = next(batches)  # (B, 3, 32, 32), (B,): one augmented batch for every run of the feed
            ready = torch.cuda.Event() if self.producer is not None else None
            if ready is not None:
                ready.record(self.producer)
            for r in live:
                err = self._step(r, x, y, ready)
                if err is not None or r.done:
                    ended.append((r, err))
        return ended

    def _step(self, r: TrainRun, x: torch.Tensor, y: torch.Tensor, ready: torch.cuda.Event | None) -> Exception | None:
        s = self.streams.get(id(r))
        try:
            with _on(s):
                if s is not None:
                    s.wait_event(ready)  # this group's batch only: no wait for other groups or runs
                    x.record_stream(s)  # its memory is not reused before this CUDA stream is done with it
                    y.record_stream(s)
                if id(r) not in self.steps:
                    self.steps[id(r)] = make_step(r, self.variants[r.name], (x, y))
                r.advance(self.steps[id(r)], x, y)
        except (FloatingPointError, RuntimeError) as err:
            self.failed.add(id(r))
            self.bars[id(r)].close()
            return err
        show(r, self.bars[id(r)])
        if r.done:
            self.bars[id(r)].close()
            sync(r.device)  # its CUDA stream's last step has landed before the weights are written
        return None

    def done(self) -> bool:
        return not self.live()

    def pause(self) -> None:
        """Checkpoint every live run that has stepped since its last checkpoint; close the progress bars."""
        for r in self.live():
            sync(r.device)
            if r.saved_at != r.iteration:
                r.save()
        for b in self.bars.values():
            b.close()
