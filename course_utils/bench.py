"""Training-step throughput: our pipeline against a conventional DataLoader baseline.

    python -m course_utils.bench --model resnet56 --device auto --batch-size 128

*Ours* is what the training engine runs (``engine``): the dataset resident on the device
(``loader.DeviceLoader``, batched crop + flip there), and on CUDA channels_last, bf16 autocast,
fused SGD, no host sync inside the loop, and the step as a CUDA graph or compiled
(``--variant``; ``auto`` takes CUDA graphs where the probe finds them correct). The *baseline* is the
conventional script: a torchvision-style dataset of PIL images with ``transforms`` in a
``DataLoader`` (worker processes, pinned memory), fp32, eager, and the per-step ``loss.item()``
of the usual training loop. Both run in the same process on the same data; warm-up steps are
excluded and the clock is read after a device synchronisation.

On a CPU more paths are timed in the same run, to show where the CPU time goes: our step in fp32
and in bf16 (``bf16_speedup``; the processor's name and its bf16 flags are recorded beside it, since
bf16 is fast only where the hardware has it), the same pipeline in NCHW memory (``nchw``: the CPU
path before channels_last), and two nets trained at once in two processes of one thread each
(``pair``: what ``fig6 --jobs 2`` does, in the variant ours uses), against the same two nets one
after the other with every thread. Writes ``results/bench/bench-<device>.json``, one entry per model::

    python -m course_utils.bench --models resnet20,resnet56,resnet18_cifar

The timed pipelines themselves live in ``pipelines``; this module measures them and is their CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from course_utils import cpu, engine, models
from course_utils import data as cdata
from course_utils.paths import results_dir
from course_utils.pipelines import Clock, _Case, _time_baseline, _time_nchw, _time_ours, _time_pair, _time_variant
from course_utils.profile import get_device, get_profile
from course_utils.step import device_name

__all__ = ["run_bench", "default_workers", "main"]


def default_workers(device: torch.device) -> int:
    """DataLoader workers for the baseline: up to 8 feeding a GPU; on a CPU, a core is left to the model."""
    cores = os.cpu_count() or 1
    return min(8, cores) if device.type == "cuda" else max(1, min(2, cores // 2))


def _bench_data(n_train: int) -> cdata.CIFAR10:
    """Real CIFAR-10 when it is on disk (never downloads), else the synthetic stand-in."""
    try:
        return cdata.load_cifar10(profile=get_profile("cpu"), download=False)
    except cdata.DataNotFoundError:
        print("note: no CIFAR-10 on disk; timing on the synthetic stand-in (same shapes, same cost)")
        return cdata.synthetic_cifar10(n_train=n_train, n_test=100)


def run_bench(
    model: str = "resnet56",
    *,
    device: str | torch.device | None = None,
    batch_size: int = 128,
    steps: int | None = None,
    warmup: int | None = None,
    num_workers: int | None = None,
    variant: str = "auto",
    data: cdata.CIFAR10 | None = None,
    clock: Clock = time.perf_counter,
) -> dict[str, Any]:
    """Time both pipelines on ``model`` (same data, same process) and return the measurement; on a CPU
    also the NCHW path and the pair of one-thread processes (see the module docstring)."""
    if (steps is not None and steps < 1) or (warmup is not None and warmup < 0):
        raise ValueError(f"need steps >= 1 and warmup >= 0, got steps={steps}, warmup={warmup}")
    device = get_device(None if device in (None, "auto") else str(device))
    cuda = device.type == "cuda"
    steps = steps or (200 if cuda else 10)
    warmup = warmup if warmup is not None else (30 if cuda else 2)
    num_workers = default_workers(device) if num_workers is None else num_workers
    data = data or _bench_data(batch_size * (steps + warmup))
    case = _Case(model, data, device, batch_size, warmup, steps, clock)
    ours_s, variant = _time_ours(case, variant)
    base_s = _time_baseline(case, num_workers)
    ours_img_s, base_img_s = steps * batch_size / ours_s, steps * batch_size / base_s
    cpu_paths = _cpu_paths(case, variant, ours_img_s) if device.type == "cpu" else {}
    return {
        "device": device_name(device),
        "device_type": device.type,
        "model": model,
        "ours_img_s": round(ours_img_s, 1),
        "baseline_img_s": round(base_img_s, 1),
        "speedup": round(ours_img_s / base_img_s, 3),
        **cpu_paths,
        "variant": variant,
        "batch_size": batch_size,
        "steps": steps,
        "warmup": warmup,
        "num_workers": num_workers,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "data_source": data.source,
        "torch_version": str(torch.__version__),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _cpu_paths(c: _Case, variant: str, ours_img_s: float) -> dict[str, Any]:
    """What a CPU run times besides: our step in fp32 and bf16, in NCHW, and as a pair of one-thread processes."""
    fp32_img_s, bf16_img_s = (c.steps * c.batch_size / _time_variant(c, v) for v in ("eager", "bf16"))
    nchw_img_s = c.steps * c.batch_size / _time_nchw(c)
    pair_img_s = 2 * c.steps * c.batch_size / _time_pair(c, variant)
    return {
        "processor": cpu.processor(),
        "cpu_flags": cpu.flags(),
        "native_bf16": cpu.native_bf16(),
        "fp32_img_s": round(fp32_img_s, 1),
        "bf16_img_s": round(bf16_img_s, 1),
        "bf16_speedup": round(bf16_img_s / fp32_img_s, 3),
        "nchw_img_s": round(nchw_img_s, 1),
        "channels_last_speedup": round(fp32_img_s / nchw_img_s, 3),
        "pair_img_s": round(pair_img_s, 1),
        "pair_speedup": round(pair_img_s / ours_img_s, 3),
    }


def write_bench(runs: list[dict[str, Any]], out: str | Path) -> Path:
    """``<out>/bench-<device type>.json``: ``{"device": ..., "runs": [one entry per model]}``."""
    path = Path(out) / f"bench-{runs[0]['device_type']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"device": runs[0]["device"], "runs": runs}, indent=1) + "\n", encoding="utf-8")
    return path


def _parser() -> argparse.ArgumentParser:
    """The command line: which nets, where, how many images and steps, which variant of ours, where to write."""
    p = argparse.ArgumentParser(prog="python -m course_utils.bench", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--models", default="resnet56", metavar="M1,M2", help="comma-separated models to time (default: resnet56)"
    )
    p.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, ...")
    p.add_argument("--batch-size", type=int, default=128, help="images per step (default: 128, the paper's)")
    p.add_argument(
        "--steps", type=int, default=None, help="timed steps per pipeline (default: 200 on a GPU, 10 on a CPU)"
    )
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 30 on a GPU, 2 on a CPU)")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="DataLoader workers of the baseline (default: up to 8 for a GPU, 1 or 2 on a CPU)",
    )
    p.add_argument(
        "--variant",
        default="auto",
        choices=("auto", *engine.VARIANTS),
        help="our step: graphs, compile, bf16, eager, or auto (on a GPU: graphs where the probe finds them "
        "correct; on a CPU with native bf16: bf16 where the probe finds it correct and faster)",
    )
    p.add_argument("--out", type=Path, default=results_dir("bench"), help="folder for bench-<device>.json")
    return p


def _print_run(r: dict[str, Any]) -> None:
    """One model's measurement as a few aligned lines (the CPU-only paths where they were timed)."""
    fast = ", channels_last, bf16" if r["device_type"] == "cuda" else ""
    print(f"{r['model']} on {r['device']}, batch {r['batch_size']}, {r['steps']} timed steps:")
    print(f"  ours     {r['ours_img_s']:10,.0f} img/s  (DeviceLoader{fast}, {r['variant']})")
    print(
        f"  baseline {r['baseline_img_s']:10,.0f} img/s  "
        f"(DataLoader + PIL transforms, {r['num_workers']} worker process(es), fp32)"
    )
    print(f"  speedup  {r['speedup']:10.2f}x")
    if "pair_img_s" in r:
        print(
            f"  fp32     {r['fp32_img_s']:10,.0f} img/s  | bf16 {r['bf16_img_s']:,.0f} img/s: "
            f"x{r['bf16_speedup']:.2f} ({r['processor']}; native bf16: {'yes' if r['native_bf16'] else 'no'})"
        )
        print(
            f"  NCHW     {r['nchw_img_s']:10,.0f} img/s  "
            f"(ours without channels_last: x{r['channels_last_speedup']:.2f})"
        )
        print(
            f"  pair     {r['pair_img_s']:10,.0f} img/s  (two nets, two processes of one thread, {r['variant']}: "
            f"x{r['pair_speedup']:.2f} over one after the other)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    p = _parser()
    a = p.parse_args(argv)
    try:
        names = models.canonical_names(a.models)
    except ValueError as err:
        p.error(str(err))
    runs = [
        run_bench(
            n,
            device=a.device,
            batch_size=a.batch_size,
            steps=a.steps,
            warmup=a.warmup,
            num_workers=a.workers,
            variant=a.variant,
        )
        for n in names
    ]
    path = write_bench(runs, a.out)
    for r in runs:
        _print_run(r)
    print(f"-> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
