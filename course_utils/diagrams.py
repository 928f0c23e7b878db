"""Drawings for the notebooks' markdown: residual blocks, shortcuts, shape flow, sliding windows.

    python -m course_utils.diagrams                 # writes md_img/*.png
    python -m course_utils.diagrams --out ../img    # somewhere else

Every function draws on a matplotlib ``Axes`` (a new figure when ``ax`` is
None) and returns it; nothing here touches torch.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

if __name__ == "__main__":
    matplotlib.use("Agg")  # the CLI never needs a window
from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import FancyBboxPatch, Rectangle

from course_utils.paths import md_img_dir
from course_utils.shapes import conv_arithmetic

__all__ = [
    "block_diagram",
    "resnet_cifar_stages",
    "shape_flow",
    "window_count",
    "sliding_window",
    "save_all",
    "main",
    "MD_IMG",
    "COLORS",
]

MD_IMG = md_img_dir()
COLORS = {
    "conv": "#cfe2f3",
    "proj": "#d9d2e9",
    "add": "#f4cccc",
    "io": "#eeeeee",
    "pad": "#d0d0d0",
    "tap": "#e06666",
    "next": "#6fa8dc",
    "out": "#93c47d",
}


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    ax.set_axis_off()
    return ax


def _box(ax: Axes, x: float, y: float, text: str, color: str, w: float = 3.6, h: float = 0.6) -> None:
    """A rounded box centred at (x, y)."""
    ax.add_patch(
        FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.04", fc=color, ec="black", lw=1, zorder=3)
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=9, zorder=4)


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], label: str = "", rad: float = 0.0) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="-|>", lw=1.2, connectionstyle=f"arc3,rad={rad}"))
    if label:
        ax.text(
            start[0] - 0.15,
            (start[1] + end[1]) / 2,
            label,
            ha="right",
            va="center",
            fontsize=8,
            color="#444444",
            family="monospace",
        )


def _shape(c: int, s: int) -> str:
    return f"{c}×{s}×{s}"


def block_diagram(
    kind: str = "basic",
    in_planes: int = 64,
    planes: int = 64,
    size: int = 56,
    stride: int = 1,
    shortcut: str = "identity",
    stride_on: str = "3x3",
    ax: Axes | None = None,
) -> Axes:
    """A residual block top to bottom: each conv with its output shape, the shortcut on the right.

    ``kind``: "basic" (two 3x3) or "bottleneck" (1x1, 3x3, 1x1, expansion 4);
    ``shortcut``: "identity", "A" (subsample + zero channels), "B"/"C" (1x1 projection + BN);
    ``stride_on``: where a bottleneck puts its stride, "3x3" (v1.5) or "1x1" (v1).
    """
    if kind not in ("basic", "bottleneck"):
        raise ValueError(f"kind must be 'basic' or 'bottleneck', got {kind!r}")
    if shortcut not in ("identity", "A", "B", "C"):
        raise ValueError(f"shortcut must be 'identity', 'A', 'B' or 'C', got {shortcut!r}")
    if stride_on not in ("3x3", "1x1"):
        raise ValueError(f"stride_on must be '3x3' or '1x1', got {stride_on!r}")
    out_size = (size - 1) // stride + 1  # = conv_out(size, 3, stride, 1) = conv_out(size, 1, stride, 0)
    if kind == "basic":
        out_planes = planes
        convs = [("3×3", in_planes, planes, stride), ("3×3", planes, planes, 1)]
    else:
        out_planes = 4 * planes
        s1, s3 = (stride, 1) if stride_on == "1x1" else (1, stride)
        convs = [("1×1", in_planes, planes, s1), ("3×3", planes, planes, s3), ("1×1", planes, out_planes, 1)]
    if shortcut == "identity" and (stride != 1 or in_planes != out_planes):
        raise ValueError(f"an identity shortcut needs stride 1 and in_planes == {out_planes}; use shortcut='A' or 'B'")
    ax = _axes(ax, (4.6, 1.4 * len(convs) + 2.6))
    n = len(convs)
    top = 2 * n + 2
    ax.set_xlim(-0.6, 7.8)
    ax.set_ylim(-0.7, top + 0.7)
    _box(ax, 2, top, f"input  {_shape(in_planes, size)}", COLORS["io"])
    y, s = top, size
    for i, (k, cin, cout, st) in enumerate(convs):
        s = (s - 1) // st + 1
        ynext = y - 2
        _arrow(ax, (2, y - 0.35 - 0.1 * (i > 0)), (2, ynext + 0.45), "ReLU" if i else "")
        label = f"{k} conv, {cin}→{cout}\n" + (f"stride {st} + BN" if st > 1 else "+ BN")
        _box(ax, 2, ynext, label, COLORS["conv"], h=0.8)
        ax.text(2.15, ynext - 1.0, _shape(cout, s), fontsize=8, family="monospace", color="#1f4e79", va="center")
        y = ynext
    ax.add_patch(plt.Circle((2, 0.5), 0.3, fc=COLORS["add"], ec="black"))
    ax.text(2, 0.5, "+", ha="center", va="center", fontsize=14)
    _arrow(ax, (2, y - 0.45), (2, 0.8))
    _arrow(ax, (2, 0.2), (2, -0.5))
    ax.text(2.2, -0.45, f"ReLU → {_shape(out_planes, out_size)}", fontsize=8, va="center")
    # the shortcut, on the right
    xs = 6.0
    ax.plot([3.8, xs, xs], [top, top, 0.5 + 0.05], color="black", lw=1.2)
    _arrow(ax, (xs, 0.5), (2.3, 0.5))
    text = {
        "identity": "identity\n(0 params)",
        "A": f"option A\nx[:, :, ::{stride}, ::{stride}]\n+ {out_planes - in_planes} zero channels\n0 params",
        "B": f"option B\n1×1 conv {in_planes}→{out_planes}\n"
        + (f"stride {stride} + BN" if stride > 1 else "+ BN")
        + f"\n{in_planes * out_planes + 2 * out_planes:,} params",
    }
    text["C"] = text["B"].replace("option B", "option C")
    _box(
        ax,
        xs,
        top / 2,
        text[shortcut],
        COLORS["proj"] if shortcut in "BC" else COLORS["io"],
        w=3.0,
        h=1.5 if shortcut != "identity" else 0.8,
    )
    ax.set_title(
        f"{'BasicBlock' if kind == 'basic' else 'Bottleneck'}"
        + (f", stride on the {stride_on}" if kind == "bottleneck" and stride > 1 else "")
        + (f", shortcut option {shortcut}" if shortcut != "identity" else ""),
        fontsize=10,
    )
    return ax


def resnet_cifar_stages(n: int = 3) -> list[tuple[str, int, int]]:
    """(label, channels, spatial size) after each stage of the CIFAR ResNet of depth 6n+2."""
    return [
        ("input", 3, 32),
        ("conv 3×3", 16, 32),
        (f"stage 1\n{n} blocks", 16, 32),
        (f"stage 2\n{n} blocks", 32, 16),
        (f"stage 3\n{n} blocks", 64, 8),
        ("global\navg pool", 64, 1),
        ("fc", 10, 1),
    ]


def shape_flow(
    stages: list[tuple[str, int, int]] | None = None,
    ax: Axes | None = None,
    title: str = "ResNet-20: shapes stage by stage",
) -> Axes:
    """Feature maps as slabs: height ∝ spatial size, thickness ∝ channels; shape C×H×W below."""
    stages = stages or resnet_cifar_stages(3)
    ax = _axes(ax, (1.7 * len(stages), 3.6))
    hmax = max(s for _, _, s in stages)
    cmax = max(c for _, c, _ in stages)
    x = 0.0
    for label, c, s in stages:
        h = 2.4 * s / hmax + 0.12
        w = 0.15 + 0.9 * c / cmax
        d = 0.35  # the oblique "depth" of the slab
        ax.add_patch(Rectangle((x, -h / 2), w, h, fc=COLORS["conv"], ec="black"))
        ax.fill([x, x + d, x + w + d, x + w], [h / 2, h / 2 + d, h / 2 + d, h / 2], fc="#a4c2f4", ec="black")
        ax.fill([x + w, x + w + d, x + w + d, x + w], [-h / 2, -h / 2 + d, h / 2 + d, h / 2], fc="#9fc5e8", ec="black")
        ax.text(x + (w + d) / 2, 1.9, label, ha="center", va="bottom", fontsize=8)
        ax.text(x + (w + d) / 2, -1.75, _shape(c, s) if s > 1 else f"{c}", ha="center", fontsize=8, family="monospace")
        x += w + d + 1.1
        if label != stages[-1][0]:
            _arrow(ax, (x - 0.9, 0), (x - 0.2, 0))
    ax.set_xlim(-0.3, x)
    ax.set_ylim(-2.1, 2.7)
    ax.set_title(title, fontsize=10)
    return ax


def window_count(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """How many positions a dilated kernel takes along one axis (0 when it does not fit)."""
    for name, v, lo in (
        ("size", size, 1),
        ("kernel", kernel, 1),
        ("stride", stride, 1),
        ("padding", padding, 0),
        ("dilation", dilation, 1),
    ):
        if int(v) != v or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    span = dilation * (kernel - 1) + 1  # the window's extent, holes included
    return len(range(0, size + 2 * padding - span + 1, stride))  # start positions that fit


def sliding_window(
    size: int = 7, kernel: int = 3, stride: int = 2, padding: int = 1, dilation: int = 1, ax: Axes | None = None
) -> Axes:
    """The padded input grid with the taps of the first two windows, and the output grid beside it."""
    out = window_count(size, kernel, stride, padding, dilation)
    full = size + 2 * padding
    ax = _axes(ax, (7.5, 4.2))
    for i in range(full):  # the input, padding in grey
        for j in range(full):
            pad = not (padding <= i < padding + size and padding <= j < padding + size)
            ax.add_patch(Rectangle((j, -i - 1), 1, 1, fc=COLORS["pad"] if pad else "white", ec="#888888", lw=0.6))
    taps = [dilation * t for t in range(kernel)]
    windows = [(0, 0, COLORS["tap"])] + ([(0, stride, COLORS["next"])] if out > 1 else [])
    if out:
        for r0, c0, color in windows:
            for ti in taps:
                for tj in taps:
                    ax.add_patch(
                        Rectangle((c0 + tj + 0.12, -(r0 + ti) - 0.88), 0.76, 0.76, fc=color, alpha=0.55, ec="none")
                    )
    else:
        ax.text(full / 2, 0.4, "the kernel does not fit: no output", ha="center", color="red", fontsize=10)
    x0 = full + 2  # the output grid
    for i in range(out):
        for j in range(out):
            first = {(0, 0): COLORS["tap"], (0, 1): COLORS["next"]}.get((i, j), COLORS["out"])
            ax.add_patch(
                Rectangle(
                    (x0 + j, -i - 1),
                    1,
                    1,
                    fc=first,
                    alpha=0.7 if (i, j) in ((0, 0), (0, 1)) else 0.25,
                    ec="#888888",
                    lw=0.6,
                )
            )
    ax.text(full / 2, 0.5 if out else 1.3, f"input {size}×{size}, padding {padding} (grey)", ha="center", fontsize=9)
    if out:
        ax.text(x0 + out / 2, 0.5, f"output {out}×{out}", ha="center", fontsize=9)
    ax.set_xlim(-0.5, x0 + max(out, 1) + 0.5)
    ax.set_ylim(-full - 0.5, 2.0)
    ax.set_aspect("equal")
    ax.set_title(
        f"kernel {kernel}, stride {stride}, padding {padding}, dilation {dilation}\n"
        + conv_arithmetic(size, kernel, stride, padding, dilation),
        fontsize=9,
    )
    return ax


def save_all(out: str | Path = MD_IMG, dpi: int = 110) -> list[Path]:
    """Draw every figure into ``out`` (default ``md_img/``); return the files written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = {  # name: (figure size, panels, drawing)
        "basic_block.png": ((4.4, 4.8), 1, lambda axs: block_diagram("basic", 64, 64, 56, ax=axs[0])),
        "bottleneck_block.png": ((4.4, 6.0), 1, lambda axs: block_diagram("bottleneck", 256, 64, 56, ax=axs[0])),
        "shortcut_options.png": (
            (13.2, 4.8),
            3,
            lambda axs: [
                block_diagram("basic", 16, 32, 32, 2, "A", ax=axs[0]),
                block_diagram("basic", 16, 32, 32, 2, "B", ax=axs[1]),
                block_diagram("basic", 16, 16, 32, 1, "C", ax=axs[2]),
            ],
        ),
        "stride_1x1_vs_3x3.png": (
            (8.8, 6.0),
            2,
            lambda axs: [
                block_diagram("bottleneck", 256, 128, 56, 2, "B", stride_on="1x1", ax=axs[0]),
                block_diagram("bottleneck", 256, 128, 56, 2, "B", stride_on="3x3", ax=axs[1]),
            ],
        ),
        "resnet20_shape_flow.png": ((11.0, 3.4), 1, lambda axs: shape_flow(ax=axs[0])),
        "sliding_window.png": ((6.4, 3.8), 1, lambda axs: sliding_window(7, 3, 2, 1, ax=axs[0])),
        "same_size_3x3_1x1.png": (
            (12.0, 3.8),
            2,
            lambda axs: [sliding_window(7, 3, 2, 1, ax=axs[0]), sliding_window(7, 1, 2, 0, ax=axs[1])],
        ),
    }
    written = []
    for name, (figsize, ncols, draw) in jobs.items():
        fig, axs = plt.subplots(1, ncols, figsize=figsize, squeeze=False)
        for a in axs[0]:
            a.set_axis_off()
        draw(list(axs[0]))
        fig.tight_layout()
        fig.savefig(out / name, dpi=dpi)
        plt.close(fig)
        written.append(out / name)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Draw the course's markdown figures.")
    ap.add_argument("--out", default=str(MD_IMG), help="folder for the PNG files (default: md_img/)")
    args = ap.parse_args(argv)
    for path in save_all(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
