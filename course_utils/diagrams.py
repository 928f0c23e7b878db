"""Drawings for the notebooks' markdown: residual blocks, shortcuts, shape flow, sliding windows.

    python -m course_utils.diagrams                 # writes md_img/*.png
    python -m course_utils.diagrams --out ../img    # somewhere else

Every function draws on a matplotlib ``Axes`` (a new figure when ``ax`` is
None) and returns it; nothing here touches torch. The sliding window
(``window_count``, ``sliding_window``) lives in ``windows``, the boxes, arrows
and colours in ``drawing``; both are re-exported here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

if __name__ == "__main__":
    matplotlib.use("Agg")  # the CLI never needs a window
from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from course_utils.drawing import COLORS, arrow, blank_axes, box, chw
from course_utils.paths import md_img_dir
from course_utils.windows import sliding_window, window_count

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

Conv = tuple[str, int, int, int]  # (kernel, in channels, out channels, stride) of one conv on the main path


def _block_convs(kind: str, in_planes: int, planes: int, stride: int, stride_on: str) -> tuple[int, list[Conv]]:
    """The block's output channels and its main-path convs, first to last."""
    if kind == "basic":
        return planes, [("3×3", in_planes, planes, stride), ("3×3", planes, planes, 1)]
    out_planes = 4 * planes
    s1, s3 = (stride, 1) if stride_on == "1x1" else (1, stride)
    return out_planes, [("1×1", in_planes, planes, s1), ("3×3", planes, planes, s3), ("1×1", planes, out_planes, 1)]


def _main_path(ax: Axes, convs: list[Conv], top: float, size: int) -> float:
    """Each conv below the input box at height ``top``, with its output shape; returns the last conv's height."""
    y, s = top, size
    for i, (k, cin, cout, st) in enumerate(convs):
        s = (s - 1) // st + 1
        ynext = y - 2
        arrow(ax, (2, y - 0.35 - 0.1 * (i > 0)), (2, ynext + 0.45), "ReLU" if i else "")
        label = f"{k} conv, {cin}→{cout}\n" + (f"stride {st} + BN" if st > 1 else "+ BN")
        box(ax, 2, ynext, label, COLORS["conv"], h=0.8)
        ax.text(2.15, ynext - 1.0, chw(cout, s), fontsize=8, family="monospace", color="#1f4e79", va="center")
        y = ynext
    return y


def _addition(ax: Axes, y: float, out_planes: int, out_size: int) -> None:
    """The + below the last conv (at height ``y``), the ReLU after it and the block's output shape."""
    ax.add_patch(plt.Circle((2, 0.5), 0.3, fc=COLORS["add"], ec="black"))
    ax.text(2, 0.5, "+", ha="center", va="center", fontsize=14)
    arrow(ax, (2, y - 0.45), (2, 0.8))
    arrow(ax, (2, 0.2), (2, -0.5))
    ax.text(2.2, -0.45, f"ReLU → {chw(out_planes, out_size)}", fontsize=8, va="center")


def _shortcut(ax: Axes, shortcut: str, in_planes: int, out_planes: int, stride: int, top: float) -> None:
    """The shortcut on the right, from the input (at height ``top``) to the +, with what it computes."""
    xs = 6.0
    ax.plot([3.8, xs, xs], [top, top, 0.5 + 0.05], color="black", lw=1.2)
    arrow(ax, (xs, 0.5), (2.3, 0.5))
    text = {
        "identity": "identity\n(0 params)",
        "A": f"option A\nx[:, :, ::{stride}, ::{stride}]\n+ {out_planes - in_planes} zero channels\n0 params",
        "B": f"option B\n1×1 conv {in_planes}→{out_planes}\n"
        + (f"stride {stride} + BN" if stride > 1 else "+ BN")
        + f"\n{in_planes * out_planes + 2 * out_planes:,} params",
    }
    text["C"] = text["B"].replace("option B", "option C")
    color = COLORS["proj"] if shortcut in "BC" else COLORS["io"]
    box(ax, xs, top / 2, text[shortcut], color, w=3.0, h=1.5 if shortcut != "identity" else 0.8)


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
    out_planes, convs = _block_convs(kind, in_planes, planes, stride, stride_on)
    if shortcut == "identity" and (stride != 1 or in_planes != out_planes):
        raise ValueError(f"an identity shortcut needs stride 1 and in_planes == {out_planes}; use shortcut='A' or 'B'")
    ax = blank_axes(ax, (4.6, 1.4 * len(convs) + 2.6))
    n = len(convs)
    top = 2 * n + 2
    ax.set_xlim(-0.6, 7.8)
    ax.set_ylim(-0.7, top + 0.7)
    box(ax, 2, top, f"input  {chw(in_planes, size)}", COLORS["io"])
    y = _main_path(ax, convs, top, size)
    _addition(ax, y, out_planes, out_size)
    _shortcut(ax, shortcut, in_planes, out_planes, stride, top)
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
    ax = blank_axes(ax, (1.7 * len(stages), 3.6))
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
        ax.text(x + (w + d) / 2, -1.75, chw(c, s) if s > 1 else f"{c}", ha="center", fontsize=8, family="monospace")
        x += w + d + 1.1
        if label != stages[-1][0]:
            arrow(ax, (x - 0.9, 0), (x - 0.2, 0))
    ax.set_xlim(-0.3, x)
    ax.set_ylim(-2.1, 2.7)
    ax.set_title(title, fontsize=10)
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
