"""Tests for course_utils.data: sources, cache, fallbacks, split, normalisation, augmentation, loader.

Every source is tested on a tiny tree written into ``tmp_path``; nothing here downloads.
The official-format test writes real ``cifar-10-batches-py`` pickles; since torchvision
MD5-checks them against the real release, that test replaces torchvision's
``check_integrity`` (and a second test keeps it, to show that corrupt files are skipped).
"""
from __future__ import annotations

import io
import math
import os
import pickle
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
import torchvision.transforms.functional as TF
from PIL import Image

from course_utils import data as D
from course_utils.profile import get_profile

pytestmark = pytest.mark.filterwarnings("ignore:.*partial copy")
CPU, SMOKE = get_profile("cpu", device="cpu"), get_profile("smoke", device="cpu")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tensors are tiny: one intra-op thread is faster, above all on a busy shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_folder(root: Path, ext: str = "png", n_train: int = 3, n_test: int = 2, seed: int = 0) -> dict:
    """Write ``root/cifar10/{train,test}/<class>/NNNN.<ext>``; return the written HWC arrays per split."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        arrays = []
        for name in D.CLASSES:
            folder = root / "cifar10" / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(a).save(folder / f"{i:04d}.{ext}")
                arrays.append(a)
        out[split] = np.stack(arrays)
    return out


def make_official(root: Path, per_batch: int = 4, seed: int = 1) -> dict:
    """Write the ``cifar-10-batches-py`` pickles (5 train batches, a test batch, the meta file)."""
    rng = np.random.default_rng(seed)
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    out = {"train": ([], []), "test": ([], [])}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        flat = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)  # rows: R plane, G plane, B plane
        labels = rng.integers(0, 10, per_batch).tolist()
        with open(base / name, "wb") as f:
            pickle.dump({"data": flat, "labels": labels}, f)
        split = "test" if name == "test_batch" else "train"
        out[split][0].append(flat.reshape(-1, 3, 32, 32))
        out[split][1].extend(labels)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": list(D.CLASSES)}, f)
    return {k: (np.concatenate(v[0]), v[1]) for k, v in out.items()}


@pytest.fixture
def no_download(monkeypatch):
    """Replace the downloader: record calls, fail at once like an offline machine."""
    calls = []

    def offline(root, timeout=D.DOWNLOAD_TIMEOUT_S):
        calls.append(root)
        raise ConnectionError("no network (test)")
    monkeypatch.setattr(D, "_download_official", offline)
    return calls


def chw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(0, 3, 1, 2)


# ----------------------------------------------------------------------------- sources
def test_data_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert D.data_dir() == tmp_path
    monkeypatch.delenv("COURSE_DATA_DIR")
    assert D.data_dir() == Path(D.__file__).resolve().parents[1] / "data"
    assert len(D.CLASSES) == 10 and list(D.CLASSES) == sorted(D.CLASSES)  # folder order = label order


def test_png_folder_is_lossless_and_sorted(tmp_path, capsys, no_download):
    written = make_folder(tmp_path, "png")
    d = D.load_cifar10(tmp_path, CPU)
    assert d.source == "CIFAR-10 (ImageFolder, PNG)" and no_download == []
    assert d.train_images.dtype == torch.uint8 and d.train_images.shape == (30, 3, 32, 32)
    assert d.train_labels.dtype == torch.int64 and d.train_labels.tolist() == [c for c in range(10) for _ in range(3)]
    assert torch.equal(d.train_images, chw(written["train"])) and torch.equal(d.test_images, chw(written["test"]))
    assert "CIFAR-10 source: CIFAR-10 (ImageFolder, PNG)" in capsys.readouterr().out


def test_jpeg_folder_matches_pillow(tmp_path):
    make_folder(tmp_path, "jpg", n_train=2, n_test=1)
    d = D.load_cifar10(tmp_path, CPU, download=False)
    assert d.source == "CIFAR-10, JPEG q75 mirror"
    first = tmp_path / "cifar10" / "test" / "airplane" / "0000.jpg"
    assert torch.equal(d.test_images[0], torch.from_numpy(np.array(Image.open(first).convert("RGB"))).permute(2, 0, 1))


def test_official_files_first(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)  # fake files, no MD5
    make_folder(tmp_path, "png")
    truth = make_official(tmp_path)
    d = D.load_cifar10(tmp_path, CPU, download=False)
    assert d.source == "CIFAR-10 (official torchvision files)"
    assert torch.equal(d.train_images, torch.from_numpy(truth["train"][0])) and d.train_labels.tolist() == truth["train"][1]
    assert torch.equal(d.test_images, torch.from_numpy(truth["test"][0])) and d.test_labels.tolist() == truth["test"][1]
    assert "official torchvision files" in capsys.readouterr().out


def test_corrupt_official_files_fall_through(tmp_path, capsys):
    make_official(tmp_path)  # real MD5 check: these files fail it
    make_folder(tmp_path, "png")
    assert D.load_cifar10(tmp_path, CPU, download=False).source == "CIFAR-10 (ImageFolder, PNG)"
    assert "skipping" in capsys.readouterr().out


def test_folder_validation(tmp_path):
    make_folder(tmp_path, "png", n_train=1, n_test=1)
    cat = tmp_path / "cifar10" / "train" / "cat"
    Image.fromarray(np.full((32, 32), 77, np.uint8), mode="L").save(cat / "0000.png")  # grey: converted
    d = D.load_cifar10(tmp_path, CPU, download=False)
    assert (d.train_images[3] == 77).all()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(cat / "0001.png")
    with pytest.raises(ValueError, match="32x32"):
        D.load_cifar10(tmp_path, CPU, download=False)
    (cat / "0001.png").unlink()
    cat.rename(cat.with_name("kitty"))
    with pytest.raises(ValueError, match=r"missing: \['cat'\].*unexpected: \['kitty'\]"):
        D.load_cifar10(tmp_path, CPU, download=False)


def test_cache_reused_and_invalidated(tmp_path, monkeypatch, capsys):
    make_folder(tmp_path, "png")
    first = D.load_cifar10(tmp_path, CPU, download=False)
    assert (tmp_path / D.CACHE_NAME).is_file() and "decoded, cached" in capsys.readouterr().out

    def boom(*a, **k):
        raise AssertionError("decoded although the cache is valid")
    with monkeypatch.context() as m:
        m.setattr(D, "_decode_files", boom)
        again = D.load_cifar10(tmp_path, CPU, download=False)
    assert "(cached" in capsys.readouterr().out
    assert torch.equal(again.train_images, first.train_images) and torch.equal(again.test_labels, first.test_labels)

    changed = tmp_path / "cifar10" / "test" / "truck" / "0001.png"  # last test image
    Image.fromarray(np.full((32, 32, 3), 9, np.uint8)).save(changed)
    st = changed.stat()
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    fresh = D.load_cifar10(tmp_path, CPU, download=False)
    assert "decoded" in capsys.readouterr().out and (fresh.test_images[-1] == 9).all()

    (tmp_path / D.CACHE_NAME).write_bytes(b"not a torch file")
    assert torch.equal(D.load_cifar10(tmp_path, CPU, download=False).test_images, fresh.test_images)
    assert "ignoring unreadable cache" in capsys.readouterr().out


# ----------------------------------------------------------------------------- offline behaviour
def test_offline_cpu_raises_fast_and_clearly(tmp_path, no_download):
    start = time.perf_counter()
    with pytest.raises(D.DataNotFoundError) as err:
        D.load_cifar10(tmp_path, CPU)
    assert time.perf_counter() - start < 30 and len(no_download) == 1
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    for part in (str(tmp_path), "cifar-10-batches-py", "cifar-10-python.tar.gz", "cifar10/{train,test}/<class>/*.png|jpg",
                 "COURSE_DATA_DIR", "download failed: no network"):
        assert part in msg, part
    with pytest.raises(D.DataNotFoundError, match="downloads not allowed"):
        D.load_cifar10(tmp_path, CPU, download=False)
    assert len(no_download) == 1


def test_download_is_bounded_and_restores_timeout(tmp_path, monkeypatch):
    def slow(*a, **k):  # a black-holed connection attempt
        time.sleep(1.5)
        raise TimeoutError("timed out (test)")
    monkeypatch.setattr(D.socket, "create_connection", slow)
    before = socket.getdefaulttimeout()
    start = time.perf_counter()
    with pytest.raises(ConnectionError, match="within"):
        D._download_official(tmp_path, timeout=0.2)
    assert time.perf_counter() - start < 2

    seen = {}

    class FakeCIFAR10:  # stands in for torchvision's: records how it was called, fetches nothing
        url = torchvision.datasets.CIFAR10.url

        def __init__(self, root, train=True, download=False):
            seen.update(root=root, download=download, timeout=socket.getdefaulttimeout())
    monkeypatch.setattr(D.socket, "create_connection", lambda *a, **k: io.BytesIO())
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    D._download_official(tmp_path, timeout=7)
    assert seen == {"root": str(tmp_path), "download": True, "timeout": 7}
    assert socket.getdefaulttimeout() == before


def test_smoke_falls_back_to_synthetic_loudly(tmp_path, capsys, no_download):
    with pytest.warns(UserWarning, match="SYNTHETIC"):
        d = D.load_cifar10(tmp_path, SMOKE, download=True)  # smoke never downloads, even when asked
    assert no_download == [] and d.source == "synthetic stand-in"
    assert "WARNING: no CIFAR-10 found under" in capsys.readouterr().out
    assert d.train_images.shape == (2000, 3, 32, 32) and d.test_images.shape == (500, 3, 32, 32)
    assert d.train_images.dtype == torch.uint8 and d.train_labels.dtype == torch.int64
    assert torch.bincount(d.train_labels).tolist() == [200] * 10
    make_folder(tmp_path, "png")
    assert D.load_cifar10(tmp_path, SMOKE).source == "CIFAR-10 (ImageFolder, PNG)"  # real data wins in smoke too


def test_synthetic_is_deterministic_and_learnable():
    a, b = D.synthetic_cifar10(seed=0), D.synthetic_cifar10(seed=0)
    assert torch.equal(a.train_images, b.train_images) and not torch.equal(a.train_images[:500], a.test_images)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(4),
                              torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(32, 10))
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    for x, y in D.DeviceLoader(a.train_images, a.train_labels, 32, seed=0).batches(60):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    with torch.no_grad():
        pred = net(D.Normalizer()(a.test_images)).argmax(1)
    error = (pred != a.test_labels).float().mean().item() * 100
    assert error < 75, f"synthetic data not learnable: {error:.1f}% test error after 60 iterations (chance: 90%)"


def test_real_cifar10_if_present():
    root = D.data_dir()
    if not ((root / "cifar10").is_dir() or (root / "cifar-10-batches-py").is_dir()):
        pytest.skip(f"no CIFAR-10 under {root}")
    d = D.load_cifar10(root, CPU, download=False)
    assert torch.bincount(d.train_labels).tolist() == [5000] * 10
    assert torch.bincount(d.test_labels).tolist() == [1000] * 10
    mean, std = D.channel_stats(d.train_images)
    assert np.allclose(mean, D.CHANNEL_MEAN, atol=0.005) and np.allclose(std, D.CHANNEL_STD, atol=0.005), (mean, std)


# ----------------------------------------------------------------------------- split and normalisation
def test_split_is_stratified_and_deterministic():
    labels = (torch.arange(50_000) % 10)[torch.randperm(50_000, generator=torch.Generator().manual_seed(5))]
    tr, va = D.train_val_split(labels)
    assert len(tr) == 45_000 and len(va) == 5_000 and torch.bincount(labels[va]).tolist() == [500] * 10
    assert torch.equal(torch.sort(torch.cat([tr, va])).values, torch.arange(50_000))
    tr2, va2 = D.train_val_split(labels)
    assert torch.equal(tr, tr2) and torch.equal(va, va2)
    assert not torch.equal(va, D.train_val_split(labels, seed=1)[1])
    _, va = D.train_val_split(torch.tensor([0] * 7 + [1] * 3), val_size=3)  # quotas 2.1 / 0.9 -> 2 / 1
    assert len(va) == 3 and torch.bincount(torch.tensor([0] * 7 + [1] * 3)[va]).tolist() == [2, 1]
    with pytest.raises(ValueError, match="val_size"):
        D.train_val_split(labels, val_size=50_000)


def test_means_match_numpy():
    x = torch.randint(0, 256, (300, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    a = x.numpy().astype(np.float64) / 255
    assert np.allclose(D.per_pixel_mean(x).numpy(), a.mean(0), atol=1e-6)
    mean, std = D.channel_stats(x)
    assert np.allclose(mean, a.mean((0, 2, 3))) and np.allclose(std, a.std((0, 2, 3)))


def test_normalizer_agrees_with_torchvision():
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    norm = D.Normalizer("per_channel")
    out = norm(x)
    assert out.dtype == torch.float32 and out.shape == (8, 3, 32, 32)
    ref = torch.stack([D.dataloader_transform(False)(Image.fromarray(i.permute(1, 2, 0).numpy())) for i in x])
    assert torch.allclose(out, ref, atol=1e-5)
    assert torch.allclose(norm(x.float() / 255), out, atol=1e-6)  # float input in [0, 1]
    assert norm(x.to("meta")).device.type == "meta"  # works wherever the input lives
    pp = D.Normalizer("per_pixel", D.per_pixel_mean(x))
    assert pp(x).mean(0).abs().max() < 1e-5  # the paper: per-pixel mean subtracted
    with pytest.raises(ValueError, match="per_pixel_mean"):
        D.Normalizer("per_pixel")
    with pytest.raises(ValueError, match="per_channel"):
        D.Normalizer("zca")


# ----------------------------------------------------------------------------- augmentation
def test_crop_flip_equals_slow_reference():
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    dx, dy, flip = D.sample_crop_flip(64, 4, torch.Generator().manual_seed(3))
    fast = D.crop_flip(x, dx, dy, flip)
    for i in range(64):
        ref = TF.crop(F.pad(x[i], (4, 4, 4, 4)), int(dy[i]), int(dx[i]), 32, 32)
        assert torch.equal(fast[i], TF.hflip(ref) if flip[i] else ref)
    again = D.random_crop_flip(x, generator=torch.Generator().manual_seed(3))
    assert torch.equal(again, fast) and again.dtype == torch.uint8
    assert torch.equal(D.random_crop_flip(x.float(), generator=torch.Generator().manual_seed(3)), fast.float())


def coordinate_image() -> torch.Tensor:
    """(3, 32, 32) uint8: red = row + 1, green = column + 1, blue = 255 (padding is 0 everywhere)."""
    r = torch.arange(1, 33, dtype=torch.uint8)
    return torch.stack([r[:, None].expand(32, 32), r[None, :].expand(32, 32), torch.full((32, 32), 255, dtype=torch.uint8)])


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


def test_both_augmentations_have_the_same_distribution():
    n = 4050  # 50 per offset cell
    img = coordinate_image()
    batch = img.expand(n, 3, 32, 32)
    fast = D.random_crop_flip(batch, generator=torch.Generator().manual_seed(0)).long()
    truth = D.sample_crop_flip(n, 4, torch.Generator().manual_seed(0))
    got_fast = recover(fast)
    assert all(torch.equal(g, t) for g, t in zip(got_fast, truth))  # recover() reads the offsets right

    ds = D.TensorImageDataset(img[None], torch.tensor([0]), D.dataloader_transform(True))
    torch.manual_seed(0)
    slow = torch.stack([ds[0][0] for _ in range(n)])
    mean, std = torch.tensor(D.CHANNEL_MEAN)[:, None, None], torch.tensor(D.CHANNEL_STD)[:, None, None]
    got_slow = recover(((slow * std + mean) * 255).round().long())

    assert looks_like_pad4_crop_flip(*got_fast) and looks_like_pad4_crop_flip(*got_slow)
    cells = [torch.bincount((dy * 9 + dx + 81 * f).long(), minlength=162).double() for dx, dy, f in (got_fast, got_slow)]
    expected = (cells[0] + cells[1]) / 2  # two-sample (homogeneity) chi-square, 161 dof
    assert ((cells[0] - expected) ** 2 / expected).sum() * 2 < wilson_hilferty(161)
    # the checks can fail: a wrong pad or a missing flip is caught
    assert not looks_like_pad4_crop_flip(*recover(D.random_crop_flip(batch, pad=2).long()))
    dx, dy, _ = got_fast
    assert not looks_like_pad4_crop_flip(dx, dy, torch.zeros(n, dtype=torch.bool))


def test_tensor_image_dataset_serves_pil():
    x = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    ds = D.TensorImageDataset(x, torch.arange(5))
    img, label = ds[3]
    assert len(ds) == 5 and isinstance(img, Image.Image) and label == 3 and isinstance(label, int)
    assert np.array_equal(np.asarray(img), x[3].permute(1, 2, 0).numpy())


# ----------------------------------------------------------------------------- DeviceLoader
def test_device_loader_batches_and_coverage():
    x = torch.randint(0, 256, (260, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    train = D.DeviceLoader(x, torch.arange(260), 64, seed=0)
    assert len(train) == 4  # drops the partial batch
    epochs = [list(train), list(train)]
    for batches in epochs:
        assert len(batches) == 4 and all(b[0].shape == (64, 3, 32, 32) and b[0].dtype == torch.float32 for b in batches)
        ys = torch.cat([b[1] for b in batches])
        assert ys.dtype == torch.int64 and len(ys.unique()) == 256  # each image at most once per epoch
    assert not torch.equal(torch.cat([b[1] for b in epochs[0]]), torch.cat([b[1] for b in epochs[1]]))
    xb, yb = epochs[0][0]
    assert not torch.allclose(xb, train.normalizer(x[yb]))  # augmented

    full = D.DeviceLoader(x[:256], torch.arange(256), 64, seed=0)
    assert torch.equal(torch.sort(torch.cat([y for _, y in full])).values, torch.arange(256))  # every image once

    ev = D.DeviceLoader(x, torch.arange(260), 64, train=False, channels_last=True)
    batches = list(ev)
    assert len(ev) == 5 and [len(y) for _, y in batches] == [64, 64, 64, 64, 4]
    assert torch.equal(torch.cat([y for _, y in batches]), torch.arange(260))
    assert torch.equal(torch.cat([b for b, _ in batches]), D.Normalizer()(x))  # no augmentation when evaluating
    assert batches[0][0].is_contiguous(memory_format=torch.channels_last)
    assert len(list(train.batches(10))) == 10 and train.epoch == 5
    with pytest.raises(ValueError, match="batch"):
        D.DeviceLoader(x[:10], torch.arange(10), 64)


def test_device_loader_resume_gives_identical_batches():
    x = torch.randint(0, 256, (200, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(5))
    y = torch.arange(200) % 10
    a = D.DeviceLoader(x, y, 32, seed=7)
    for _ in a.batches(9):  # 6 per epoch: stop mid-way through the second
        pass
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    rest = list(a.batches(8))  # crosses the next epoch boundary

    b = D.DeviceLoader(x, y, 32, seed=7)
    buf.seek(0)
    b.load_state_dict(torch.load(buf, weights_only=True))
    for (xa, ya), (xb, yb) in zip(rest, b.batches(8), strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    fresh, other = D.DeviceLoader(x, y, 32, seed=7), D.DeviceLoader(x, y, 32, seed=8)
    first = next(iter(D.DeviceLoader(x, y, 32, seed=7).batches(1)))[0]
    assert torch.equal(next(fresh.batches(1))[0], first) and not torch.equal(next(other.batches(1))[0], first)
    with pytest.raises(ValueError, match="200"):
        D.DeviceLoader(x[:100], y[:100], 32).load_state_dict(b.state_dict())
