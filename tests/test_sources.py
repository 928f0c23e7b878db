"""Tests for course_utils.sources: the ImageFolder listing and its cache key, decoding, the bounded download.

Every tree is written into ``tmp_path``; nothing here downloads (``test_data`` loads through these sources).
"""

from __future__ import annotations

import io
import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from course_utils import sources

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is faster


def write_split(split_dir: Path, ext: str = "png", n: int = 2) -> None:
    """``split_dir/<class>/NNNN.<ext>``: ``n`` images per class, all pixels of class ``c`` set to ``c``."""
    for label, name in enumerate(sources.CLASSES):
        (split_dir / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((32, 32, 3), label, np.uint8)).save(split_dir / name / f"{i:04d}.{ext}")


def test_folder_files_lists_each_class_in_label_order(tmp_path):
    write_split(tmp_path / "train")
    files, labels, lines = sources._folder_files(tmp_path / "train")
    assert labels == [c for c in range(10) for _ in range(2)] and len(files) == len(lines) == 20
    assert Path(files[2]).parent.name == sources.CLASSES[1] and lines[0].startswith("train/airplane/0000.png ")
    images = sources._decode_files(files)
    assert images.shape == (20, 3, 32, 32) and images.dtype == torch.uint8
    assert images.flatten(1).amax(1).tolist() == labels  # decoded in the listed order, CHW


def test_image_folder_kind_and_key(tmp_path):
    for split in ("train", "test"):
        write_split(tmp_path / "cifar10" / split, "png", n=1)
    key, decode, kind = sources._image_folder(tmp_path)
    assert kind == "png" and key.startswith("v1:png:")
    data = decode()
    assert data["test_labels"].tolist() == list(range(10)) and data["train_images"].shape == (10, 3, 32, 32)
    first = tmp_path / "cifar10" / "test" / "airplane" / "0000.png"
    st = first.stat()
    os.utime(first, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    assert sources._image_folder(tmp_path)[0] != key  # a changed file changes the key: the cache is stale
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(first.with_suffix(".jpg"))
    assert sources._image_folder(tmp_path)[2] == "jpeg"  # any non-PNG file: the JPEG mirror


def test_download_is_bounded_and_restores_timeout(tmp_path, monkeypatch):
    def slow(*a, **k):  # a black-holed connection attempt
        time.sleep(1.5)
        raise TimeoutError("timed out (test)")

    monkeypatch.setattr(socket, "create_connection", slow)
    before = socket.getdefaulttimeout()
    start = time.perf_counter()
    with pytest.raises(ConnectionError, match="within"):
        sources._download_official(tmp_path, timeout=0.2)
    assert time.perf_counter() - start < 2

    seen = {}

    class FakeCIFAR10:  # stands in for torchvision's: records how it was called, fetches nothing
        url = torchvision.datasets.CIFAR10.url

        def __init__(self, root, train=True, download=False):
            seen.update(root=root, download=download, timeout=socket.getdefaulttimeout())

    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: io.BytesIO())
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    sources._download_official(tmp_path, timeout=7)
    assert seen == {"root": str(tmp_path), "download": True, "timeout": 7}
    assert socket.getdefaulttimeout() == before
