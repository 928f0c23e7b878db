"""Gradients through depth (notebooks 01-02): shattered gradients, gradient flow, toy MLPs.

Every function works on any ``nn.Module`` from ``course_utils.models`` and on any device.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "MLPBlock",
    "toy_mlp",
    "two_spirals",
    "grad_norms_per_layer",
    "grad_norms_during_training",
    "calibrate_batchnorm",
    "input_gradient_sweep",
    "autocorrelation",
    "gradient_flow",
    "relative_change",
    "residual_sensitivity",
]


class MLPBlock(nn.Module):
    """The fully connected twin of ``models.BasicBlock``: two Linear-BN layers.

    ``preact=False`` (He et al. 2015): ``out = relu(bn2(fc2(relu(bn1(fc1(x))))) + x)``.
    ``preact=True`` (He et al. 2016): ``out = x + fc2(relu(bn2(fc1(relu(bn1(x))))))``.
    ``residual=False`` drops the ``+ x`` and keeps every layer: the *plain* block.
    Input and output are ``(B, width)``.
    """

    def __init__(self, width: int, *, residual: bool = True, preact: bool = False) -> None:
        super().__init__()
        self.residual, self.preact = residual, preact
        self.fc1 = nn.Linear(width, width, bias=False)
        self.bn1 = nn.BatchNorm1d(width)
        self.fc2 = nn.Linear(width, width, bias=False)
        self.bn2 = nn.BatchNorm1d(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, W) -> (B, W)
        if self.preact:
            out = self.fc2(F.relu(self.bn2(self.fc1(F.relu(self.bn1(x))))))
            return out + x if self.residual else out
        out = self.bn2(self.fc2(F.relu(self.bn1(self.fc1(x)))))
        return F.relu(out + x if self.residual else out)


def toy_mlp(
    depth: int, width: int = 64, *, residual: bool, preact: bool = False, in_features: int = 1, out_features: int = 1
) -> nn.Sequential:
    """A plain or residual MLP with ``depth`` Linear layers: stem + ``(depth-2)/2`` blocks + head.

    Children: ``stem`` (Linear-BN-ReLU), ``blocks`` (``nn.Sequential`` of :class:`MLPBlock`),
    ``head`` (Linear). Maps ``(B, in_features)`` to ``(B, out_features)``. Like the CIFAR
    nets (depth ``6n+2``), the stem and the head count as layers, so ``depth`` is even, >= 2.
    """
    if depth < 2 or depth % 2:
        raise ValueError(f"depth must be an even number >= 2 (stem + 2 per block + head), got {depth}")
    stem = nn.Sequential(nn.Linear(in_features, width, bias=False), nn.BatchNorm1d(width), nn.ReLU())
    blocks = nn.Sequential(*[MLPBlock(width, residual=residual, preact=preact) for _ in range((depth - 2) // 2)])
    if preact:  # a pre-activation stack ends un-normalised: finish with BN-ReLU as in He et al. 2016
        head: nn.Module = nn.Sequential(nn.BatchNorm1d(width), nn.ReLU(), nn.Linear(width, out_features))
    else:
        head = nn.Linear(width, out_features)
    return nn.Sequential(OrderedDict(stem=stem, blocks=blocks, head=head))


def two_spirals(
    n: int = 1024,
    turns: float = 2.0,
    noise: float = 0.0,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved spirals in the plane: points ``(n, 2)`` float32, labels ``(n,)`` int64 in {0, 1}.

    A point at angle ``t`` sits at radius ``t / t_max < 1``; class 1 is class 0 rotated by 180
    degrees, so the classes wind around each other ``turns`` times. ``noise`` adds Gaussian jitter.
    """
    if n < 1 or turns <= 0 or noise < 0:
        raise ValueError(f"need n >= 1, turns > 0, noise >= 0; got n={n}, turns={turns}, noise={noise}")
    g = torch.Generator().manual_seed(seed)
    t_max = turns * 2 * math.pi + 0.5
    t = 0.5 + torch.rand(n, generator=g) * turns * 2 * math.pi  # (n,) angle, away from the tangled centre
    y = torch.randint(0, 2, (n,), generator=g)  # (n,)
    angle = t + math.pi * y
    r = t / t_max
    x = torch.stack([r * torch.cos(angle), r * torch.sin(angle)], 1)  # (n, 2)
    return x + noise * torch.randn(n, 2, generator=g), y


def grad_norms_per_layer(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
) -> list[tuple[str, float]]:
    """L2 norm of ``dLoss/dW`` for every conv and linear weight, in forward (registration) order.

    ``x``: a batch, e.g. ``(B, 3, 32, 32)``; ``y``: its targets, e.g. ``(B,)``. The model runs in
    its current mode (train mode: BN uses batch statistics, as in a training step); its ``.grad``
    fields are left untouched. Returns ``[(parameter name, norm), ...]``.
    """
    named = _weighted_layers(model)
    loss = loss_fn(model(x), y)
    grads = torch.autograd.grad(loss, [w for _, w in named])
    return [(name, g.norm().item()) for (name, _), g in zip(named, grads, strict=True)]


def _weighted_layers(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """``[(name + ".weight", weight), ...]`` of every conv and linear layer, in registration order."""
    named = [
        (name + ".weight", m.weight)
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))
    ]
    if not named:
        raise ValueError("the model has no Conv or Linear layers to measure")
    return named


def grad_norms_during_training(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
) -> dict[str, object]:
    """Train ``model`` with SGD, one step per batch, and record ``||dL/dW||`` of every layer *before* each step.

    ``batches``: ``(x, y)`` pairs, e.g. ``(B, 3, 32, 32)`` and ``(B,)``, on the model's device. The
    norms are those of the minibatch loss's gradient, the one the step uses (weight decay not
    included), measured in training mode as in :func:`grad_norms_per_layer`. The model is trained
    in place. Returns ``{"step": [0, 1, ...], "names": [layer names], "norms": (steps, layers) array,
    "weights": (steps, layers) array of ``||W||`` before each step, "loss": [minibatch loss per step]}``.
    With BN after a layer, its loss is unchanged when ``W`` is scaled, so ``||dL/dW||`` falls as ``1/||W||``.
    """
    named = _weighted_layers(model)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    norms, weights, losses = [], [], []
    model.train()
    for x, y in batches:
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norms.append([w.grad.norm().item() for _, w in named])
        weights.append([w.detach().norm().item() for _, w in named])
        losses.append(loss.item())
        opt.step()
    if not norms:
        raise ValueError("no batches: nothing to train on")
    return {
        "step": list(range(len(norms))),
        "names": [n for n, _ in named],
        "norms": np.array(norms),
        "weights": np.array(weights),
        "loss": losses,
    }


def calibrate_batchnorm(model: nn.Module, x: torch.Tensor | Iterable[torch.Tensor]) -> nn.Module:
    """Set every BN layer's running statistics to the exact statistics of ``x``, then ``eval()``.

    ``x``: one batch, or an iterable of batches (their statistics averaged: the mean of the batch
    means and of the unbiased batch variances). After one batch each output row depends on its own
    input row only, so per-sample input gradients are well defined, while BN still normalises as it
    would on this batch.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: after one batch, exactly that batch's statistics
    model.train()
    with torch.no_grad():
        for batch in [x] if isinstance(x, torch.Tensor) else x:
            model(batch)
    for m, mom in zip(bns, saved, strict=True):
        m.momentum = mom
    return model.eval()


def input_gradient_sweep(
    model: nn.Module,
    n_points: int = 256,
    lo: float = -2.0,
    hi: float = 2.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The derivative ``d f(x) / dx`` of a 1-D-in, 1-D-out model at ``n_points`` evenly spaced x.

    As in Balduzzi et al. 2017 (Fig. 1): ``xs = linspace(lo, hi, n_points)`` fed as ``(N, 1)``;
    BN statistics come from the sweep itself (:func:`calibrate_batchnorm`; the model is left in
    eval mode). Returns ``(xs, grads)``, both ``(N,)``.
    """
    if n_points < 2 or not hi > lo:
        raise ValueError(f"need n_points >= 2 and hi > lo, got n_points={n_points}, lo={lo}, hi={hi}")
    p = next(model.parameters())
    xs = torch.linspace(lo, hi, n_points, device=p.device, dtype=p.dtype).unsqueeze(1)  # (N, 1)
    calibrate_batchnorm(model, xs)
    x = xs.clone().requires_grad_(True)
    out = model(x)
    if out.shape not in ((n_points, 1), (n_points,)):
        raise ValueError(f"the model must map (N, 1) to (N, 1); it gave {tuple(out.shape)}")
    (g,) = torch.autograd.grad(out.sum(), x)  # rows are independent in eval mode
    return xs.squeeze(1).detach().cpu(), g.squeeze(1).detach().cpu()


def autocorrelation(g: torch.Tensor | np.ndarray | Sequence[float], max_lag: int | None = None) -> np.ndarray:
    """Normalised autocorrelation of a 1-D sequence, lags ``0..max_lag`` (``(max_lag+1,)``).

    ``r(k) = sum_i (g_i - m)(g_{i+k} - m) / sum_i (g_i - m)^2`` with ``m`` the mean, so
    ``r(0) = 1``; white noise gives ``r(k) ~ 0`` for ``k > 0``, a smooth curve stays near 1.
    """
    a = torch.as_tensor(g).detach().cpu().double().numpy() if not isinstance(g, np.ndarray) else g.astype(np.float64)
    if a.ndim != 1 or a.size < 2:
        raise ValueError(f"autocorrelation needs a 1-D sequence of length >= 2, got shape {a.shape}")
    n = a.size
    max_lag = n - 1 if max_lag is None else max_lag
    if not 0 <= max_lag < n:
        raise ValueError(f"max_lag must be in [0, {n - 1}], got {max_lag}")
    a = a - a.mean()
    denom = float(a @ a)
    if denom == 0.0:
        raise ValueError("the sequence is constant: its autocorrelation is undefined")
    return np.array([float(a[: n - k] @ a[k:]) / denom for k in range(max_lag + 1)])


def gradient_flow(
    stack: nn.Sequential, x: torch.Tensor, upstream: torch.Tensor | None = None, seed: int = 0
) -> list[float]:
    """Norms ``||dL/dx_l||`` for ``l = 0..L`` through a stack of ``L`` modules.

    ``x_0 = x`` (e.g. ``(B, W)`` or ``(B, C, H, W)``), ``x_l = stack[l-1](x_{l-1})``, and
    ``L = <x_L, upstream>``, so ``dL/dx_L = upstream`` (default: a seeded random direction of
    norm 1). Entry ``l`` is the norm of the gradient arriving at the input of module ``l+1``:
    for a residual stack it is ``upstream`` pushed back through the factors ``(I + dF/dx)``.
    The stack runs in its current mode.
    """
    xs = [x.detach().clone().requires_grad_(True)]
    h = xs[0]
    for module in stack:
        h = module(h)
        xs.append(h)
    if upstream is None:
        gen = torch.Generator().manual_seed(seed)
        upstream = torch.randn(h.shape, generator=gen, dtype=h.dtype).to(h.device)
        upstream = upstream / upstream.norm()
    if upstream.shape != h.shape:
        raise ValueError(f"upstream must have the output's shape {tuple(h.shape)}, got {tuple(upstream.shape)}")
    grads = torch.autograd.grad(xs[-1], xs, grad_outputs=upstream)
    return [g.norm().item() for g in grads]


def relative_change(before: torch.Tensor | float, after: torch.Tensor | float) -> float:
    """``||after - before|| / ||before||``: how much a quantity moved, relative to its size."""
    b, a = torch.as_tensor(before, dtype=torch.float64), torch.as_tensor(after, dtype=torch.float64)
    nb = b.norm().item()
    if nb == 0.0:
        return math.inf if (a - b).norm().item() > 0 else 0.0
    return (a - b).norm().item() / nb


def residual_sensitivity(
    x: torch.Tensor | float, h_before: torch.Tensor | float, h_after: torch.Tensor | float
) -> dict[str, float]:
    """The "5 -> 5.1" argument: relative change of the mapping ``H`` vs of the residual ``F = H - x``.

    Same shapes for all three (scalars or tensors). Returns
    ``{"mapping": ||dH||/||H_before||, "residual": ||dF||/||F_before||}``; ``dF == dH`` in absolute
    terms, only the reference size differs.
    """
    xt = torch.as_tensor(x, dtype=torch.float64)
    hb, ha = torch.as_tensor(h_before, dtype=torch.float64), torch.as_tensor(h_after, dtype=torch.float64)
    return {"mapping": relative_change(hb, ha), "residual": relative_change(hb - xt, ha - xt)}
