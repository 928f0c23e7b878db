"""CIFAR-10's sources: the official torchvision files, an ImageFolder tree, the download.

Each local source gives ``(key, decode)``: ``key`` names the source files (names, sizes,
modification times) for the cache in ``data``, and ``decode()`` returns the tensors, images
uint8 ``(N, 3, 32, 32)`` and labels int64 ``(N,)`` per split. ``data.load_cifar10`` picks the
first source that serves and caches what it decodes.
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
import threading
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import torch
from PIL import Image

__all__ = ["CLASSES", "DOWNLOAD_TIMEOUT_S"]

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DOWNLOAD_TIMEOUT_S = 30.0  # every socket operation of a download; the first contact gets 10 s
_EXTS = (".png", ".jpg", ".jpeg")


def _stat_key(kind: str, lines: list[str]) -> str:
    return f"v1:{kind}:{hashlib.sha1(''.join(lines).encode()).hexdigest()}"


def _folder_files(split_dir: Path) -> tuple[list[str], list[int], list[str]]:
    """Image paths, labels and ``name size mtime`` lines of one ImageFolder split; checks the class folders."""
    names = sorted(d.name for d in split_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    if names != sorted(CLASSES):
        raise ValueError(
            f"{split_dir} must hold exactly the 10 CIFAR-10 class folders {', '.join(CLASSES)}; "
            f"missing: {sorted(set(CLASSES) - set(names)) or 'none'}, "
            f"unexpected: {sorted(set(names) - set(CLASSES)) or 'none'}"
        )
    files, labels, lines = [], [], []
    for label, name in enumerate(CLASSES):  # CLASSES is sorted by name: folder order = label order
        with os.scandir(split_dir / name) as it:
            found = sorted((e for e in it if os.path.splitext(e.name)[1].lower() in _EXTS), key=lambda e: e.name)
        if not found:
            raise ValueError(f"{split_dir / name} holds no .png/.jpg images")
        for e in found:
            st = e.stat()
            files.append(e.path)
            lines.append(f"{split_dir.name}/{name}/{e.name} {st.st_size} {st.st_mtime_ns}\n")
        labels += [label] * len(found)
    return files, labels, lines


def _decode_chunk(paths: list[str]) -> np.ndarray:
    """Decode image files to uint8 ``(n, 32, 32, 3)`` (grey or RGBA converted to RGB)."""
    out = np.empty((len(paths), 32, 32, 3), np.uint8)
    for i, p in enumerate(paths):
        with Image.open(p) as im:
            if im.size != (32, 32):
                raise ValueError(f"{p} is {im.size[0]}x{im.size[1]}; CIFAR-10 images are 32x32")
            out[i] = np.asarray(im.convert("RGB"))
    return out


def _decode_files(strs: list[str]) -> torch.Tensor:
    """Decode many files with a process pool (60,000 JPEGs: a few seconds) -> ``(n, 3, 32, 32)``."""
    workers = min(os.cpu_count() or 1, 8)
    if len(strs) < 4000 or workers == 1:
        hwc = _decode_chunk(strs)
    else:
        step = math.ceil(len(strs) / (4 * workers))
        try:
            with ProcessPoolExecutor(workers) as pool:
                hwc = np.concatenate(
                    list(pool.map(_decode_chunk, [strs[i : i + step] for i in range(0, len(strs), step)]))
                )
        except (OSError, BrokenProcessPool) as err:  # no worker processes here (a sandbox?): decode in-process
            print(f"note: decoding in one process ({err})")
            hwc = _decode_chunk(strs)
    return torch.from_numpy(hwc).permute(0, 3, 1, 2).contiguous()  # (n, 32, 32, 3) -> (n, 3, 32, 32)


def _official(root: Path) -> tuple[str, Callable[[], dict]]:
    import torchvision

    base = root / torchvision.datasets.CIFAR10.base_folder
    files = [base / n for n, _ in torchvision.datasets.CIFAR10.train_list + torchvision.datasets.CIFAR10.test_list]
    key = _stat_key("official", [f"{f.name} {f.stat().st_size} {f.stat().st_mtime_ns}\n" for f in files if f.exists()])

    def decode() -> dict:
        out = {}
        for split, train in (("train", True), ("test", False)):  # raises RuntimeError when MD5s fail
            ds = torchvision.datasets.CIFAR10(str(root), train=train, download=False)
            if tuple(ds.classes) != CLASSES:
                raise RuntimeError(f"unexpected class names in {base}: {ds.classes}")
            out[f"{split}_images"] = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
            out[f"{split}_labels"] = torch.tensor(ds.targets, dtype=torch.int64)
        return out

    return key, decode


def _image_folder(root: Path) -> tuple[str, Callable[[], dict], str]:
    listing = {s: _folder_files(root / "cifar10" / s) for s in ("train", "test")}
    all_files = listing["train"][0] + listing["test"][0]
    kind = "jpeg" if any(not p.lower().endswith(".png") for p in all_files) else "png"

    def decode() -> dict:
        out = {}
        for split, (files, labels, _) in listing.items():
            out[f"{split}_images"] = _decode_files(files)
            out[f"{split}_labels"] = torch.tensor(labels, dtype=torch.int64)
        return out

    return _stat_key(kind, listing["train"][2] + listing["test"][2]), decode, kind


def _download_official(root: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Fetch the official files with torchvision (it shows a progress bar).

    The first contact is bounded by a thread join (DNS included); every later socket
    operation by ``timeout``. Tests replace this function: they never download.
    """
    import torchvision

    host = urllib.parse.urlparse(torchvision.datasets.CIFAR10.url).hostname
    _check_reachable(host, 443, min(timeout, 10.0))
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        torchvision.datasets.CIFAR10(str(root), train=True, download=True)
    finally:
        socket.setdefaulttimeout(old)


def _check_reachable(host: str, port: int, timeout: float) -> None:
    """Raise ``ConnectionError`` unless ``host:port`` accepts a connection within ``timeout`` s."""
    result: dict = {}

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result["ok"] = True
        except OSError as err:
            result["err"] = err

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    if not result.get("ok"):
        raise ConnectionError(f"cannot reach {host}:{port} within {timeout:.0f} s ({result.get('err', 'timed out')})")
