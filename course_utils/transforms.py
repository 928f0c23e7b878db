"""The paper's data pipeline on tensors: the 45k/5k split, normalisation, crop + flip augmentation.

Everything works on uint8 image batches ``(N, 3, 32, 32)`` on any device.
:func:`random_crop_flip` is the batched augmentation the training engine uses;
:func:`dataloader_transform` is the same pipeline as torchvision transforms, for the
conventional ``DataLoader`` baseline.

    >>> x = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    >>> random_crop_flip(x).shape
    torch.Size([2, 3, 32, 32])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from PIL import Image

__all__ = [
    "CHANNEL_MEAN",
    "CHANNEL_STD",
    "train_val_split",
    "per_pixel_mean",
    "channel_stats",
    "Normalizer",
    "make_normalizer",
    "sample_crop_flip",
    "crop_flip",
    "random_crop_flip",
    "dataloader_transform",
    "TensorImageDataset",
]

# Mean and standard deviation of every pixel of the 50,000 official training images,
# per channel, in [0, 1] units. (The often-copied std (0.2023, 0.1994, 0.2010) is close to the
# average of per-image stds: a different, smaller quantity.)
CHANNEL_MEAN = (0.4914, 0.4822, 0.4465)
CHANNEL_STD = (0.2470, 0.2435, 0.2616)


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
        x = images[i : i + 4096].double() / 255
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
                raise ValueError("per_pixel needs mean=per_pixel_mean(train_x), a (3, 32, 32) tensor")
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


def make_normalizer(mode: str, train_x: torch.Tensor) -> Normalizer:
    """``per_pixel`` (the paper: subtract the per-pixel mean of the training images) or ``per_channel``."""
    if mode == "per_pixel":
        return Normalizer("per_pixel", mean=per_pixel_mean(train_x))
    return Normalizer(mode)


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
