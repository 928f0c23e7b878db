"""A training step as a CUDA graph: captured once (and again at each lr milestone), replayed from static buffers.

The captured body is the run's own step (``TrainRun.step``: forward under bf16 autocast,
backward, fused SGD, loss and error sums added on the device), so graphs, ``torch.compile`` and
eager run the very same code. Before a capture a few eager steps warm up on the capture stream
(cuDNN autotuning, momentum buffers) and are undone (:func:`warm_up`). The capture itself goes
through a factory: :class:`CudaGraphs` on a GPU (one capture stream per step); the tests pass a CPU
stand-in with a graph's semantics (``tests/fakes.py``) to check that captures happen when they should
and each replay adds its sums exactly once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

from course_utils.step import train_step
from course_utils.train import TrainRun

__all__ = ["WARMUP_STEPS", "warm_up", "CudaGraphs", "GraphStep"]

WARMUP_STEPS = 3  # eager steps on a side stream before a capture (cuDNN autotuning, optimizer state)


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


class CudaGraphs:
    """Captures a step as a CUDA graph, on a capture stream of its own (graphs then never share a
    cuBLAS workspace: freeing one graph's cannot break another's)."""

    def __init__(self, device: torch.device) -> None:
        self.stream = torch.cuda.Stream(device)

    @contextlib.contextmanager
    def side(self) -> Iterator[None]:
        """The stream warm-up steps run on before a capture; it first waits for the work queued so far
        (the static batch's copy, the last steps' updates), as PyTorch's capture recipe does."""
        self.stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.stream):
            yield

    def capture(self, body: Callable[[], None], opt: torch.optim.Optimizer) -> Callable[[], None]:
        torch.cuda.current_stream().wait_stream(self.stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=self.stream):
            body()
        return graph.replay


class GraphStep:
    """The run's own step (``TrainRun.step``) captured as a graph and replayed from static input buffers.

    ``graphs``: the capture factory (default :class:`CudaGraphs` on the run's device, one per step).
    A capture happens before the first step and again whenever the schedule has changed the lr.
    """

    def __init__(self, run: TrainRun, x: torch.Tensor, y: torch.Tensor, graphs: CudaGraphs | None = None) -> None:
        if graphs is None and run.device.type != "cuda":
            raise RuntimeError("CUDA graphs need a CUDA device (on a CPU, the tests pass a stand-in: tests/fakes.py)")
        self.run, self.graphs = run, graphs if graphs is not None else CudaGraphs(run.device)
        self.static_x, self.static_y = x.clone(), y.clone()  # (B, 3, 32, 32) channels_last, (B,)
        self.replay: Callable[[], None] | None = None
        self.static_loss: torch.Tensor | None = None
        self.lr: float | None = None
        self.captures = 0

    def _body(self) -> None:
        self.static_loss = self.run.step(self.static_x, self.static_y)

    def capture(self) -> None:
        run = self.run
        self.replay = None  # free the old graph's pool first
        with self.graphs.side():
            warm_up(run, self.static_x, self.static_y)
        run.opt.zero_grad(set_to_none=True)  # gradients are then allocated (and overwritten) inside the graph
        self.replay = self.graphs.capture(self._body, run.opt)
        self.lr = run.opt.param_groups[0]["lr"]
        self.captures += 1

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.replay is None or self.lr != self.run.opt.param_groups[0]["lr"]:
            self.capture()  # the first step, and each lr milestone
        self.static_x.copy_(x, non_blocking=True)
        self.static_y.copy_(y, non_blocking=True)
        self.replay()
        return self.static_loss
