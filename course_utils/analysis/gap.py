"""Where a trained net's test error comes from: how well it fits, its BN statistics, the images.

A net that misses the paper's test error either fits its training images worse (optimisation), carries
BN running statistics that do not match the batches it trained on (evaluation), or fits them as well and
generalises worse (the data, the seed). Three measurements tell these apart:

- the error on training images (:func:`sample`), in eval mode and without augmentation;
- :func:`recalibrate`: every BN layer's running statistics recomputed as the exact average over
  augmented training batches; the test error after it says whether the statistics were the cause;
- :func:`chroma`: the chroma subsampling of a JPEG copy (``4:2:0`` stores colour at half the resolution).

    python -m course_utils.analysis.gap      # the finished nets of results/fig6/, on the images they trained on
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch
from PIL import Image, JpegImagePlugin
from torch import nn

from course_utils import data as cdata
from course_utils import results
from course_utils.analysis.gradients import calibrate_batchnorm
from course_utils.evaluation import NormFn, error_percent
from course_utils.experiments.provision import normalizer_for
from course_utils.fig6_set import run_name
from course_utils.models import get_model
from course_utils.paths import data_dir, results_dir
from course_utils.public import load_public
from course_utils.transforms import random_crop_flip

__all__ = ["sample", "recalibrate", "chroma", "gap_rows", "main"]

SAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}  # Pillow's JpegImagePlugin.get_sampling codes


def sample(data: cdata.CIFAR10, n: int = 10_000) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` training images and their labels (uint8 ``(n, 3, 32, 32)``, int64 ``(n,)``), a fixed random choice
    (seed 0): the copies are stored class by class, so their first images are one or two classes only."""
    pick = torch.randperm(len(data.train_labels), generator=torch.Generator().manual_seed(0))[:n]
    return data.train_images[pick], data.train_labels[pick]


def recalibrate(model: nn.Module, images: torch.Tensor, normalizer: NormFn, *, batch_size: int = 128) -> nn.Module:
    """A copy of ``model`` (on the CPU, in eval mode) whose BN running statistics are recomputed over
    ``images (N, 3, 32, 32)`` (uint8) in whole batches of ``batch_size``, each augmented as in training (pad 4,
    random crop, mirror; seed 0).

    The average is :func:`~course_utils.analysis.gradients.calibrate_batchnorm`'s: ``running_mean`` the mean of
    the batch means, ``running_var`` the mean of the unbiased batch variances. The weights are left as they are.
    """
    if normalizer is None:
        raise ValueError("pass the normalizer the network was trained with")
    if len(images) < batch_size:
        raise ValueError(f"need at least one whole batch of {batch_size} images, got {len(images)}")
    out = copy.deepcopy(model).cpu()
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in out.modules()):
        raise ValueError("the model has no BatchNorm layer: there are no running statistics to recompute")
    gen = torch.Generator().manual_seed(0)
    starts = range(0, len(images) - batch_size + 1, batch_size)  # whole batches, as in training
    return calibrate_batchnorm(
        out, (normalizer(random_crop_flip(images[i : i + batch_size], generator=gen)) for i in starts)
    )


def chroma(folder: str | Path) -> str:
    """The chroma subsampling of a JPEG under ``folder`` (the first found, searched recursively; a copy encodes
    all its images alike): ``"4:2:0"`` (colour at half the resolution in each direction), ``"4:2:2"`` or
    ``"4:4:4"`` (colour at full resolution)."""
    first = next(Path(folder).rglob("*.jpg"), None)
    if first is None:
        raise FileNotFoundError(f"no .jpg file under {folder}: chroma subsampling is a property of JPEG copies")
    with Image.open(first) as im:
        return SAMPLING.get(JpegImagePlugin.get_sampling(im), "other")


def gap_rows(names: list[str], folder: Path, data: cdata.CIFAR10, n: int = 10_000, seed: int = 0) -> list[dict]:
    """One row per finished net of ``folder`` with weights: recorded errors (ours at the end, the public run's
    end, "-" for a net it lacks), the error on ``n`` training images (:func:`sample`) in eval mode, and the test
    error with and without BN recomputed over those images, augmented."""
    done, public, rows = results.load_results(folder, seed), load_public(), []
    x, y = sample(data, n)
    for name in names:
        weights = folder / "weights" / f"{run_name(name, seed)}.pt"
        if name not in done or not weights.is_file():
            continue
        res, model = done[name], get_model(name)
        model.load_state_dict(results.load_state_dict(weights))
        norm, h = normalizer_for(res, data), res["history"]
        theirs = public[name]["history"] if name in public else {"train_error": ["-"], "test_error": ["-"]}
        test = error_percent(model, data.test_images, data.test_labels, normalizer=norm)
        again = recalibrate(model, x, norm)
        rows.append({
            "model": name, "train % (recorded)": h["train_error"][-1], "public train %": theirs["train_error"][-1],
            "test % (recorded)": h["test_error"][-1], "public test %": theirs["test_error"][-1],
            f"train % ({len(y):,} images, eval mode)": error_percent(model, x, y, normalizer=norm),
            "test % (weights)": test,
            "test % (BN recomputed)": error_percent(again, data.test_images, data.test_labels, normalizer=norm),
        })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m course_utils.analysis.gap", description=__doc__.split("\n")[0])
    p.add_argument("--folder", type=Path, default=results_dir() / "fig6", help="finished runs with weights/")
    p.add_argument("--models", default="plain20,resnet20,plain56,resnet56", help="comma-separated nets")
    p.add_argument("--images", type=int, default=10_000, help="training images for the fit and the BN statistics")
    a = p.parse_args(argv)
    data = cdata.load_cifar10()
    rows = gap_rows(a.models.split(","), a.folder, data, a.images)
    if not rows:
        print(f"no finished net with weights in {a.folder} among {a.models}", file=sys.stderr)
        return 1
    print("| " + " | ".join(rows[0]) + " |\n" + "|---" * len(rows[0]) + "|")
    for r in rows:
        print("| " + " | ".join(v if isinstance(v, str) else f"{v:.2f}" for v in r.values()) + " |")
    try:
        print(f"\nimages: {data.source}, chroma subsampling {chroma(data_dir())}")
    except FileNotFoundError:
        print(f"\nimages: {data.source} (not a JPEG copy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
