"""Batches made where the data lives: the whole uint8 dataset on the device, no host sync per step.

>>> imgs, labels = torch.zeros(256, 3, 32, 32, dtype=torch.uint8), torch.zeros(256, dtype=torch.int64)
>>> x, y = next(DeviceLoader(imgs, labels, 128, normalizer=Normalizer("per_channel")).batches(1))
>>> x.shape, x.dtype, y.shape
(torch.Size([128, 3, 32, 32]), torch.float32, torch.Size([128]))
"""

from __future__ import annotations

import math

import torch

from course_utils.transforms import Normalizer, crop_flip, sample_crop_flip

__all__ = ["DeviceLoader"]


class DeviceLoader:
    """The whole uint8 dataset resident on ``device``; batches made there with no host sync.

    Each epoch draws a fresh permutation from the loader's own seeded generator; a train
    batch is index -> crop/flip -> normalise (-> channels_last). ``train=True`` drops the
    last partial batch; ``train=False`` keeps order and every image. Iterating yields the
    rest of the current epoch; :meth:`batches` yields exactly ``n`` across epochs; and
    :meth:`state_dict` / :meth:`load_state_dict` resume with the very same batches.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int = 128,
        *,
        normalizer: Normalizer,
        train: bool = True,
        device=None,
        seed: int = 0,
        channels_last: bool = False,
    ) -> None:
        self.device = torch.device(device) if device is not None else images.device
        self.images = images.to(self.device)  # (N, 3, 32, 32) uint8
        self.labels = torch.as_tensor(labels, dtype=torch.int64).to(self.device)
        self.batch_size, self.train, self.channels_last = batch_size, train, channels_last
        self.normalizer = normalizer  # no default: the recipe's per-pixel mean comes from the run's training images
        if train and len(images) < batch_size:
            raise ValueError(
                f"{len(images)} images cannot fill one batch of {batch_size} (train drops partial batches)"
            )
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
            self.perm = (
                torch.randperm(n, generator=self.generator, device=self.generator.device).to(self.device)
                if self.train
                else torch.arange(n, device=self.device)
            )
            self.epoch, self.position = self.epoch + 1, 0
        idx = self.perm[self.position * self.batch_size : (self.position + 1) * self.batch_size]
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
        return {
            "generator": self.generator.get_state(),
            "epoch": self.epoch,
            "position": self.position,
            "perm": None if self.perm is None else self.perm.cpu(),
        }

    def load_state_dict(self, state: dict) -> None:
        if state["perm"] is not None and len(state["perm"]) != len(self.labels):
            raise ValueError(f"state is for {len(state['perm'])} images, this loader holds {len(self.labels)}")
        self.generator.set_state(state["generator"])
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self.perm = None if state["perm"] is None else state["perm"].to(self.device)
