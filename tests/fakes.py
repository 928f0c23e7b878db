"""Shared test fakes: result files in the results contract, small CIFAR nets with random BN statistics, and a
CPU stand-in for CUDA graphs."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

import torch

from course_utils import models, results, schedule

FINALS = {  # final (train, test) errors close to the paper's picture
    "plain20": (6.0, 9.8),
    "plain56": (9.0, 13.0),
    "resnet20": (3.0, 8.5),
    "resnet56": (1.0, 7.0),
    "resnet18_cifar": (0.5, 5.0),
}


def fake_result(model, train_err, test_err, its=64_000, step=16_000, n_test_images=10_000):
    """A result in the contract of ``results.RunResult`` (every ``results.REQUIRED`` field present)."""
    n = its // step
    return {
        "model": model,
        "depth": int("".join(c for c in model if c.isdigit())[:3]),
        "params": 270_000,
        "seed": 0,
        "schedule": schedule.recipe_for(model).scaled(its).to_dict(),
        "data_source": "test",
        "profile": "gpu",
        "device": "cpu",
        "torch_version": "x",
        "wall_seconds": 1.0,
        "n_train_images": 50_000,
        "n_test_images": n_test_images,
        "history": {
            "iteration": [step * (i + 1) for i in range(n)],
            "train_error": [train_err + 2 * (n - 1 - i) for i in range(n)],
            "test_error": [test_err + (n - 1 - i) for i in range(n)],
            "lr": [0.1] * n,
        },
    }


def fake_folder(folder: Path) -> Path:
    """A results folder with one fake run of each Fig. 6 net and the CIFAR ResNet-18."""
    for m, (tr, te) in FINALS.items():
        (folder / f"{m}-s0.json").write_text(json.dumps(fake_result(m, tr, te)))
    assert not results.missing_fields(fake_result("resnet20", 1, 1))  # load_results skips incomplete files
    return folder


def small_net(name: str, seed: int = 0, **kw) -> torch.nn.Module:
    """A small CIFAR net (depth 14: two blocks per stage) with random BN statistics and affines."""
    torch.manual_seed(seed)
    net = models.plain_cifar(14) if name == "plain" else models.resnet_cifar(14, **kw)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)
    return net.eval()


def small_data(n: int = 12, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 16, 16, generator=g), torch.randint(0, 10, (n,), generator=g)


class EmulatedGraphs:
    """A CPU stand-in for ``graphs.CudaGraphs`` with a graph's semantics, to test ``graphs.GraphStep``:
    nothing runs at capture, each replay runs the captured step once, with the lr the optimizer had
    at capture (a graph bakes it in), whatever ``param_groups`` says by then."""

    def __init__(self) -> None:
        self.captured = 0

    def side(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def capture(self, body: Callable[[], None], opt: torch.optim.Optimizer) -> Callable[[], None]:
        baked = [g["lr"] for g in opt.param_groups]
        self.captured += 1

        def replay() -> None:
            now = [g["lr"] for g in opt.param_groups]
            for g, lr in zip(opt.param_groups, baked, strict=True):
                g["lr"] = lr
            body()
            for g, lr in zip(opt.param_groups, now, strict=True):
                g["lr"] = lr

        return replay
