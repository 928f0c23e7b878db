"""The pipelines the benchmark times: the warm-up is not timed, the case carries its own clock, the
baseline draws every image through its transforms. (``test_bench`` times them all through ``run_bench``.)"""

from __future__ import annotations

import pytest
import torch
import torchvision.transforms as T

from course_utils import data, pipelines
from course_utils.transforms import TensorImageDataset


@pytest.fixture(scope="module")
def tiny():
    return data.synthetic_cifar10(n_train=64, n_test=10)


def test_timed_excludes_the_warmup():
    clock = [100.0]
    seen = []

    def step(x, y):  # each step takes one fake second
        seen.append(x)
        clock[0] += 1.0

    batches = iter((i, i) for i in range(100))
    assert pipelines._timed(step, batches, warmup=2, steps=3, device=torch.device("cpu"), clock=lambda: clock[0]) == 3.0
    assert seen == [0, 1, 2, 3, 4]  # 2 warm-up + 3 timed steps, each on a fresh batch


def test_case_times_with_its_own_steps_and_clock(tiny):
    ticks = iter(range(0, 100, 7))
    case = pipelines._Case("plain20", tiny, torch.device("cpu"), 8, warmup=1, steps=4, clock=lambda: next(ticks))
    seen = []
    assert case.timed(lambda x, y: seen.append(x), iter((i, i) for i in range(10))) == 7
    assert seen == [0, 1, 2, 3, 4]


def test_baseline_loop_serves_augmented_images(monkeypatch, tiny, one_thread):
    made = []

    class Recording(TensorImageDataset):
        def __init__(self, images, labels, transform=None):
            super().__init__(images, labels, transform)
            self.served = 0
            made.append(self)

        def __getitem__(self, i):
            self.served += 1
            return super().__getitem__(i)

    monkeypatch.setattr(pipelines, "TensorImageDataset", Recording)
    pipelines._time_baseline(pipelines._Case("plain20", tiny, torch.device("cpu"), 8, 1, 2), num_workers=0)
    assert len(made) == 1
    ds = made[0]
    assert len(ds) == len(tiny.train_labels)
    assert [type(t) for t in ds.transform.transforms][:2] == [T.RandomCrop, T.RandomHorizontalFlip]
    assert ds.served >= 8 * (1 + 2)  # every warm-up and timed step drew its images through the transform
