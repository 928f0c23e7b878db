"""CIFAR-10 in memory: the first source that serves, the cache, the offline fallbacks.

``load_cifar10()`` returns uint8 images ``(N, 3, 32, 32)`` and int64 labels from
the first source that serves, under the data root (``$COURSE_DATA_DIR`` or
``data/`` at the repo root):

1. the official torchvision files ``<root>/cifar-10-batches-py/`` (MD5-checked);
2. an ImageFolder tree ``<root>/cifar10/{train,test}/<class>/*.{png,jpg,jpeg}``;
3. a torchvision download (not in the smoke profile), with bounded timeouts.

Decoded tensors are cached in ``<root>/cifar10_uint8.pt``, keyed by the source
files' names, sizes and modification times. Offline with no data, the smoke
profile gets a small *synthetic* stand-in (with a loud warning); the cpu and gpu
profiles raise :class:`DataNotFoundError` at once.

The sources themselves (the files, their decoding, the download) live in
``sources``; the split, normalisation and augmentation in ``transforms``; batches
on the device in ``loader``.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CLASSES", "SOURCES", "CIFAR10", "DataNotFoundError", "load_cifar10", "synthetic_cifar10", "data_dir"]

import torch

from course_utils.paths import data_dir
from course_utils.profile import Profile, get_profile
from course_utils.sources import CLASSES, _download_official, _image_folder, _official

CACHE_NAME = "cifar10_uint8.pt"
SOURCES = {
    "official": "CIFAR-10 (official torchvision files)",
    "jpeg": "CIFAR-10, JPEG q75 mirror",
    "png": "CIFAR-10 (ImageFolder, PNG)",
    "synthetic": "synthetic stand-in",
}


class DataNotFoundError(FileNotFoundError):
    """No CIFAR-10 under the data root (and no download allowed or possible)."""


@dataclass(repr=False)
class CIFAR10:
    """CIFAR-10 in memory: images uint8 ``(N, 3, 32, 32)``, labels int64 ``(N,)``."""

    train_images: torch.Tensor  # (50000, 3, 32, 32) uint8
    train_labels: torch.Tensor  # (50000,) int64
    test_images: torch.Tensor  # (10000, 3, 32, 32) uint8
    test_labels: torch.Tensor  # (10000,) int64
    source: str
    classes: tuple[str, ...] = CLASSES

    def __repr__(self) -> str:
        return (
            f"CIFAR10(train={tuple(self.train_images.shape)}, test={tuple(self.test_images.shape)}, "
            f"source={self.source!r})"
        )


def _not_found_message(root: Path, profile: Profile, why: str) -> str:
    return (
        f"No CIFAR-10 found under {root} (profile {profile.name!r}; {why}).\n"
        f"Put the data there in one of the two accepted layouts:\n"
        f"  1. the official files: {root / 'cifar-10-batches-py'}/  (extract cifar-10-python.tar.gz from "
        f"https://www.cs.toronto.edu/~kriz/cifar.html into {root})\n"
        f"  2. an ImageFolder tree: {root / 'cifar10'}/{{train,test}}/<class>/*.png|jpg  "
        f"(class folders: {', '.join(CLASSES)})\n"
        f"or set COURSE_DATA_DIR to a folder that holds one of them."
    )


def load_cifar10(
    root: str | Path | None = None, profile: Profile | None = None, *, download: bool | None = None
) -> CIFAR10:
    """Load CIFAR-10 (all 50,000 + 10,000 images) from the first source that serves.

    ``download``: ``None`` follows the profile (cpu/gpu may download), ``False`` never,
    ``True`` also when the profile says no; the smoke profile never downloads.
    """
    root = Path(root).expanduser() if root is not None else data_dir()
    profile = profile or get_profile()
    may_download = profile.name != "smoke" and (profile.download_ok if download is None else download)
    start, why = time.perf_counter(), "downloads allowed" if may_download else "downloads not allowed"
    found = _from_disk(root)
    if found is None and may_download:
        try:
            _download_official(root)
            found, why = _from_disk(root), "the downloaded files did not serve"
        except Exception as err:
            why = f"download failed: {err}"
    if found is None:
        if profile.synthetic_ok:
            msg = (
                f"WARNING: no CIFAR-10 found under {root}; using a SYNTHETIC stand-in "
                f"(coloured stripes, not real images): its results say nothing about CIFAR-10."
            )
            print(msg)
            warnings.warn(msg, stacklevel=2)
            return synthetic_cifar10()
        raise DataNotFoundError(_not_found_message(root, profile, why))
    data, kind, how = found
    out = CIFAR10(**data, source=SOURCES[kind])
    n_tr, n_te = len(out.train_labels), len(out.test_labels)
    print(
        f"CIFAR-10 source: {out.source} under {root}: {n_tr:,} train / {n_te:,} test images "
        f"({how}, {time.perf_counter() - start:.1f} s)"
    )
    if (n_tr, n_te) != (50_000, 10_000):
        warnings.warn(
            f"{root} holds {n_tr:,} train / {n_te:,} test images, not 50,000 / 10,000: a partial copy?", stacklevel=2
        )
    return out


def _from_disk(root: Path) -> tuple[dict, str, str] | None:
    """(tensors, source kind, how) from the first local source that serves, else ``None``."""
    if (root / "cifar-10-batches-py").is_dir():
        try:
            key, decode = _official(root)
            data, how = _cached(root, key, decode)
            return data, "official", how
        except RuntimeError as err:  # torchvision: files missing or failing their MD5 check
            print(f"note: skipping {root / 'cifar-10-batches-py'}: {err}")
    if (root / "cifar10").is_dir():
        key, decode, kind = _image_folder(root)
        data, how = _cached(root, key, decode)
        return data, kind, how
    return None


def _cached(root: Path, key: str, decode) -> tuple[dict, str]:
    """Decoded tensors from ``<root>/cifar10_uint8.pt`` when its key matches, else decode and save."""
    path = root / CACHE_NAME
    if path.is_file():
        try:
            blob = torch.load(path, weights_only=True)
            if blob.get("key") == key:
                return {k: blob[k] for k in ("train_images", "train_labels", "test_images", "test_labels")}, "cached"
        except Exception as err:
            print(f"note: ignoring unreadable cache {path}: {err}")
    data = decode()
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        torch.save({"key": key, **data}, tmp)
        os.replace(tmp, path)  # atomic: a crash never leaves a half-written cache
        return data, f"decoded, cached in {path.name}"
    except OSError as err:
        tmp.unlink(missing_ok=True)
        return data, f"decoded, not cached: {err}"


def synthetic_cifar10(n_train: int = 2000, n_test: int = 500, seed: int = 0) -> CIFAR10:
    """A learnable stand-in with CIFAR-10's shapes and 10 balanced classes (NOT real images).

    Each image: a colour half set by its class and half random, stripes whose angle and
    period depend on the class, and Gaussian noise. A small CNN gets ~65% error after
    30 iterations and ~25% after 300: a learning curve, not an instant answer.
    """
    g = torch.Generator().manual_seed(seed)
    palette = torch.tensor(
        [
            [200, 60, 60],
            [60, 200, 60],
            [60, 60, 200],
            [200, 200, 60],
            [200, 60, 200],
            [60, 200, 200],
            [140, 140, 140],
            [230, 150, 60],
            [60, 120, 230],
            [120, 60, 20],
        ],
        dtype=torch.float32,
    )
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")

    def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = (torch.arange(n) % 10)[torch.randperm(n, generator=g)]
        angle = labels.float() * math.pi / 10  # (n,)
        period = 4.0 + 2.0 * (labels % 3).float()
        phase = torch.rand(n, generator=g) * 2 * math.pi
        u = xx * angle.cos()[:, None, None] + yy * angle.sin()[:, None, None]  # (n, 32, 32)
        stripes = torch.sin(2 * math.pi * u / period[:, None, None] + phase[:, None, None])
        colour = 0.5 * palette[labels] + 0.5 * 255 * torch.rand(n, 3, generator=g)  # (n, 3)
        img = colour[:, :, None, None] + 40 * stripes[:, None] + 40 * torch.randn(n, 3, 32, 32, generator=g)
        return img.clamp(0, 255).round().to(torch.uint8), labels.to(torch.int64)

    tr, te = make(n_train), make(n_test)
    return CIFAR10(tr[0], tr[1], te[0], te[1], source=SOURCES["synthetic"])
