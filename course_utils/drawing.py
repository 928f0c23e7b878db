"""What the markdown figures are drawn with: the palette, rounded boxes, labelled arrows, bare axes.

Every function draws on a matplotlib ``Axes``; ``diagrams`` composes them into the course's figures.
"""

from __future__ import annotations

from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import FancyBboxPatch

__all__ = ["COLORS", "blank_axes", "box", "arrow", "chw"]

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


def blank_axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    """``ax`` (or a new figure's axes of ``size`` inches) without its frame and ticks."""
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    ax.set_axis_off()
    return ax


def box(ax: Axes, x: float, y: float, text: str, color: str, w: float = 3.6, h: float = 0.6) -> None:
    """A rounded box centred at (x, y)."""
    ax.add_patch(
        FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.04", fc=color, ec="black", lw=1, zorder=3)
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=9, zorder=4)


def arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], label: str = "", rad: float = 0.0) -> None:
    """An arrow from ``start`` to ``end``, with ``label`` in small grey monospace left of its middle."""
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


def chw(c: int, s: int) -> str:
    """A square feature map's shape as the figures write it, C×H×W: ``chw(64, 56)`` -> ``"64×56×56"``."""
    return f"{c}×{s}×{s}"
