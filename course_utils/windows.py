"""How a kernel slides over a padded input: the number of positions, and the picture of the first windows.

``window_count`` is the output-size formula counted out (``shapes.conv_out`` by enumeration);
``sliding_window`` draws the input grid, padding in grey, the taps of the first two windows and
the output grid beside it (notebook 03; ``diagrams`` re-exports both).
"""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from course_utils.drawing import COLORS, blank_axes
from course_utils.shapes import conv_arithmetic

__all__ = ["window_count", "sliding_window"]


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
    ax = blank_axes(ax, (7.5, 4.2))
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
