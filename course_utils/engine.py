"""The fast engine: several networks trained at once in one process, each step as fast as the machine allows.

Small CIFAR nets cannot keep a GPU busy: an eager ResNet-56 step launches about 600 small
kernels, and the host time to launch them is longer than the GPU time to run them. Three
remedies, tried in this order and kept when they are correct and faster (:func:`probe`):

- ``graphs``: the whole step (forward, backward, SGD update, loss/error sums) captured as a
  CUDA graph and replayed from static buffers: one launch per step. The lr is baked into the
  capture, so the graph is captured again when the schedule changes it (twice per run).
- ``compile``: ``torch.compile`` of the network (fused kernels), stepped eagerly.
- ``eager``: the plain step of ``step.train_step``.

:func:`train_together` steps runs round-robin, each on its own CUDA stream so that their
kernels overlap; runs with the same seed and training images share one batch stream (one
augmented batch per step for all of them: a paired comparison). On a CPU the same code runs
without graphs and streams, and gives bit-for-bit the histories of training each run alone.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.loader import DeviceLoader
from course_utils.step import train_step
from course_utils.train import Step, TrainRun

__all__ = ["VARIANTS", "candidates", "warm_up", "make_step", "GraphStep", "group_runs", "train_together", "sync"]

VARIANTS = ("graphs", "compile", "eager")
WARMUP_STEPS = 3  # eager steps on a side stream before a capture (cuDNN autotuning, optimizer state)


def candidates(device: torch.device, engine: str = "auto") -> tuple[str, ...]:
    """The variants ``engine`` allows on ``device``: ``auto`` = graphs, compile, eager on CUDA; eager elsewhere."""
    if engine not in ("auto", *VARIANTS):
        raise ValueError(f"unknown engine {engine!r}; choose auto, {', '.join(VARIANTS)}")
    if engine == "graphs" and device.type != "cuda":
        raise ValueError("engine 'graphs' needs CUDA; use --engine auto, compile or eager on this machine")
    if engine != "auto":
        return (engine,)
    return VARIANTS if device.type == "cuda" else ("eager",)


# --- the graph step -------------------------------------------------------------


def _snapshot(model: nn.Module, opt: torch.optim.Optimizer) -> tuple[list, list]:
    """Copies of every parameter and buffer, and of the optimizer's momentum buffers (None where absent)."""
    tensors = [t.detach().clone() for t in [*model.parameters(), *model.buffers()]]
    moms = [opt.state.get(p, {}).get("momentum_buffer") for g in opt.param_groups for p in g["params"]]
    return tensors, [None if m is None else m.clone() for m in moms]


def _restore(model: nn.Module, opt: torch.optim.Optimizer, snap: tuple[list, list]) -> None:
    """Copy a :func:`_snapshot` back *into the same tensors* (a captured graph keeps their addresses).

    A momentum buffer that did not exist before is set to zero: SGD's first step, ``buf = grad``,
    then equals ``buf = 0.9 * 0 + grad`` exactly, so warm-up leaves no trace.
    """
    tensors, moms = snap
    with torch.no_grad():
        for t, s in zip([*model.parameters(), *model.buffers()], tensors, strict=True):
            t.copy_(s)
        params = [p for g in opt.param_groups for p in g["params"]]
        for p, m in zip(params, moms, strict=True):
            buf = opt.state.get(p, {}).get("momentum_buffer")
            if buf is not None:
                buf.copy_(m) if m is not None else buf.zero_()


def warm_up(run: TrainRun, x: torch.Tensor, y: torch.Tensor, steps: int = WARMUP_STEPS) -> None:
    """Run ``steps`` eager steps on ``(x, y)`` and undo them: the optimizer state exists afterwards,
    the weights, BN statistics and running sums are what they were (tested on the CPU)."""
    snap = _snapshot(run.model, run.opt)
    for _ in range(steps):
        train_step(run.model, run.opt, x, y)
    _restore(run.model, run.opt, snap)


class GraphStep:
    """The whole training step of ``run`` as a CUDA graph, replayed from static input buffers."""

    def __init__(self, run: TrainRun, x: torch.Tensor, y: torch.Tensor) -> None:
        if run.device.type != "cuda":
            raise RuntimeError("CUDA graphs need a CUDA device")
        self.run = run
        self.static_x, self.static_y = x.clone(), y.clone()  # (B, 3, 32, 32) channels_last, (B,)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.lr: float | None = None
        self.captures = 0

    def capture(self) -> None:
        run, model, opt = self.run, self.run.model, self.run.opt
        self.graph = None  # free the old graph's pool first
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            warm_up(run, self.static_x, self.static_y)
        torch.cuda.current_stream().wait_stream(side)
        opt.zero_grad(set_to_none=True)  # gradients are then allocated (and overwritten) inside the graph
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            with torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False):
                logits = model(self.static_x)  # (B, 10)
                loss = F.cross_entropy(logits, self.static_y)
            loss.backward()
            opt.step()  # BN running statistics were updated by the forward pass, inside the graph too
            run.loss_sum += loss.detach().float()
            run.wrong += (logits.argmax(1) != self.static_y).sum()
        self.graph, self.static_loss, self.lr = graph, loss, opt.param_groups[0]["lr"]
        self.captures += 1

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.graph is None or self.lr != self.run.opt.param_groups[0]["lr"]:
            self.capture()  # the first step, and each lr milestone
        self.static_x.copy_(x, non_blocking=True)
        self.static_y.copy_(y, non_blocking=True)
        self.graph.replay()
        return self.static_loss


def make_step(run: TrainRun, variant: str, example: tuple[torch.Tensor, torch.Tensor] | None = None) -> Step:
    """The step function of ``variant`` for ``run``; ``graphs`` needs an ``example`` batch for its buffers."""
    if variant == "eager":
        return run.eager_step
    if variant == "compile":
        compiled = torch.compile(run.model)  # shares the run's parameters
        return lambda x, y: run.eager_step(x, y, model=compiled)
    if variant == "graphs":
        if example is None:
            raise ValueError("the graphs variant needs an example batch (x, y) for its static buffers")
        return GraphStep(run, *example)
    raise ValueError(f"unknown variant {variant!r}; choose one of: {', '.join(VARIANTS)}")


def sync(device: torch.device) -> None:
    """Wait for the device (CUDA); nothing to wait for elsewhere."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- training several runs at once ----------------------------------------------


@dataclass
class _Group:
    """Runs that share one batch stream: same seed, same training images, same position."""

    runs: list[TrainRun]
    loader: DeviceLoader
    steps: dict[int, Step] = field(default_factory=dict)


def group_runs(runs: Sequence[TrainRun]) -> list[_Group]:
    """Runs with equal seed, training images, batch size and iteration share a loader (restored from the
    first run's checkpoint); the rest get their own."""
    groups: dict[tuple, list[TrainRun]] = {}
    for r in runs:
        key = (
            r.seed,
            r.meta["train_set"],
            r.n_train,
            r.schedule.batch_size,
            r.iteration,
            r.device,
            r.meta["normalization"],
        )
        groups.setdefault(key, []).append(r)
    return [_Group(rs, rs[0].make_loader()) for rs in groups.values()]


def _streams(runs: Sequence[TrainRun]) -> dict[int, torch.cuda.Stream]:
    """A CUDA stream of its own for each run on a GPU (none on other devices)."""
    return {id(r): torch.cuda.Stream(r.device) for r in runs if r.device.type == "cuda"}


def train_together(
    runs: Sequence[TrainRun],
    variants: dict[str, str] | str = "eager",
    *,
    deadline: float | None = None,
    on_finish: Callable[[TrainRun], None] | None = None,
    progress: bool = True,
) -> list[TrainRun]:
    """Train ``runs`` round-robin until each is done or ``deadline`` (a ``time.perf_counter()`` value) nears.

    ``variants``: one variant for all, or ``{run name: variant}`` (from :func:`pick`). Before the
    deadline every unfinished run is checkpointed; ``on_finish(run)`` is called once per finished run.
    Returns the runs that are not finished.
    """
    groups = group_runs([r for r in runs if not r.done])
    streams = _streams([r for g in groups for r in g.runs])
    bars = {id(r): r.progress_bar(progress, position=i) for i, r in enumerate(r for g in groups for r in g.runs)}
    round_s, margin, rounds = 0.0, 5.0, 0  # the slowest recent round; time kept back for the last checkpoints
    try:
        while any(not r.done for g in groups for r in g.runs):
            t_round = time.perf_counter()
            if deadline is not None and t_round + margin > deadline:
                break
            for g in groups:
                _round(g, streams, variants, bars, on_finish)
            rounds += 1
            if deadline is not None and rounds % 10 == 0:  # keep the host clock honest: the GPU may lag behind
                for d in {r.device for g in groups for r in g.runs}:
                    sync(d)
            round_s = max(round_s * 0.99, time.perf_counter() - t_round)
            margin = max(margin, 3 * round_s)
    except KeyboardInterrupt:
        _save_unfinished(groups)
        raise
    finally:
        for b in bars.values():
            b.close()
    _save_unfinished(groups)
    return [r for g in groups for r in g.runs if not r.done]


def _round(g: _Group, streams: dict, variants: dict[str, str] | str, bars: dict, on_finish) -> None:
    """One step of every unfinished run of group ``g``, on one shared batch."""
    live = [r for r in g.runs if not r.done]
    if not live:
        return
    x, y = next(g.loader.batches(1))  # (B, 3, 32, 32), (B,): one augmented batch for every run of the group
    for r in live:
        s = streams.get(id(r))
        if s is not None:
            s.wait_stream(torch.cuda.current_stream(r.device))  # the batch is made on the default stream
        with torch.cuda.stream(s) if s is not None else contextlib.nullcontext():
            if id(r) not in g.steps:
                g.steps[id(r)] = make_step(r, _variant(variants, r.name), (x, y))
            r.advance(g.steps[id(r)], x, y, g.loader)
        bars[id(r)].update(r.iteration - bars[id(r)].n)
        if r.done and on_finish is not None:
            on_finish(r)
    for r in live:  # the next batch may reuse this one's memory only once every run is done with it
        s = streams.get(id(r))
        if s is not None:
            torch.cuda.current_stream(r.device).wait_stream(s)


def _save_unfinished(groups: Sequence[_Group]) -> None:
    """Checkpoint every unfinished run that has stepped since its last checkpoint."""
    for g in groups:
        for r in g.runs:
            if not r.done and r.saved_at != r.iteration:
                r.save(g.loader)


def _variant(variants: dict[str, str] | str, name: str) -> str:
    return variants if isinstance(variants, str) else variants.get(name, "eager")
