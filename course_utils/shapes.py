"""Shape arithmetic: output sizes, receptive fields, and a per-layer summary table.

    >>> conv_out(32, kernel=3, stride=2, padding=1), conv_out(32, kernel=1, stride=2)
    (16, 16)
    >>> pool_out(112, kernel=3, stride=2, padding=1)   # the ResNet stem's max-pool
    56

The formulas are PyTorch's own; ``summarize`` runs a real forward pass and
checks every conv's and pool's output shape against them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["conv_out", "conv_arithmetic", "pool_out", "receptive_field", "summarize", "Row", "Summary"]


def _positive(**kw: int) -> None:
    for k, v in kw.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{k} must be a positive int, got {v!r}")


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output size of a convolution along one dimension, as ``nn.Conv2d`` computes it.

    ``floor((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1``: the
    dilated kernel spans ``dilation*(kernel-1) + 1`` pixels, and the window
    slides in steps of ``stride`` while it fits inside the padded input.
    """
    _positive(size=size, kernel=kernel, stride=stride, dilation=dilation)
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    span = dilation * (kernel - 1) + 1  # pixels covered by one (dilated) window
    if size + 2 * padding < span:
        raise ValueError(
            f"the window ({span} pixels with dilation) is larger than the padded "
            f"input ({size} + 2*{padding}); use a smaller kernel or more padding"
        )
    return (size + 2 * padding - span) // stride + 1


def conv_arithmetic(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> str:
    """The output-size formula with the numbers filled in, true in every case (notebook 03's explorer).

    ``"floor((7 + 2·1 - 1·(3-1) - 1) / 2) + 1 = floor(5 / 2) + 1 = 3"`` when a window fits; when
    none does, the numerator is negative and the line says so instead of claiming ``... + 1 = 0``:
    ``"1 + 2·0 - 1·(5-1) - 1 = -4 < 0: no window fits, no output"``.
    """
    inner = f"{size} + 2·{padding} - {dilation}·({kernel}-1) - 1"
    numerator = size + 2 * padding - dilation * (kernel - 1) - 1
    if numerator < 0:
        return f"{inner} = {numerator} < 0: no window fits, no output"
    return f"floor(({inner}) / {stride}) + 1 = floor({numerator} / {stride}) + 1 = {numerator // stride + 1}"


def pool_out(
    size: int, kernel: int, stride: int | None = None, padding: int = 0, dilation: int = 1, ceil_mode: bool = False
) -> int:
    """Output size of ``nn.MaxPool2d`` / ``nn.AvgPool2d`` along one dimension.

    Like ``conv_out`` but ``stride`` defaults to ``kernel``, and with ``ceil_mode``
    the division rounds up (a partial last window counts), except that PyTorch drops a
    last window that would start in the right padding: it must start inside the input
    or the left padding. PyTorch also requires ``padding <= kernel // 2``.
    """
    stride = kernel if stride is None else stride
    _positive(size=size, kernel=kernel, stride=stride, dilation=dilation)
    if not 0 <= padding <= kernel // 2:
        raise ValueError(f"pooling padding must be between 0 and kernel // 2 = {kernel // 2}, got {padding}")
    span = dilation * (kernel - 1) + 1
    room = size + 2 * padding - span  # how far the window can slide (may be < 0 with ceil_mode)
    out = (room + (stride - 1 if ceil_mode else 0)) // stride + 1  # // floors, like PyTorch
    if ceil_mode and (out - 1) * stride >= size + padding:  # last window starts in the right pad
        out -= 1
    if out < 1:
        raise ValueError(
            f"empty output: the window ({span} pixels) is larger than the padded input ({size} + 2*{padding})"
        )
    return out


def receptive_field(layers: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """Receptive field and jump after each layer of a stack of ``(kernel, stride[, dilation])``.

    ``jump`` is the distance, in input pixels, between two neighbouring outputs;
    each layer widens the field by ``(span - 1) * jump_in``, span = ``dilation*(kernel-1)+1``.

        >>> receptive_field([(3, 1), (3, 1), (3, 2), (3, 1)])
        [(3, 1), (5, 1), (7, 2), (11, 2)]
    """
    rf, jump, result = 1, 1, []
    for i, layer in enumerate(layers):
        if len(layer) not in (2, 3):
            raise ValueError(f"layer {i}: expected (kernel, stride) or (kernel, stride, dilation), got {layer!r}")
        kernel, stride, dilation = (*layer, 1)[:3]
        _positive(kernel=kernel, stride=stride, dilation=dilation)
        rf += dilation * (kernel - 1) * jump
        jump *= stride
        result.append((rf, jump))
    return result


@dataclass
class Row:
    """One line of a summary: a layer call (or a group of them), its output and its cost."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int
    macs: int


@dataclass
class Summary:
    """Per-layer table of a forward pass; ``str(summary)`` prints it."""

    rows: list[Row]
    input_shape: tuple[int, ...]
    total_params: int
    total_macs: int
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        head = ("Layer", "Type", "Output shape", "Params", "MACs")
        body = [(r.name, r.type, str(tuple(r.output_shape)), f"{r.params:,}", f"{r.macs:,}") for r in self.rows]
        widths = [max(len(c) for c in col) for col in zip(head, *body, strict=True)]
        fmt = "  ".join(f"{{:{'<' if i < 3 else '>'}{w}}}" for i, w in enumerate(widths))
        rule = "-" * len(fmt.format(*head))
        lines = [f"input {tuple(self.input_shape)}", fmt.format(*head), rule]
        lines += [fmt.format(*b) for b in body]
        lines += [
            rule,
            f"total params: {self.total_params:,}",
            f"total MACs:   {self.total_macs:,} ({_human(self.total_macs)})",
        ]
        return "\n".join(lines + self.notes)

    def __repr__(self) -> str:
        return f"Summary({len(self.rows)} rows, total_params={self.total_params:,}, total_macs={self.total_macs:,})"


def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(int(n))


def _macs(module: nn.Module, out: torch.Tensor) -> int:
    """Multiply-accumulates of one call; only convs and linear layers count."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return out.numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return out.numel() * module.in_features
    return 0


def _check_shape(name: str, module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> None:
    """Cross-check a conv's or pool's real output size against ``conv_out`` / ``pool_out``."""
    if isinstance(module, nn.Conv2d) and not isinstance(module.padding, str):
        want = [
            conv_out(inp.shape[-2 + i], module.kernel_size[i], module.stride[i], module.padding[i], module.dilation[i])
            for i in range(2)
        ]
    elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        k, s, p = (module.kernel_size, module.stride, module.padding)
        d = getattr(module, "dilation", 1)
        k, s, p, d = ((v, v) if isinstance(v, int) else v for v in (k, s, p, d))
        want = [pool_out(inp.shape[-2 + i], k[i], s[i], p[i], d[i], module.ceil_mode) for i in range(2)]
    else:
        return
    if list(out.shape[-2:]) != want:
        raise RuntimeError(
            f"{name}: forward gave spatial size {tuple(out.shape[-2:])}, the formula "
            f"gives {tuple(want)} (does the module pad or resize on its own?)"
        )


def _grouped(rows: list[Row], model: nn.Module, out_shapes: dict[str, tuple[int, ...]], depth: int) -> list[Row]:
    """One row per submodule at ``depth`` (its name's first ``depth`` parts), summing its leaves' params and MACs."""
    groups: dict[str, Row] = {}
    for r in rows:
        key = ".".join(r.name.split(".")[:depth])
        g = groups.setdefault(key, Row(key, type(model.get_submodule(key)).__name__, out_shapes[key], 0, 0))
        g.params += r.params
        g.macs += r.macs
    return list(groups.values())


def summarize(model: nn.Module, input_shape: Sequence[int] = (1, 3, 32, 32), depth: int | None = None) -> Summary:
    """Run one forward pass and tabulate every leaf layer: name, type, output shape, params, MACs.

    MACs (multiply-accumulates) are counted for convs (``out_elems * in_ch/groups * kh * kw``)
    and linear layers (``out_elems * in_features``) only; BN, ReLU, pooling and the residual
    additions count 0, as in ``torch.utils.flop_counter.FlopCounterMode``, which reports
    FLOPs = 2 x MACs. MACs are for the whole input batch: use batch 1 for "per image".
    ``depth=1`` groups rows by top-level child (conv1, layer1, ..., fc), ``depth=2`` by
    block (layer1.0, ...); ``None`` lists every call of every leaf (``nn.Identity`` skipped).
    The model runs in eval mode under ``no_grad`` and is left as it was.
    """
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise ValueError(f"depth must be None (every layer) or an int >= 1, got {depth!r}")
    names = {m: n for n, m in model.named_modules()}
    rows: list[Row] = []
    out_shapes: dict[str, tuple[int, ...]] = {}  # last output shape of every (sub)module
    seen: set[nn.Module] = set()  # a reused module (e.g. one ReLU) counts its params once

    def hook(module: nn.Module, args: tuple, out: object) -> None:
        name = names[module]
        if not isinstance(out, torch.Tensor) or not args or not isinstance(args[0], torch.Tensor):
            return
        out_shapes[name] = tuple(out.shape)
        if next(module.children(), None) is not None or isinstance(module, nn.Identity):
            return  # a container: its leaves are rows
        _check_shape(name, module, args[0], out)
        params = 0 if module in seen else sum(p.numel() for p in module.parameters())
        seen.add(module)
        rows.append(Row(name, type(module).__name__, tuple(out.shape), params, _macs(module, out)))

    param = next(model.parameters(), None)
    x = torch.zeros(
        tuple(input_shape),
        device=param.device if param is not None else None,
        dtype=param.dtype if param is not None else None,
    )
    handles = [m.register_forward_hook(hook) for m in model.modules()]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()

    if depth is not None:
        rows = _grouped(rows, model, out_shapes, depth)
    total = sum(p.numel() for p in model.parameters())
    notes = (
        []
        if total == sum(r.params for r in rows)
        else ["note: some parameters belong to no called leaf layer (unused, or used outside a module)"]
    )
    return Summary(rows, tuple(input_shape), total, sum(r.macs for r in rows), notes)
