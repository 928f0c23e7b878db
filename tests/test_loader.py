"""Tests for course_utils.loader: DeviceLoader batches, coverage, augmentation and resume."""

from __future__ import annotations

import io

import pytest
import torch

from course_utils.loader import DeviceLoader
from course_utils.transforms import Normalizer

PER_CHANNEL = Normalizer("per_channel")

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is faster


# ----------------------------------------------------------------------------- DeviceLoader
def test_device_loader_batches_and_coverage():
    x = torch.randint(0, 256, (260, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    train = DeviceLoader(x, torch.arange(260), 64, seed=0, normalizer=PER_CHANNEL)
    assert len(train) == 4  # drops the partial batch
    epochs = [list(train), list(train)]
    for batches in epochs:
        assert len(batches) == 4 and all(b[0].shape == (64, 3, 32, 32) and b[0].dtype == torch.float32 for b in batches)
        ys = torch.cat([b[1] for b in batches])
        assert ys.dtype == torch.int64 and len(ys.unique()) == 256  # each image at most once per epoch
    assert not torch.equal(torch.cat([b[1] for b in epochs[0]]), torch.cat([b[1] for b in epochs[1]]))
    xb, yb = epochs[0][0]
    assert not torch.allclose(xb, train.normalizer(x[yb]))  # augmented

    full = DeviceLoader(x[:256], torch.arange(256), 64, seed=0, normalizer=PER_CHANNEL)
    assert torch.equal(torch.sort(torch.cat([y for _, y in full])).values, torch.arange(256))  # every image once

    ev = DeviceLoader(x, torch.arange(260), 64, train=False, channels_last=True, normalizer=PER_CHANNEL)
    batches = list(ev)
    assert len(ev) == 5 and [len(y) for _, y in batches] == [64, 64, 64, 64, 4]
    assert torch.equal(torch.cat([y for _, y in batches]), torch.arange(260))
    assert torch.equal(torch.cat([b for b, _ in batches]), Normalizer()(x))  # no augmentation when evaluating
    assert batches[0][0].is_contiguous(memory_format=torch.channels_last)
    assert len(list(train.batches(10))) == 10 and train.epoch == 5
    with pytest.raises(ValueError, match="batch"):
        DeviceLoader(x[:10], torch.arange(10), 64, normalizer=PER_CHANNEL)


def test_device_loader_resume_gives_identical_batches():
    x = torch.randint(0, 256, (200, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(5))
    y = torch.arange(200) % 10
    a = DeviceLoader(x, y, 32, seed=7, normalizer=PER_CHANNEL)
    for _ in a.batches(9):  # 6 per epoch: stop mid-way through the second
        pass
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    rest = list(a.batches(8))  # crosses the next epoch boundary

    b = DeviceLoader(x, y, 32, seed=7, normalizer=PER_CHANNEL)
    buf.seek(0)
    b.load_state_dict(torch.load(buf, weights_only=True))
    for (xa, ya), (xb, yb) in zip(rest, b.batches(8), strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    fresh, other = (
        DeviceLoader(x, y, 32, seed=7, normalizer=PER_CHANNEL),
        DeviceLoader(x, y, 32, seed=8, normalizer=PER_CHANNEL),
    )
    first = next(iter(DeviceLoader(x, y, 32, seed=7, normalizer=PER_CHANNEL).batches(1)))[0]
    assert torch.equal(next(fresh.batches(1))[0], first) and not torch.equal(next(other.batches(1))[0], first)
    with pytest.raises(ValueError, match="200"):
        DeviceLoader(x[:100], y[:100], 32, normalizer=PER_CHANNEL).load_state_dict(b.state_dict())
