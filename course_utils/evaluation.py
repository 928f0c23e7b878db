"""Evaluating a trained network: eval mode, error in percent, predictions, confusion matrix.

One vocabulary for the whole course: :func:`evaluating` is *the* eval-mode context
manager and :func:`error_percent` *the* top-1 error, used by the training loop, the
experiments and the analyses of notebook 07 alike.

    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    >>> images, labels = torch.zeros(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    >>> 0.0 <= error_percent(net, images, labels) <= 100.0
    True
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

from course_utils.step import uses_channels_last

__all__ = ["evaluating", "eval_logits", "predict", "error_percent", "confusion_matrix", "per_class_error"]

NormFn = Callable[[torch.Tensor], torch.Tensor] | None  # uint8 or float (B, 3, H, W) -> normalised float


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode (BN uses its running statistics) and no autograd inside; the training flag is restored."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def _device_of(model: nn.Module, device: torch.device | str | None) -> torch.device:
    return torch.device(device) if device is not None else next(model.parameters()).device


def eval_logits(
    model: nn.Module,
    images: torch.Tensor,
    *,
    normalizer: NormFn = None,
    batch_size: int = 1000,
    device: torch.device | str | None = None,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start, logits (b, classes))`` over ``images (N, 3, H, W)`` in eval mode, batch by batch.

    ``images``: uint8 with ``normalizer`` (the one the network was trained with), or float inputs
    already normalised. Inputs channels_last where training uses it; bf16 autocast on CUDA, as in training.
    """
    if images.dim() != 4:
        raise ValueError(f"images must be a (N, C, H, W) batch, got shape {tuple(images.shape)}")
    if normalizer is None and not images.is_floating_point():
        raise ValueError("images are uint8: pass normalizer=... (the one the network was trained with)")
    device = _device_of(model, device)
    cuda = device.type == "cuda"
    with evaluating(model):
        for i in range(0, len(images), batch_size):
            x = images[i : i + batch_size].to(device, non_blocking=True)
            x = normalizer(x) if normalizer is not None else x  # (b, 3, H, W) float
            if uses_channels_last(device):
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
                yield i, model(x)


def predict(
    model: nn.Module,
    images: torch.Tensor,
    *,
    normalizer: NormFn = None,
    batch_size: int = 1000,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Logits ``(N, classes)`` (float32, on the CPU); ``.argmax(1)`` gives the predictions."""
    return torch.cat(
        [
            lg.float().cpu()
            for _, lg in eval_logits(model, images, normalizer=normalizer, batch_size=batch_size, device=device)
        ]
    )


def error_percent(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    normalizer: NormFn = None,
    batch_size: int = 1000,
    device: torch.device | str | None = None,
) -> float:
    """Top-1 error in percent on ``images (N, 3, H, W)`` with int64 ``labels (N,)``; one host sync at the end."""
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"need as many labels as images (> 0), got {len(images)} images, {len(labels)} labels")
    device = _device_of(model, device)
    labels = labels.to(device)
    wrong = torch.zeros((), dtype=torch.int64, device=device)
    for i, logits in eval_logits(model, images, normalizer=normalizer, batch_size=batch_size, device=device):
        wrong += (logits.argmax(1) != labels[i : i + len(logits)]).sum()
    return 100.0 * wrong.item() / len(labels)


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """``(C, C)`` int64 counts: row = true class, column = predicted class."""
    preds, labels = preds.reshape(-1).long().cpu(), labels.reshape(-1).long().cpu()
    if preds.shape != labels.shape:
        raise ValueError(f"preds and labels differ in length: {preds.numel()} vs {labels.numel()}")
    idx = labels * num_classes + preds
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_error(cm: torch.Tensor) -> torch.Tensor:
    """Error in percent per true class ``(C,)`` from a confusion matrix (NaN for an absent class)."""
    cm = cm.double()
    return 100.0 * (1.0 - cm.diag() / cm.sum(1))
