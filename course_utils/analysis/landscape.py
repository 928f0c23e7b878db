"""Filter-normalised loss landscapes (Li et al. 2018, notebook 07).

The loss and error of a trained net along one or two random directions in weight space,
each filter of a direction rescaled to the norm of the matching weight filter so that
nets of different scale (plain vs residual) can be compared on one axis.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.analysis._inputs import NormFn, batches, network_inputs
from course_utils.evaluation import evaluating

__all__ = ["filter_normalized_direction", "loss_landscape_1d", "loss_landscape_2d"]


def filter_normalized_direction(model: nn.Module, seed: int = 0) -> list[torch.Tensor]:
    """A random direction in weight space, filter-normalised (Li et al. 2018).

    One tensor per ``model.parameters()`` entry, same shape. For every weight
    with >= 2 dims, each filter (a slice along dim 0: a conv output channel or a
    linear row) is a Gaussian direction rescaled to the norm of that weight filter;
    1-D parameters (BN weight/bias, biases) get a zero direction. Deterministic in ``seed``.
    """
    gen = torch.Generator().manual_seed(seed)
    direction = []
    for p in model.parameters():
        d = torch.randn(p.shape, generator=gen, dtype=torch.float32)  # drawn for every p: stable stream
        if p.dim() <= 1:
            d.zero_()
        else:
            w_norm = p.detach().float().cpu().flatten(1).norm(dim=1)  # (out,)
            d_norm = d.flatten(1).norm(dim=1)  # (out,)
            d *= (w_norm / (d_norm + 1e-10)).view(-1, *[1] * (p.dim() - 1))
        direction.append(d.to(device=p.device, dtype=p.dtype))
    return direction


def _loss_and_error(
    model: nn.Module, x: torch.Tensor, labels: torch.Tensor, loss_fn: Callable, batch_size: int
) -> tuple[float, float]:
    """Mean loss and error % over ``x`` ``(N, 3, H, W)``; eval mode, no autograd."""
    total, wrong = 0.0, 0
    with evaluating(model):
        for xb, yb in zip(batches(model, x, batch_size), labels.split(batch_size), strict=True):
            logits = model(xb)  # (B, classes)
            yb = yb.to(logits.device)
            total += loss_fn(logits, yb).item() * len(yb)
            wrong += (logits.argmax(1) != yb).sum().item()
    return total / len(labels), 100.0 * wrong / len(labels)


def _landscape(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    directions: list[list[torch.Tensor]],
    grid: list[tuple[float, ...]],
    normalizer: NormFn,
    loss_fn: Callable,
    batch_size: int,
) -> tuple[list[float], list[float]]:
    """Loss and error at ``theta0 + sum_k c_k d_k`` for each coefficient tuple in ``grid``."""
    x = network_inputs(images, normalizer)
    params = list(model.parameters())
    theta0 = [p.detach().clone() for p in params]
    losses, errors = [], []
    try:
        for coeffs in grid:
            with torch.no_grad():
                for i, p in enumerate(params):
                    p.copy_(theta0[i])
                    for c, d in zip(coeffs, directions, strict=True):
                        p.add_(d[i], alpha=c)
            loss, err = _loss_and_error(model, x, labels, loss_fn, batch_size)
            losses.append(loss)
            errors.append(err)
    finally:
        with torch.no_grad():
            for p, t in zip(params, theta0, strict=True):
                p.copy_(t)
    return losses, errors


def loss_landscape_1d(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    steps: int = 21,
    span: float = 1.0,
    seed: int = 0,
    normalizer: NormFn = None,
    loss_fn: Callable = F.cross_entropy,
    batch_size: int = 500,
) -> dict[str, torch.Tensor]:
    """Loss and error along ``theta + alpha * d`` for ``alpha`` in ``linspace(-span, span, steps)``.

    ``d`` is :func:`filter_normalized_direction` ``(model, seed)``; evaluation in eval
    mode (BN uses its running statistics). Returns ``alphas``, ``loss``, ``error`` (%),
    each ``(steps,)``. The weights are restored afterwards.
    """
    if steps < 2 or span <= 0:
        raise ValueError("need steps >= 2 and span > 0")
    alphas = torch.linspace(-span, span, steps, dtype=torch.float64)
    d = filter_normalized_direction(model, seed)
    loss, err = _landscape(model, images, labels, [d], [(a,) for a in alphas.tolist()], normalizer, loss_fn, batch_size)
    return {
        "alphas": alphas,
        "loss": torch.tensor(loss, dtype=torch.float64),
        "error": torch.tensor(err, dtype=torch.float64),
    }


def loss_landscape_2d(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    steps: int = 11,
    span: float = 1.0,
    seed: int = 0,
    normalizer: NormFn = None,
    loss_fn: Callable = F.cross_entropy,
    batch_size: int = 500,
) -> dict[str, torch.Tensor]:
    """Loss and error on the plane ``theta + alpha * d1 + beta * d2`` (Li et al. 2018, Fig. 5 style).

    ``d1``, ``d2`` are filter-normalised directions with seeds ``seed`` and ``seed + 1``.
    Returns ``alphas`` ``(steps,)``, ``betas`` ``(steps,)`` and ``loss``, ``error`` of shape
    ``(steps, steps)`` where ``[b, a]`` is the point ``(alphas[a], betas[b])``: ready for
    ``plt.contour(alphas, betas, loss)``. The weights are restored afterwards.
    """
    if steps < 2 or span <= 0:
        raise ValueError("need steps >= 2 and span > 0")
    coords = torch.linspace(-span, span, steps, dtype=torch.float64)
    dirs = [filter_normalized_direction(model, seed), filter_normalized_direction(model, seed + 1)]
    grid = [(a, b) for b in coords.tolist() for a in coords.tolist()]  # row b, column a
    loss, err = _landscape(model, images, labels, dirs, grid, normalizer, loss_fn, batch_size)
    shape = (steps, steps)
    return {
        "alphas": coords,
        "betas": coords.clone(),
        "loss": torch.tensor(loss, dtype=torch.float64).view(shape),
        "error": torch.tensor(err, dtype=torch.float64).view(shape),
    }
