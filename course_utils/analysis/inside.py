"""Inside trained networks (notebook 07): layer responses and lesion studies.

- layer responses: the std of each 3x3 layer's BN output (He et al. 2015, Fig. 7)
- lesions: delete one block at a time and measure the error (Veit et al. 2016)

Every function works on the CIFAR nets of ``course_utils.models`` and on any device.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.analysis._inputs import NormFn, batches, network_inputs
from course_utils.evaluation import error_percent, evaluating

__all__ = [
    "response_layers",
    "layer_responses",
    "residual_blocks",
    "ShortcutOnly",
    "lesion_replacement",
    "lesioned",
    "lesion_plan",
    "lesion_study",
]


def _probe(model: nn.Module, input_shape: tuple[int, ...], hooks: list) -> None:
    """One forward pass of zeros ``input_shape`` in eval mode; removes ``hooks`` afterwards."""
    try:
        with evaluating(model):
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

    _probe(
        model,
        input_shape,
        [
            m.register_forward_hook(on_conv if isinstance(m, nn.Conv2d) else on_bn)
            for m in model.modules()
            if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))
        ],
    )
    return found


def layer_responses(
    model: nn.Module, images: torch.Tensor, *, normalizer: NormFn = None, batch_size: int = 500
) -> dict[str, float]:
    """Std of each 3x3 layer's response after BN, before ReLU/addition (He et al. 2015, Fig. 7).

    images: ``(N, 3, H, W)``, float (already normalised) or uint8 with ``normalizer``.
    Returns ``{bn_name: std}`` in network order; the std is taken over all
    ``N * C * H * W`` values of the BN output (population std), in eval mode.
    """
    x = network_inputs(images, normalizer)
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
        with evaluating(model):
            for xb in batches(model, x, batch_size):
                model(xb)
    finally:
        for h in hooks:
            h.remove()
    out = {}
    for n, (cnt, s, sq) in stats.items():
        mean = s / cnt
        out[n] = math.sqrt(max((sq / cnt - mean * mean).item(), 0.0))
    return out


def residual_blocks(model: nn.Module) -> list[str]:
    """Names of the blocks inside the model's ``nn.Sequential`` stages, e.g. ``layer2.0``."""
    names = [
        f"{sname}.{i}"
        for sname, stage in model.named_children()
        if isinstance(stage, nn.Sequential)
        for i in range(len(stage))
    ]
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
    _probe(
        model,
        input_shape,
        [
            model.get_submodule(n).register_forward_hook(
                lambda m, i, o, n=n: shapes.__setitem__(n, (tuple(i[0].shape), tuple(o.shape)))
            )
            for n in residual_blocks(model)
        ],
    )
    return shapes


def lesion_plan(
    model: nn.Module, input_shape: tuple[int, ...] = (1, 3, 32, 32), downsampling: str = "shortcut"
) -> list[tuple[str, tuple, tuple, nn.Module | None]]:
    """``[(block name, input shape, output shape, replacement or None)]`` for every block, in order.

    The replacement is what :func:`lesion_study` puts in the block's place (see
    :func:`lesion_replacement`); ``None`` marks a block that cannot be deleted.
    """
    shapes = _block_shapes(model, input_shape)
    return [
        (
            n,
            shapes[n][0],
            shapes[n][1],
            lesion_replacement(model.get_submodule(n), shapes[n][0] == shapes[n][1], downsampling),
        )
        for n in residual_blocks(model)
    ]


def lesion_study(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    normalizer: NormFn = None,
    downsampling: str = "shortcut",
    batch_size: int = 500,
) -> list[tuple[str, float]]:
    """Delete one block at a time and measure the test error (Veit et al. 2016).

    images ``(N, 3, H, W)``, labels ``(N,)``. Returns ``[(block name, error %)]`` in
    network order for every block that can be deleted (see :func:`lesion_replacement`);
    blocks that cannot are left out. The error is :func:`course_utils.evaluation.error_percent`.
    The model is restored after each deletion.
    """
    x = network_inputs(images, normalizer)
    results = []
    for name, _, _, rep in lesion_plan(model, (1, *x.shape[1:]), downsampling):
        if rep is not None:
            with lesioned(model, name, rep):
                results.append((name, error_percent(model, x, labels, batch_size=batch_size)))
    return results
