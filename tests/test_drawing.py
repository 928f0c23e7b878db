"""course_utils.drawing: the parts the markdown figures are drawn with."""

import matplotlib
import pytest

matplotlib.use("Agg")
from matplotlib import pyplot as plt
from matplotlib.patches import FancyBboxPatch

from course_utils import diagrams, drawing


def test_chw_writes_a_square_map():
    assert drawing.chw(64, 56) == "64×56×56" and drawing.chw(3, 1) == "3×1×1"


def test_blank_axes_new_or_given():
    ax = drawing.blank_axes(None, (3.0, 2.0))
    assert not ax.axison and tuple(ax.figure.get_size_inches()) == (3.0, 2.0)
    _, given = plt.subplots()
    assert drawing.blank_axes(given, (9.0, 9.0)) is given and not given.axison
    plt.close("all")


def test_box_and_arrow():
    _, ax = plt.subplots()
    drawing.box(ax, 2, 1, "conv", drawing.COLORS["conv"], w=3.0, h=0.8)
    (patch,) = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    assert (patch.get_x(), patch.get_y(), patch.get_width(), patch.get_height()) == pytest.approx((0.5, 0.6, 3.0, 0.8))
    assert [(t.get_text(), t.get_position()) for t in ax.texts] == [("conv", (2, 1))]
    drawing.arrow(ax, (2, 3), (2, 1))
    drawing.arrow(ax, (2, 3), (2, 1), "ReLU")
    assert [t.get_text() for t in ax.texts if t.get_text()] == ["conv", "ReLU"]  # a label only when given
    plt.close("all")


def test_diagrams_re_exports_the_palette():
    assert diagrams.COLORS is drawing.COLORS
