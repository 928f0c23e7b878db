"""course_utils.checks.counts (notebook 04's answers in numbers), against counts done by hand here;
``test_checks_blocks`` checks the same checkers against torchvision's networks."""

from __future__ import annotations

import pytest

from course_utils import checks
from course_utils.checks import counts


def _said(capsys, text: str) -> bool:
    return text in capsys.readouterr().out


def test_blocks_and_the_package_re_export_the_counts():
    for name in counts.__all__:
        assert getattr(checks.blocks, name) is getattr(counts, name) is getattr(checks, name)
        assert name in checks.blocks.__all__ and name in checks.__all__


def test_layer_count_of_resnet50(capsys):
    assert counts.check_layer_count(50, (3, 4, 6, 3), bottleneck=True)
    assert _said(capsys, "Correct: 50 = (3+4+6+3)·3 + 2.")
    assert counts.check_layer_count(53, (3, 4, 6, 3), bottleneck=True, convs=True)  # 49 main-path convs + 4 proj.
    assert not counts.check_layer_count(48, (3, 4, 6, 3), bottleneck=True) and _said(capsys, "+2")
    assert not counts.check_layer_count(None, (3, 4, 6, 3), bottleneck=True) and _said(capsys, "Not answered")


def test_projection_params_of_resnet20(capsys):
    option_b = (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)  # two 1x1 convs with their BNs
    assert counts.check_projection_params(option_b, 20, "B") and _said(capsys, f"{option_b:,} extra parameters")
    assert not counts.check_projection_params(16 * 32 + 32 * 64, 20, "B") and _said(capsys, "*and* a BN")
    with pytest.raises(ValueError, match="'B' or 'C'"):
        counts.check_projection_params(0, 20, "A")


@pytest.mark.parametrize(
    "stride_on,truth",
    [("1x1", [(128, 28, 28), (128, 28, 28), (512, 28, 28)]), ("3x3", [(128, 56, 56), (128, 28, 28), (512, 28, 28)])],
)
def test_stride_shapes_of_layer2(stride_on, truth, capsys):
    assert counts.check_stride_shapes(truth, stride_on, stage=2)
    assert counts.check_stride_shapes([list(s) for s in truth], stride_on, stage=2)  # lists are fine too
    halved = [(128, 56, 56), (128, 56, 56), (512, 56, 56)]
    assert not counts.check_stride_shapes(halved, stride_on, stage=2) and _said(capsys, "halves H and W")
    assert not counts.check_stride_shapes("no idea", stride_on, stage=2) and _said(capsys, "is not it")
