"""What the notebook-07 analyses share: network inputs from images, and batches on the model's device."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from course_utils.evaluation import NormFn

__all__ = ["NormFn", "network_inputs", "batches"]


def network_inputs(images: torch.Tensor, normalizer: NormFn) -> torch.Tensor:
    """Float network inputs ``(N, 3, H, W)`` from ``images`` ``(N, 3, H, W)``.

    float images are taken as already normalised; uint8 images need ``normalizer``
    (the one the network was trained with), which is then applied to all of them.
    """
    if images.dim() != 4:
        raise ValueError(f"images must be a (N, C, H, W) batch, got shape {tuple(images.shape)}")
    if normalizer is not None:
        return normalizer(images)
    if not images.is_floating_point():
        raise ValueError("images are uint8: pass normalizer=... (the one the network was trained with)")
    return images


def batches(model: nn.Module, x: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    """Yield ``x`` ``(N, ...)`` in slices ``(<= batch_size, ...)``, each moved to the model's device."""
    device = next(model.parameters()).device
    for i in range(0, len(x), batch_size):
        yield x[i : i + batch_size].to(device)
