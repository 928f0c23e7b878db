"""Tests for course_utils.transforms: the 45k/5k split, normalisation, crop + flip augmentation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from PIL import Image

from course_utils import transforms as T

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is faster


# ----------------------------------------------------------------------------- split and normalisation
def test_split_is_stratified_and_deterministic():
    labels = (torch.arange(50_000) % 10)[torch.randperm(50_000, generator=torch.Generator().manual_seed(5))]
    tr, va = T.train_val_split(labels)
    assert len(tr) == 45_000 and len(va) == 5_000 and torch.bincount(labels[va]).tolist() == [500] * 10
    assert torch.equal(torch.sort(torch.cat([tr, va])).values, torch.arange(50_000))
    tr2, va2 = T.train_val_split(labels)
    assert torch.equal(tr, tr2) and torch.equal(va, va2)
    assert not torch.equal(va, T.train_val_split(labels, seed=1)[1])
    _, va = T.train_val_split(torch.tensor([0] * 7 + [1] * 3), val_size=3)  # quotas 2.1 / 0.9 -> 2 / 1
    assert len(va) == 3 and torch.bincount(torch.tensor([0] * 7 + [1] * 3)[va]).tolist() == [2, 1]
    with pytest.raises(ValueError, match="val_size"):
        T.train_val_split(labels, val_size=50_000)


def test_means_match_numpy():
    x = torch.randint(0, 256, (300, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    a = x.numpy().astype(np.float64) / 255
    assert np.allclose(T.per_pixel_mean(x).numpy(), a.mean(0), atol=1e-6)
    mean, std = T.channel_stats(x)
    assert np.allclose(mean, a.mean((0, 2, 3))) and np.allclose(std, a.std((0, 2, 3)))


def test_normalizer_agrees_with_torchvision():
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    norm = T.Normalizer("per_channel")
    out = norm(x)
    assert out.dtype == torch.float32 and out.shape == (8, 3, 32, 32)
    ref = torch.stack([T.dataloader_transform(False)(Image.fromarray(i.permute(1, 2, 0).numpy())) for i in x])
    assert torch.allclose(out, ref, atol=1e-5)
    assert torch.allclose(norm(x.float() / 255), out, atol=1e-6)  # float input in [0, 1]
    assert norm(x.to("meta")).device.type == "meta"  # works wherever the input lives
    pp = T.Normalizer("per_pixel", T.per_pixel_mean(x))
    assert pp(x).mean(0).abs().max() < 1e-5  # the paper: per-pixel mean subtracted
    with pytest.raises(ValueError, match="per_pixel_mean"):
        T.Normalizer("per_pixel")
    with pytest.raises(ValueError, match="per_channel"):
        T.Normalizer("zca")


# ----------------------------------------------------------------------------- augmentation
def test_crop_flip_equals_slow_reference():
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    dx, dy, flip = T.sample_crop_flip(64, 4, torch.Generator().manual_seed(3))
    fast = T.crop_flip(x, dx, dy, flip)
    for i in range(64):
        ref = TF.crop(F.pad(x[i], (4, 4, 4, 4)), int(dy[i]), int(dx[i]), 32, 32)
        assert torch.equal(fast[i], TF.hflip(ref) if flip[i] else ref)
    again = T.random_crop_flip(x, generator=torch.Generator().manual_seed(3))
    assert torch.equal(again, fast) and again.dtype == torch.uint8
    assert torch.equal(T.random_crop_flip(x.float(), generator=torch.Generator().manual_seed(3)), fast.float())


def coordinate_image() -> torch.Tensor:
    """(3, 32, 32) uint8: red = row + 1, green = column + 1, blue = 255 (padding is 0 everywhere)."""
    r = torch.arange(1, 33, dtype=torch.uint8)
    return torch.stack(
        [r[:, None].expand(32, 32), r[None, :].expand(32, 32), torch.full((32, 32), 255, dtype=torch.uint8)]
    )


def recover(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(dx, dy, flip) from augmented coordinate images ``(N, 3, 32, 32)`` in 0..255 units (pad 4)."""
    row, col, right = out[:, 0, 16, 16] - 1, out[:, 1, 16, 16] - 1, out[:, 1, 16, 17] - 1
    flip = right < col  # columns run backwards in a mirrored crop
    return col - torch.where(flip, 15, 16) + 4, row - 16 + 4, flip


def wilson_hilferty(dof: int, z: float = 3.09) -> float:
    """The chi-square quantile for a standard-normal z (3.09: p = 0.999)."""
    a = 2 / (9 * dof)
    return dof * (1 - a + z * math.sqrt(a)) ** 3


def looks_like_pad4_crop_flip(dx, dy, flip) -> bool:
    """Offsets uniform over the 9 x 9 grid and flips at rate 0.5, at p = 0.001."""
    n = len(dx)
    if dx.min() < 0 or dy.min() < 0 or dx.max() > 8 or dy.max() > 8:
        return False
    counts = torch.bincount((dy * 9 + dx).long(), minlength=81).double()
    chi2 = ((counts - n / 81) ** 2 / (n / 81)).sum().item()
    return chi2 < wilson_hilferty(80) and abs(flip.double().mean().item() - 0.5) < 3.3 * math.sqrt(0.25 / n)


@pytest.mark.slow
def test_both_augmentations_have_the_same_distribution():
    n = 4050  # 50 per offset cell
    img = coordinate_image()
    batch = img.expand(n, 3, 32, 32)
    fast = T.random_crop_flip(batch, generator=torch.Generator().manual_seed(0)).long()
    truth = T.sample_crop_flip(n, 4, torch.Generator().manual_seed(0))
    got_fast = recover(fast)
    assert all(torch.equal(g, t) for g, t in zip(got_fast, truth, strict=True))  # recover() reads the offsets right

    ds = T.TensorImageDataset(img[None], torch.tensor([0]), T.dataloader_transform(True))
    torch.manual_seed(0)
    slow = torch.stack([ds[0][0] for _ in range(n)])
    mean, std = torch.tensor(T.CHANNEL_MEAN)[:, None, None], torch.tensor(T.CHANNEL_STD)[:, None, None]
    got_slow = recover(((slow * std + mean) * 255).round().long())

    assert looks_like_pad4_crop_flip(*got_fast) and looks_like_pad4_crop_flip(*got_slow)
    cells = [
        torch.bincount((dy * 9 + dx + 81 * f).long(), minlength=162).double() for dx, dy, f in (got_fast, got_slow)
    ]
    expected = (cells[0] + cells[1]) / 2  # two-sample (homogeneity) chi-square, 161 dof
    assert ((cells[0] - expected) ** 2 / expected).sum() * 2 < wilson_hilferty(161)
    # the checks can fail: a wrong pad or a missing flip is caught
    assert not looks_like_pad4_crop_flip(*recover(T.random_crop_flip(batch, pad=2).long()))
    dx, dy, _ = got_fast
    assert not looks_like_pad4_crop_flip(dx, dy, torch.zeros(n, dtype=torch.bool))


def test_tensor_image_dataset_serves_pil():
    x = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    ds = T.TensorImageDataset(x, torch.arange(5))
    img, label = ds[3]
    assert len(ds) == 5 and isinstance(img, Image.Image) and label == 3 and isinstance(label, int)
    assert np.array_equal(np.asarray(img), x[3].permute(1, 2, 0).numpy())
