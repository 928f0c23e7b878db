"""Training-step throughput: our pipeline against a conventional DataLoader baseline.

    python -m course_utils.bench --model resnet56 --device auto --batch-size 128

*Ours* is what :func:`course_utils.train.train_model` runs: the dataset resident on the device
(``data.DeviceLoader``, batched crop + flip there), and on CUDA channels_last, bf16 autocast, fused
SGD, no host sync inside the loop (optionally ``torch.compile``). The *baseline* is the
conventional script: a torchvision-style dataset of PIL images with ``transforms`` in a
``DataLoader`` (worker processes, pinned memory), fp32, eager, and the per-step ``loss.item()``
of the usual training loop. Both run in the same process on the same data; warm-up steps are
excluded and the clock is read after a device synchronisation. Writes
``results/bench/bench-<device>.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F

from course_utils import data as cdata
from course_utils import models, train
from course_utils.profile import get_device, get_profile, seed_everything

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "results" / "bench"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def default_workers(device: torch.device) -> int:
    """DataLoader workers for the baseline: up to 8 feeding a GPU; on a CPU, a core is left to the model."""
    cores = os.cpu_count() or 1
    return min(8, cores) if device.type == "cuda" else max(1, min(2, cores // 2))


def _timed(step, batches: Iterator, warmup: int, steps: int, device: torch.device) -> float:
    """Seconds for ``steps`` calls of ``step(x, y)`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step(*next(batches))
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step(*next(batches))
    _sync(device)
    return time.perf_counter() - t0


def _bench_data(n_train: int) -> cdata.CIFAR10:
    """Real CIFAR-10 when it is on disk (never downloads), else the synthetic stand-in."""
    try:
        return cdata.load_cifar10(profile=get_profile("cpu"), download=False)
    except cdata.DataNotFoundError:
        print("note: no CIFAR-10 on disk; timing on the synthetic stand-in (same shapes, same cost)")
        return cdata.synthetic_cifar10(n_train=n_train, n_test=100)


def _time_ours(model: str, train_x: torch.Tensor, train_y: torch.Tensor, device: torch.device, batch_size: int,
               warmup: int, steps: int, compile: bool | str) -> float:
    """Our pipeline, built from the training engine's own pieces (the same code as train_model)."""
    seed_everything(0)
    net = train.prepare_model(models.get_model(model), device)
    opt = train.make_optimizer(net, train.Schedule(batch_size=batch_size), device)
    step_net = train.maybe_compile(net, compile)
    loader = cdata.DeviceLoader(train_x, train_y, batch_size, train=True, device=device,
                                channels_last=device.type == "cuda",
                                normalizer=train.make_normalizer("per_pixel", train_x))
    return _timed(lambda x, y: train.train_step(step_net, opt, x, y), loader.batches(), warmup, steps, device)


def _time_baseline(model: str, train_x: torch.Tensor, train_y: torch.Tensor, device: torch.device,
                   batch_size: int, warmup: int, steps: int, num_workers: int) -> float:
    """The conventional loop: PIL transforms in DataLoader workers, fp32, eager, ``loss.item()`` every step."""
    seed_everything(0)
    net = models.get_model(model).to(device).train()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # what the usual CIFAR scripts set too
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    ds = cdata.TensorImageDataset(train_x, train_y, cdata.dataloader_transform(train=True))
    dl = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=True,
                                     num_workers=num_workers, pin_memory=device.type == "cuda",
                                     persistent_workers=num_workers > 0)

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

    return _timed(step, endless(), warmup, steps, device)


def run_bench(model: str = "resnet56", device: str | torch.device | None = None, batch_size: int = 128,
              steps: int | None = None, warmup: int | None = None, num_workers: int | None = None,
              compile: bool | str = False, data: cdata.CIFAR10 | None = None,
              out: str | Path | None = DEFAULT_OUT) -> dict[str, Any]:
    """Time both pipelines on ``model`` and return (and write, unless ``out=None``) the result dict."""
    device = get_device(None if device in (None, "auto") else str(device))
    cuda = device.type == "cuda"
    steps = steps or (200 if cuda else 10)
    warmup = warmup if warmup is not None else (30 if cuda else 2) + (20 if compile else 0)
    num_workers = default_workers(device) if num_workers is None else num_workers
    data = data or _bench_data(batch_size * (steps + warmup))
    train_x, train_y, _, _ = train.split_data(data)
    ours_s = _time_ours(model, train_x, train_y, device, batch_size, warmup, steps, compile)
    base_s = _time_baseline(model, train_x, train_y, device, batch_size, warmup, steps, num_workers)
    ours_img_s, base_img_s = steps * batch_size / ours_s, steps * batch_size / base_s
    result = {"device": train.device_name(device), "device_type": device.type, "model": model,
              "ours_img_s": round(ours_img_s, 1), "baseline_img_s": round(base_img_s, 1),
              "speedup": round(ours_img_s / base_img_s, 3), "batch_size": batch_size, "steps": steps,
              "warmup": warmup, "num_workers": num_workers, "compile": compile, "cpu_count": os.cpu_count(),
              "torch_threads": torch.get_num_threads(), "data_source": data.source,
              "torch_version": torch.__version__, "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if out is not None:
        path = Path(out) / f"bench-{device.type}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        result["file"] = str(path)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m course_utils.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet56", choices=models.MODEL_NAMES, metavar="NAME",
                   help="model to time (default: resnet56)")
    p.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, ...")
    p.add_argument("--batch-size", type=int, default=128, help="images per step (default: 128, the paper's)")
    p.add_argument("--steps", type=int, default=None,
                   help="timed steps per pipeline (default: 200 on a GPU, 10 on a CPU)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 30 on a GPU, 2 on a CPU)")
    p.add_argument("--workers", type=int, default=None,
                   help="DataLoader workers of the baseline (default: up to 8 for a GPU, 1 or 2 on a CPU)")
    p.add_argument("--compile", nargs="?", const=True, default=False, metavar="MODE",
                   help="torch.compile our model (optionally a mode, e.g. max-autotune)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for bench-<device>.json")
    a = p.parse_args(argv)
    r = run_bench(a.model, a.device, a.batch_size, a.steps, a.warmup, a.workers, a.compile, out=a.out)
    fast = ", channels_last, bf16" if r["device_type"] == "cuda" else ""
    print(f"{r['model']} on {r['device']}, batch {r['batch_size']}, {r['steps']} timed steps:")
    print(f"  ours     {r['ours_img_s']:10,.0f} img/s  (DeviceLoader{fast})")
    print(f"  baseline {r['baseline_img_s']:10,.0f} img/s  "
          f"(DataLoader + PIL transforms, {r['num_workers']} worker process(es), fp32)")
    print(f"  speedup  {r['speedup']:10.2f}x   -> {r['file']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
