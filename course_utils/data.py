"""CIFAR-10: sources, cache, split, normalisation and augmentation.

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

Augmentation exists twice: :func:`random_crop_flip` (batched, on the device
that holds the data; used by :class:`DeviceLoader`) and
:func:`dataloader_transform` (torchvision transforms for a ``DataLoader``).
"""
from __future__ import annotations

import hashlib
import math
import os
import socket
import threading
import time
import urllib.parse
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from course_utils.profile import Profile, get_profile

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# Mean and standard deviation of every pixel of the 50,000 official training images,
# per channel, in [0, 1] units. (The often-copied std (0.2023, 0.1994, 0.2010) is close to the
# average of per-image stds: a different, smaller quantity.)
CHANNEL_MEAN = (0.4914, 0.4822, 0.4465)
CHANNEL_STD = (0.2470, 0.2435, 0.2616)
CACHE_NAME = "cifar10_uint8.pt"
DOWNLOAD_TIMEOUT_S = 30.0  # every socket operation of a download; the first contact gets 10 s
_EXTS = (".png", ".jpg", ".jpeg")
SOURCES = {"official": "CIFAR-10 (official torchvision files)", "jpeg": "CIFAR-10, JPEG q75 mirror",
           "png": "CIFAR-10 (ImageFolder, PNG)", "synthetic": "synthetic stand-in"}


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
        return (f"CIFAR10(train={tuple(self.train_images.shape)}, test={tuple(self.test_images.shape)}, "
                f"source={self.source!r})")


def data_dir() -> Path:
    """The data root: ``$COURSE_DATA_DIR``, else ``<repo>/data``."""
    env = os.environ.get("COURSE_DATA_DIR", "").strip()
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[1] / "data"


# ----------------------------------------------------------------------------- sources
def _stat_key(kind: str, lines: list[str]) -> str:
    return f"v1:{kind}:{hashlib.sha1(''.join(lines).encode()).hexdigest()}"


def _folder_files(split_dir: Path) -> tuple[list[str], list[int], list[str]]:
    """Image paths, labels and ``name size mtime`` lines of one ImageFolder split; checks the class folders."""
    names = sorted(d.name for d in split_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    if names != sorted(CLASSES):
        raise ValueError(f"{split_dir} must hold exactly the 10 CIFAR-10 class folders {', '.join(CLASSES)}; "
                         f"missing: {sorted(set(CLASSES) - set(names)) or 'none'}, "
                         f"unexpected: {sorted(set(names) - set(CLASSES)) or 'none'}")
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
                hwc = np.concatenate(list(pool.map(_decode_chunk, [strs[i:i + step] for i in range(0, len(strs), step)])))
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


def _not_found_message(root: Path, profile: Profile, why: str) -> str:
    return (f"No CIFAR-10 found under {root} (profile {profile.name!r}; {why}).\n"
            f"Put the data there in one of the two accepted layouts:\n"
            f"  1. the official files: {root / 'cifar-10-batches-py'}/  (extract cifar-10-python.tar.gz from "
            f"https://www.cs.toronto.edu/~kriz/cifar.html into {root})\n"
            f"  2. an ImageFolder tree: {root / 'cifar10'}/{{train,test}}/<class>/*.png|jpg  "
            f"(class folders: {', '.join(CLASSES)})\n"
            f"or set COURSE_DATA_DIR to a folder that holds one of them.")


def load_cifar10(root: str | Path | None = None, profile: Profile | None = None, *,
                 download: bool | None = None) -> CIFAR10:
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
        except Exception as err:  # noqa: BLE001  (any network failure: report it, do not hang)
            why = f"download failed: {err}"
    if found is None:
        if profile.synthetic_ok:
            msg = (f"WARNING: no CIFAR-10 found under {root}; using a SYNTHETIC stand-in "
                   f"(coloured stripes, not real images): its results say nothing about CIFAR-10.")
            print(msg)
            warnings.warn(msg, stacklevel=2)
            return synthetic_cifar10()
        raise DataNotFoundError(_not_found_message(root, profile, why))
    data, kind, how = found
    out = CIFAR10(**data, source=SOURCES[kind])
    n_tr, n_te = len(out.train_labels), len(out.test_labels)
    print(f"CIFAR-10 source: {out.source} under {root}: {n_tr:,} train / {n_te:,} test images "
          f"({how}, {time.perf_counter() - start:.1f} s)")
    if (n_tr, n_te) != (50_000, 10_000):
        warnings.warn(f"{root} holds {n_tr:,} train / {n_te:,} test images, not 50,000 / 10,000: a partial copy?",
                      stacklevel=2)
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
        except Exception as err:  # noqa: BLE001  (a broken cache is rebuilt)
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
    palette = torch.tensor([[200, 60, 60], [60, 200, 60], [60, 60, 200], [200, 200, 60], [200, 60, 200],
                            [60, 200, 200], [140, 140, 140], [230, 150, 60], [60, 120, 230], [120, 60, 20]],
                           dtype=torch.float32)
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


# ----------------------------------------------------------------------------- split and normalisation
def train_val_split(labels: torch.Tensor, val_size: int = 5000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic *stratified* split: each class gives its share of ``val_size`` (500 each on CIFAR-10).

    Returns sorted int64 index tensors ``(train_idx, val_idx)``; same seed, same split.
    """
    labels = torch.as_tensor(labels, dtype=torch.int64).cpu()
    n = len(labels)
    if not 0 <= val_size < n:
        raise ValueError(f"val_size must be in [0, {n}) for {n} labels, got {val_size}")
    counts = torch.bincount(labels).double()
    quota = counts * val_size / n
    take = quota.floor().long()
    rest = val_size - int(take.sum())  # largest remainders get one more
    take[torch.argsort(quota - take, descending=True, stable=True)[:rest]] += 1
    g = torch.Generator().manual_seed(seed)
    val = []
    for c in range(len(counts)):
        idx = torch.nonzero(labels == c).flatten()
        val.append(idx[torch.randperm(len(idx), generator=g)[: int(take[c])]])
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.cat(val)] = True
    return torch.nonzero(~mask).flatten(), torch.nonzero(mask).flatten()


def _chunked_sums(images: torch.Tensor, dims: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor, int]:
    s = s2 = 0
    for i in range(0, len(images), 4096):
        x = images[i:i + 4096].double() / 255
        s, s2 = s + x.sum(dims), s2 + (x * x).sum(dims)
    return s, s2, math.prod(images.shape[d] for d in dims)


def per_pixel_mean(images: torch.Tensor) -> torch.Tensor:
    """The paper's per-pixel mean ``(3, 32, 32)`` float32 in [0, 1] units of uint8 images ``(N, 3, 32, 32)``."""
    s, _, n = _chunked_sums(images, (0,))
    return (s / n).float()


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std (over all pixels, [0, 1] units) of uint8 images ``(N, 3, H, W)``."""
    s, s2, n = _chunked_sums(images, (0, 2, 3))
    mean = s / n
    return tuple(mean.tolist()), tuple((s2 / n - mean**2).sqrt().tolist())


class Normalizer:
    """uint8 (scaled by 1/255) or float ([0, 1]) images -> normalised float32, on the input's device.

    ``per_channel``: ``(x - mean[c]) / std[c]`` (default CHANNEL_MEAN / CHANNEL_STD).
    ``per_pixel`` (the paper): ``x - mean`` with ``mean`` ``(3, 32, 32)`` from :func:`per_pixel_mean`;
    an optional ``std`` also divides.
    """

    def __init__(self, mode: str = "per_channel", mean=None, std=None) -> None:
        if mode == "per_channel":
            mean = torch.as_tensor(CHANNEL_MEAN if mean is None else mean, dtype=torch.float32).reshape(3, 1, 1)
            std = torch.as_tensor(CHANNEL_STD if std is None else std, dtype=torch.float32).reshape(3, 1, 1)
        elif mode == "per_pixel":
            if mean is None:
                raise ValueError("per_pixel needs mean=per_pixel_mean(train_images), a (3, 32, 32) tensor")
            mean = torch.as_tensor(mean, dtype=torch.float32).reshape(3, 32, 32)
            std = None if std is None else torch.as_tensor(std, dtype=torch.float32).reshape(-1, 1, 1)
        else:
            raise ValueError(f"unknown mode {mode!r}; choose 'per_pixel' or 'per_channel'")
        self.mode, self.mean, self.std = mode, mean.cpu(), None if std is None else std.cpu()
        self._on: dict = {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, 32, 32) or (3, 32, 32)
        if x.device not in self._on:
            self._on[x.device] = (self.mean.to(x.device), None if self.std is None else self.std.to(x.device))
        mean, std = self._on[x.device]
        x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
        x = x - mean
        return x if std is None else x / std

    def __repr__(self) -> str:
        return f"Normalizer(mode={self.mode!r})"


# ----------------------------------------------------------------------------- augmentation
def sample_crop_flip(n: int, pad: int = 4, generator: torch.Generator | None = None, device=None):
    """Random ``(dx, dy, flip)`` for ``n`` images: offsets uniform in ``[0, 2 * pad]``, flip with p = 0.5."""
    device = torch.device(device or "cpu")
    dev = generator.device if generator is not None else device
    dx, dy = torch.randint(0, 2 * pad + 1, (2, n), generator=generator, device=dev)
    flip = torch.rand(n, generator=generator, device=dev) < 0.5
    return tuple(t.to(device, non_blocking=True) for t in (dx, dy, flip))


def crop_flip(x: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, flip: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """Zero-pad ``x`` ``(B, C, H, W)`` by ``pad``, crop ``H x W`` at ``(dy, dx)``, then mirror where ``flip``.

    One gather for the whole batch (index arithmetic, no per-image loop); any dtype and device.
    """
    b, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))  # (B, C, H + 2p, W + 2p), zeros
    rows = dy[:, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = dx[:, None] + torch.arange(w, device=x.device)  # (B, W)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    bi = torch.arange(b, device=x.device)[:, None, None, None]
    ci = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]  # (B, C, H, W)


def random_crop_flip(x: torch.Tensor, pad: int = 4, generator: torch.Generator | None = None) -> torch.Tensor:
    """The paper's augmentation, batched on ``x``'s device: pad 4, random 32x32 crop, random mirror."""
    return crop_flip(x, *sample_crop_flip(len(x), pad, generator, x.device), pad=pad)


def dataloader_transform(train: bool, mean=CHANNEL_MEAN, std=CHANNEL_STD):
    """The same pipeline as torchvision transforms on PIL images (the conventional ``DataLoader`` way)."""
    import torchvision.transforms as T

    aug = [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] if train else []
    return T.Compose(aug + [T.ToTensor(), T.Normalize(mean, std)])


class TensorImageDataset(torch.utils.data.Dataset):
    """uint8 images ``(N, 3, 32, 32)`` served one PIL image at a time through ``transform``."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform=None) -> None:
        self.hwc = images.permute(0, 2, 3, 1).contiguous().numpy()  # (N, 32, 32, 3), what PIL wants
        self.labels, self.transform = labels.tolist(), transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        img = Image.fromarray(self.hwc[i])
        return (self.transform(img) if self.transform else img), self.labels[i]


class DeviceLoader:
    """The whole uint8 dataset resident on ``device``; batches made there with no host sync.

    Each epoch draws a fresh permutation from the loader's own seeded generator; a train
    batch is index -> crop/flip -> normalise (-> channels_last). ``train=True`` drops the
    last partial batch; ``train=False`` keeps order and every image. Iterating yields the
    rest of the current epoch; :meth:`batches` yields exactly ``n`` across epochs; and
    :meth:`state_dict` / :meth:`load_state_dict` resume with the very same batches.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 128, *, train: bool = True,
                 normalizer: Normalizer | None = None, device=None, seed: int = 0,
                 channels_last: bool = False) -> None:
        self.device = torch.device(device) if device is not None else images.device
        self.images = images.to(self.device)  # (N, 3, 32, 32) uint8
        self.labels = torch.as_tensor(labels, dtype=torch.int64).to(self.device)
        self.batch_size, self.train, self.channels_last = batch_size, train, channels_last
        self.normalizer = normalizer or Normalizer("per_channel")
        if train and len(images) < batch_size:
            raise ValueError(f"{len(images)} images cannot fill one batch of {batch_size} (train drops partial batches)")
        try:
            self.generator = torch.Generator(device=self.device)
        except RuntimeError:  # a device without its own generator: draw on the CPU
            self.generator = torch.Generator()
        self.generator.manual_seed(seed)
        self.epoch, self.position, self.perm = 0, 0, None

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.train else math.ceil(n / self.batch_size)

    def _next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.perm is None or self.position >= len(self):
            n = len(self.labels)
            self.perm = (torch.randperm(n, generator=self.generator, device=self.generator.device).to(self.device)
                         if self.train else torch.arange(n, device=self.device))
            self.epoch, self.position = self.epoch + 1, 0
        idx = self.perm[self.position * self.batch_size:(self.position + 1) * self.batch_size]
        self.position += 1
        x = self.images.index_select(0, idx)  # (B, 3, 32, 32) uint8
        if self.train:
            x = crop_flip(x, *sample_crop_flip(len(idx), 4, self.generator, self.device))
        x = self.normalizer(x)  # float32
        x = x.contiguous(memory_format=torch.channels_last) if self.channels_last else x.contiguous()
        return x, self.labels.index_select(0, idx)

    def __iter__(self):
        """Yield the batches left in the current epoch (a whole fresh epoch after the last one)."""
        if self.perm is None or self.position >= len(self):
            yield self._next()
        while self.position < len(self):
            yield self._next()

    def batches(self, n: int | None = None):
        """Yield exactly ``n`` batches (forever when ``None``), crossing epoch boundaries."""
        count = 0
        while n is None or count < n:
            yield self._next()
            count += 1

    def state_dict(self) -> dict:
        """Generator state, epoch, position and permutation: enough to replay the next batches."""
        return {"generator": self.generator.get_state(), "epoch": self.epoch, "position": self.position,
                "perm": None if self.perm is None else self.perm.cpu()}

    def load_state_dict(self, state: dict) -> None:
        if state["perm"] is not None and len(state["perm"]) != len(self.labels):
            raise ValueError(f"state is for {len(state['perm'])} images, this loader holds {len(self.labels)}")
        self.generator.set_state(state["generator"])
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self.perm = None if state["perm"] is None else state["perm"].to(self.device)
