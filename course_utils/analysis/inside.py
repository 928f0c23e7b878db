"""Inside trained networks (notebook 07): layer responses, lesions, loss landscapes.

Every function works on the CIFAR nets of ``course_utils.models`` and on any device.
"""
from __future__ import annotations

import torch
from torch import nn
# (imports used only by this section live here so that sections stay independent)
import contextlib
import math
from typing import Callable, Iterator, Optional

import torch.nn.functional as F

_NormFn = Optional[Callable[[torch.Tensor], torch.Tensor]]  # uint8 or float -> normalised float


def _inputs(images: torch.Tensor, normalizer: _NormFn) -> torch.Tensor:
    """Float network inputs ``(N, 3, H, W)``; uint8 images need ``normalizer``."""
    if images.dim() != 4:
        raise ValueError(f"images must be a (N, C, H, W) batch, got shape {tuple(images.shape)}")
    if normalizer is not None:
        return normalizer(images)
    if not images.is_floating_point():
        raise ValueError("images are uint8: pass normalizer=... (the one the network was trained with)")
    return images


def _batches(model: nn.Module, x: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    """Yield ``x`` in batches, moved to the model's device."""
    device = next(model.parameters()).device
    for i in range(0, len(x), batch_size):
        yield x[i:i + batch_size].to(device)


@contextlib.contextmanager
def _evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and no autograd inside; the previous training flag is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def _probe(model: nn.Module, input_shape: tuple[int, ...], hooks: list) -> None:
    """One forward pass of zeros ``input_shape`` in eval mode; removes ``hooks`` afterwards."""
    try:
        with _evaluating(model):
            model(torch.zeros(input_shape, device=next(model.parameters()).device))
    finally:
        for h in hooks:
            h.remove()


def response_layers(model: nn.Module, input_shape: tuple[int, ...] = (1, 3, 32, 32)) -> list[str]:
    """Names of the BatchNorm2d modules that normalise the output of a 3x3 conv, in execution order.

    Found by one probe forward pass: a BN qualifies when its input *is* the
    output tensor of a 3x3 ``nn.Conv2d`` (so a 1x1 projection shortcut's BN does not).
    """
    names = {m: n for n, m in model.named_modules()}
    conv_out: dict[int, tuple[torch.Tensor, bool]] = {}  # id(output) -> (output kept alive, is 3x3)
    found: list[str] = []

    def on_conv(m: nn.Module, inp, out) -> None:
        conv_out[id(out)] = (out, m.kernel_size == (3, 3))

    def on_bn(m: nn.Module, inp, out) -> None:
        src = conv_out.get(id(inp[0]))
        if src is not None and src[0] is inp[0] and src[1] and names[m] not in found:
            found.append(names[m])

    _probe(model, input_shape, [m.register_forward_hook(on_conv if isinstance(m, nn.Conv2d) else on_bn)
                                for m in model.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))])
    return found


def layer_responses(model: nn.Module, images: torch.Tensor, *, normalizer: _NormFn = None,
                    batch_size: int = 500) -> dict[str, float]:
    """Std of each 3x3 layer's response after BN, before ReLU/addition (He et al. 2015, Fig. 7).

    images: ``(N, 3, H, W)``, float (already normalised) or uint8 with ``normalizer``.
    Returns ``{bn_name: std}`` in network order; the std is taken over all
    ``N * C * H * W`` values of the BN output (population std), in eval mode.
    """
    x = _inputs(images, normalizer)
    layers = response_layers(model, (1, *x.shape[1:]))
    if not layers:
        raise ValueError("no BatchNorm2d after a 3x3 conv found: is this a CIFAR plain/ResNet model?")
    stats = {n: torch.zeros(3, dtype=torch.float64) for n in layers}  # count, sum, sum of squares
    mods = dict(model.named_modules())

    def hook(name: str):
        def record(m: nn.Module, inp, out: torch.Tensor) -> None:  # out: (B, C, H, W)
            o = out.detach().double()
            stats[name] += torch.tensor([o.numel(), o.sum().item(), (o * o).sum().item()], dtype=torch.float64)
        return record

    hooks = [mods[n].register_forward_hook(hook(n)) for n in layers]
    try:
        with _evaluating(model):
            for xb in _batches(model, x, batch_size):
                model(xb)
    finally:
        for h in hooks:
            h.remove()
    out = {}
    for n, (cnt, s, sq) in stats.items():
        mean = s / cnt
        out[n] = math.sqrt(max((sq / cnt - mean * mean).item(), 0.0))
    return out


def error_percent(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
                  normalizer: _NormFn = None, batch_size: int = 500) -> float:
    """Top-1 error in percent of ``model`` on ``images`` ``(N, 3, H, W)`` and ``labels`` ``(N,)``."""
    x = _inputs(images, normalizer)
    wrong = 0
    with _evaluating(model):
        for xb, yb in zip(_batches(model, x, batch_size), labels.split(batch_size)):
            wrong += (model(xb).argmax(1).cpu() != yb.cpu()).sum().item()
    return 100.0 * wrong / len(labels)


def residual_blocks(model: nn.Module) -> list[str]:
    """Names of the blocks inside the model's ``nn.Sequential`` stages, e.g. ``layer2.0``."""
    names = [f"{sname}.{i}" for sname, stage in model.named_children()
             if isinstance(stage, nn.Sequential) for i in range(len(stage))]
    if not names:
        raise ValueError("the model has no nn.Sequential stages (layer1, layer2, ...) of blocks")
    return names


class ShortcutOnly(nn.Module):
    """A residual block with its residual branch deleted: ``relu(shortcut(x))``.

    The ReLU is the one a post-activation block applies after its addition. A
    pre-activation block has none, and its shortcut takes ``relu(bn1(x))``: pass
    ``relu=False, pre=nn.Sequential(block.bn1, nn.ReLU())``.
    """

    def __init__(self, shortcut: nn.Module, relu: bool = True, pre: nn.Module | None = None) -> None:
        super().__init__()
        self.shortcut, self.relu, self.pre = shortcut, relu, pre

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C', H', W')
        out = self.shortcut(x if self.pre is None else self.pre(x))
        return F.relu(out) if self.relu else out


def _is_residual(block: nn.Module) -> bool:
    return bool(getattr(block, "residual", True))


def lesion_replacement(block: nn.Module, same_shape: bool, downsampling: str = "shortcut") -> nn.Module | None:
    """What a deleted block becomes, or ``None`` when it cannot be deleted.

    - shape-preserving block (residual or plain): the identity. For a residual
      block this is exactly its shortcut path; for a plain block it *removes*
      the block and feeds its input straight to the next one.
    - downsampling residual block: its shortcut (option A: subsample + zero
      channels) when ``downsampling="shortcut"``, as Veit et al. 2016 did (they keep
      the downsampling projection); ``None`` when ``downsampling="skip"``.
    - downsampling plain block: ``None`` (there is no path that produces the new shape).
    """
    if downsampling not in ("shortcut", "skip"):
        raise ValueError(f"downsampling must be 'shortcut' or 'skip', got {downsampling!r}")
    if not _is_residual(block):
        return nn.Identity() if same_shape else None
    shortcut = getattr(block, "downsample", None)
    if shortcut is None:
        shortcut = getattr(block, "shortcut", None)
    if shortcut is None:  # identity shortcut: its input is already >= 0 (after a ReLU)
        return nn.Identity() if same_shape else None
    if not same_shape and downsampling == "skip":
        return None
    if type(block).__name__.startswith("PreAct"):
        return ShortcutOnly(shortcut, relu=False, pre=nn.Sequential(block.bn1, nn.ReLU()))
    return ShortcutOnly(shortcut)


@contextlib.contextmanager
def lesioned(model: nn.Module, block_name: str, replacement: nn.Module) -> Iterator[nn.Module]:
    """Temporarily put ``replacement`` in place of block ``block_name`` (e.g. ``"layer2.3"``)."""
    stage_name, idx = block_name.rsplit(".", 1)
    stage = model.get_submodule(stage_name)
    original = stage[int(idx)]
    stage[int(idx)] = replacement
    try:
        yield model
    finally:
        stage[int(idx)] = original


def _block_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, tuple[tuple, tuple]]:
    """``{block name: (input shape, output shape)}`` from one probe forward pass."""
    shapes: dict[str, tuple[tuple, tuple]] = {}
    _probe(model, input_shape, [model.get_submodule(n).register_forward_hook(
        lambda m, i, o, n=n: shapes.__setitem__(n, (tuple(i[0].shape), tuple(o.shape))))
        for n in residual_blocks(model)])
    return shapes


def lesion_plan(model: nn.Module, input_shape: tuple[int, ...] = (1, 3, 32, 32),
                downsampling: str = "shortcut") -> list[tuple[str, tuple, tuple, nn.Module | None]]:
    """``[(block name, input shape, output shape, replacement or None)]`` for every block, in order.

    The replacement is what :func:`lesion_study` puts in the block's place (see
    :func:`lesion_replacement`); ``None`` marks a block that cannot be deleted.
    """
    shapes = _block_shapes(model, input_shape)
    return [(n, shapes[n][0], shapes[n][1],
             lesion_replacement(model.get_submodule(n), shapes[n][0] == shapes[n][1], downsampling))
            for n in residual_blocks(model)]


def lesion_study(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
                 normalizer: _NormFn = None, downsampling: str = "shortcut",
                 batch_size: int = 500) -> list[tuple[str, float]]:
    """Delete one block at a time and measure the test error (Veit et al. 2016).

    images ``(N, 3, H, W)``, labels ``(N,)``. Returns ``[(block name, error %)]`` in
    network order for every block that can be deleted (see :func:`lesion_replacement`);
    blocks that cannot are left out. The model is restored after each deletion.
    """
    x = _inputs(images, normalizer)
    results = []
    for name, _, _, rep in lesion_plan(model, (1, *x.shape[1:]), downsampling):
        if rep is not None:
            with lesioned(model, name, rep):
                results.append((name, error_percent(model, x, labels, batch_size=batch_size)))
    return results


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


def _loss_and_error(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, loss_fn: Callable,
                    batch_size: int) -> tuple[float, float]:
    """Mean loss and error % over ``x`` ``(N, 3, H, W)``; eval mode, no autograd."""
    total, wrong = 0.0, 0
    with _evaluating(model):
        for xb, yb in zip(_batches(model, x, batch_size), labels.split(batch_size)):
            logits = model(xb)  # (B, classes)
            yb = yb.to(logits.device)
            total += loss_fn(logits, yb).item() * len(yb)
            wrong += (logits.argmax(1) != yb).sum().item()
    return total / len(labels), 100.0 * wrong / len(labels)


def _landscape(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
               directions: list[list[torch.Tensor]], grid: list[tuple[float, ...]],
               normalizer: _NormFn, loss_fn: Callable, batch_size: int) -> tuple[list[float], list[float]]:
    """Loss and error at ``theta0 + sum_k c_k d_k`` for each coefficient tuple in ``grid``."""
    x = _inputs(images, normalizer)
    params = list(model.parameters())
    theta0 = [p.detach().clone() for p in params]
    losses, errors = [], []
    try:
        for coeffs in grid:
            with torch.no_grad():
                for i, p in enumerate(params):
                    p.copy_(theta0[i])
                    for c, d in zip(coeffs, directions):
                        p.add_(d[i], alpha=c)
            loss, err = _loss_and_error(model, x, labels, loss_fn, batch_size)
            losses.append(loss)
            errors.append(err)
    finally:
        with torch.no_grad():
            for p, t in zip(params, theta0):
                p.copy_(t)
    return losses, errors


def loss_landscape_1d(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, steps: int = 21,
                      span: float = 1.0, seed: int = 0, normalizer: _NormFn = None,
                      loss_fn: Callable = F.cross_entropy, batch_size: int = 500) -> dict[str, torch.Tensor]:
    """Loss and error along ``theta + alpha * d`` for ``alpha`` in ``linspace(-span, span, steps)``.

    ``d`` is :func:`filter_normalized_direction` ``(model, seed)``; evaluation in eval
    mode (BN uses its running statistics). Returns ``alphas``, ``loss``, ``error`` (%),
    each ``(steps,)``. The weights are restored afterwards.
    """
    if steps < 2 or span <= 0:
        raise ValueError("need steps >= 2 and span > 0")
    alphas = torch.linspace(-span, span, steps, dtype=torch.float64)
    d = filter_normalized_direction(model, seed)
    loss, err = _landscape(model, images, labels, [d], [(a,) for a in alphas.tolist()],
                           normalizer, loss_fn, batch_size)
    return {"alphas": alphas, "loss": torch.tensor(loss, dtype=torch.float64),
            "error": torch.tensor(err, dtype=torch.float64)}


def loss_landscape_2d(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, steps: int = 11,
                      span: float = 1.0, seed: int = 0, normalizer: _NormFn = None,
                      loss_fn: Callable = F.cross_entropy, batch_size: int = 500) -> dict[str, torch.Tensor]:
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
    return {"alphas": coords, "betas": coords.clone(),
            "loss": torch.tensor(loss, dtype=torch.float64).view(shape),
            "error": torch.tensor(err, dtype=torch.float64).view(shape)}
