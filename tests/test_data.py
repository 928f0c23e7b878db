"""Tests for course_utils.data: the CIFAR-10 sources, the cache, the offline fallbacks, the synthetic stand-in.

Every source is tested on a tiny tree written into ``tmp_path``; nothing here downloads.
The official-format test writes real ``cifar-10-batches-py`` pickles; since torchvision
MD5-checks them against the real release, that test replaces torchvision's
``check_integrity`` (and a second test keeps it, to show that corrupt files are skipped).
"""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image

from course_utils import data as D
from course_utils import paths, sources
from course_utils.loader import DeviceLoader
from course_utils.profile import get_profile
from course_utils.transforms import CHANNEL_MEAN, CHANNEL_STD, Normalizer, channel_stats

PER_CHANNEL = Normalizer("per_channel")

pytestmark = pytest.mark.filterwarnings("ignore:.*partial copy")
CPU, SMOKE = get_profile("cpu", device="cpu"), get_profile("smoke", device="cpu")


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is faster


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

    def offline(root, timeout=sources.DOWNLOAD_TIMEOUT_S):
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
    assert D.data_dir() == paths.repo_root() / "data"
    assert D.data_dir is paths.data_dir  # re-exported, not a second copy
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
    assert (
        torch.equal(d.train_images, torch.from_numpy(truth["train"][0]))
        and d.train_labels.tolist() == truth["train"][1]
    )
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
        m.setattr(sources, "_decode_files", boom)
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
    for part in (
        str(tmp_path),
        "cifar-10-batches-py",
        "cifar-10-python.tar.gz",
        "cifar10/{train,test}/<class>/*.png|jpg",
        "COURSE_DATA_DIR",
        "download failed: no network",
    ):
        assert part in msg, part
    with pytest.raises(D.DataNotFoundError, match="downloads not allowed"):
        D.load_cifar10(tmp_path, CPU, download=False)
    assert len(no_download) == 1


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
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(4),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(32, 10),
    )
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    for x, y in DeviceLoader(a.train_images, a.train_labels, 32, seed=0, normalizer=PER_CHANNEL).batches(60):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    with torch.no_grad():
        pred = net(Normalizer()(a.test_images)).argmax(1)
    error = (pred != a.test_labels).float().mean().item() * 100
    assert error < 75, f"synthetic data not learnable: {error:.1f}% test error after 60 iterations (chance: 90%)"


@pytest.mark.slow
def test_real_cifar10_if_present():
    root = D.data_dir()
    if not ((root / "cifar10").is_dir() or (root / "cifar-10-batches-py").is_dir()):
        pytest.skip(f"no CIFAR-10 under {root}")
    d = D.load_cifar10(root, CPU, download=False)
    assert torch.bincount(d.train_labels).tolist() == [5000] * 10
    assert torch.bincount(d.test_labels).tolist() == [1000] * 10
    mean, std = channel_stats(d.train_images)
    assert np.allclose(mean, CHANNEL_MEAN, atol=0.005) and np.allclose(std, CHANNEL_STD, atol=0.005), (mean, std)
