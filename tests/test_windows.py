"""course_utils.windows: the positions of a sliding kernel agree with the output-size formula, and the
picture shows every tap of the first two windows. (``test_diagrams`` checks both against ``nn.Conv2d``.)"""

import itertools

import matplotlib
import pytest

matplotlib.use("Agg")
from matplotlib import pyplot as plt
from matplotlib.patches import Rectangle

from course_utils import diagrams, shapes, windows


def test_diagrams_re_exports_the_window():
    assert diagrams.window_count is windows.window_count and diagrams.sliding_window is windows.sliding_window


@pytest.mark.parametrize(
    "size,kernel,stride,padding,dilation", itertools.product([5, 8], [1, 3], [1, 2], [0, 1], [1, 2])
)
def test_window_count_is_the_formula(size, kernel, stride, padding, dilation):
    want = shapes.conv_out(size, kernel, stride, padding, dilation)
    assert windows.window_count(size, kernel, stride, padding, dilation) == want


@pytest.mark.parametrize("args,windows_drawn", [((7, 3, 2, 1, 1), 2), ((5, 3, 1, 0, 2), 1), ((2, 5, 1, 0, 1), 0)])
def test_sliding_window_draws_each_tap(args, windows_drawn):
    size, kernel, stride, padding, dilation = args
    ax = windows.sliding_window(*args)
    full = size + 2 * padding
    taps = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_width() == pytest.approx(0.76)]
    assert len(taps) == windows_drawn * kernel * kernel  # a dilated kernel keeps its kernel x kernel taps
    grid = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_width() == 1 and p.get_x() < full]
    assert len(grid) == full * full
    assert f"kernel {kernel}, stride {stride}, padding {padding}, dilation {dilation}" in ax.get_title()
    plt.close("all")
