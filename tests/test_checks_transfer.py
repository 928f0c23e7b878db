"""course_utils.checks.transfer (notebook 08): each truth against torchvision, torch or a hand count; each slip."""

from __future__ import annotations

import pytest

from course_utils import checks


def _said(capsys, text: str) -> bool:
    return text in capsys.readouterr().out


@pytest.mark.parametrize(("size", "side"), [(32, 1), (64, 2), (224, 7), (100, 4)])
def test_layer4_size(size, side, capsys):
    # torchvision resnet18: 5 stride-2 layers, each ceil(s / 2) with padding: 224 -> 7, 100 -> 50, 25, 13, 7, 4
    assert checks.check_layer4_size(side, size)
    assert not checks.check_layer4_size(side + 1, size)


def test_layer4_slips(capsys):
    assert not checks.check_layer4_size(2, 32) and _said(capsys, "max-pool")
    assert not checks.check_layer4_size(512, 32) and _said(capsys, "channels")
    assert not checks.check_layer4_size(None, 32) and _said(capsys, "Not answered")
    assert not checks.check_layer4_size("one", 32) and _said(capsys, "number")


def test_grouped_conv_params(capsys):
    assert checks.check_grouped_conv_params(128 * 4 * 9, 128, 128, 3, 32)  # ResNeXt stage 1: 4,608
    assert not checks.check_grouped_conv_params(128 * 128 * 9, 128, 128, 3, 32) and _said(capsys, "dense")
    assert not checks.check_grouped_conv_params(128 * 128 * 9 // 1024, 128, 128, 3, 32) and _said(capsys, "once")
    assert not checks.check_grouped_conv_params(128 * 4, 128, 128, 3, 32) and _said(capsys, "3x3")


def test_frozen_trainable(capsys):
    assert checks.check_frozen_trainable(64 * 5 + 5)
    assert checks.check_frozen_trainable(64 * 3 + 3, num_classes=3)
    assert not checks.check_frozen_trainable(320) and _said(capsys, "bias")
    assert not checks.check_frozen_trainable(650) and _said(capsys, "10")
    assert not checks.check_frozen_trainable(2565) and _said(capsys, "512")


def test_prediction_is_tolerant_and_says_how_far(capsys):
    assert checks.check_prediction(30, 27.5, "error", tolerance=5)
    assert not checks.check_prediction(40, 27.5, "error", tolerance=5) and _said(capsys, "12.5 too high")
    assert not checks.check_prediction(10, 27.5, "error", tolerance=5) and _said(capsys, "too low")
