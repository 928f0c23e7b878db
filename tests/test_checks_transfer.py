"""course_utils.checks.transfer (notebook 08): each truth against torchvision, torch or a hand count; each slip."""

from __future__ import annotations

import pytest

from course_utils import checks, models, transfer


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


# layer3 of the CIFAR ResNet-20, counted by hand: block 1 takes 32 channels to 64, blocks 2-3 stay at 64;
# six BNs with a gamma and a beta per channel; option A's shortcut has no parameters; head Linear(64, 5)
LAYER3_CONVS = 32 * 64 * 9 + 64 * 64 * 9 + 2 * 2 * 64 * 64 * 9
LAYER3_BN = 6 * 2 * 64
HEAD5 = 64 * 5 + 5


def test_a_stage_that_learns_with_the_head():
    truth = LAYER3_CONVS + LAYER3_BN + HEAD5
    assert truth == 203_845
    net = transfer.replace_head(models.resnet_cifar(20, num_classes=5), 5)  # counted with torch, independently
    n = sum(p.numel() for name, p in net.named_parameters() if name.startswith(("layer3.", "fc.")))
    assert n == truth
    assert checks.check_frozen_trainable(truth, num_classes=5, unfrozen=("layer3",))
    assert checks.check_frozen_trainable(truth - HEAD5 + 64 * 3 + 3, num_classes=3, unfrozen=("layer3",))
    both = sum(p.numel() for name, p in net.named_parameters() if name.startswith(("layer2.", "layer3.", "fc.")))
    assert checks.check_frozen_trainable(both, num_classes=5, unfrozen=("layer2", "layer3"))
    assert not checks.check_frozen_trainable(truth + 1, num_classes=5, unfrozen=("layer3",))


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (LAYER3_CONVS + LAYER3_BN, "head learns too"),
        (LAYER3_CONVS + LAYER3_BN + 64 * 5, "bias"),
        (LAYER3_CONVS + HEAD5, "γ and β"),
        (LAYER3_CONVS + LAYER3_BN + HEAD5 + 6 * 2 * 64, "buffers"),  # running mean and variance counted
        (HEAD5, "frozen backbone of section 2"),
        (269_397, "every parameter"),
        (LAYER3_CONVS + LAYER3_BN + HEAD5 + 32 * 64 + 2 * 64, "option A"),  # a 1x1 projection + BN counted
        (3 * 2 * 64 * 64 * 9 + LAYER3_BN + HEAD5, "previous stage's channels"),  # block 1 counted as 64 -> 64
        (None, "Not answered"),
        ("many", "number"),
    ],
)
def test_the_stage_slips(answer, says, capsys):
    assert not checks.check_frozen_trainable(answer, num_classes=5, unfrozen=("layer3",))
    assert _said(capsys, says)


def test_prediction_is_tolerant_and_says_how_far(capsys):
    assert checks.check_prediction(30, 27.5, "error", tolerance=5)
    assert not checks.check_prediction(40, 27.5, "error", tolerance=5) and _said(capsys, "12.5 too high")
    assert not checks.check_prediction(10, 27.5, "error", tolerance=5) and _said(capsys, "too low")


def test_the_prediction_of_exercise_4_is_shown_only_after_the_guess(capsys):
    checks.forget_guesses()
    check = lambda g: checks.check_prediction(g, 27.5, "error", tolerance=5)
    assert not checks.reveal("25 labels", "MEASURED 27.5%", check)
    assert "MEASURED" not in capsys.readouterr().out
    assert checks.predict("25 labels", 30)
    assert checks.reveal("25 labels", "MEASURED 27.5%", check) and _said(capsys, "MEASURED 27.5%")
    checks.forget_guesses()
