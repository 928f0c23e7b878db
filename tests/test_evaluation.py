"""course_utils.evaluation: eval mode, top-1 error, predictions and confusion matrices, each
checked against a count written out by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_utils import evaluation

N, CLASSES = 11, 5


def _tiny_net(seed: int = 0) -> nn.Module:
    """(B, 3, 2, 2) -> (B, 5), with a BN whose running statistics differ from any batch's."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 2 * 2, CLASSES))
    with torch.no_grad():
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
    return net


def _normalize(u: torch.Tensor) -> torch.Tensor:
    return (u.float() - 128) / 64


def _hand_predictions(net: nn.Module, x: torch.Tensor) -> list[int]:
    """argmax of the eval-mode logits, one image at a time."""
    net.eval()
    with torch.no_grad():
        return [int(net(x[i : i + 1])[0].argmax()) for i in range(len(x))]


def _labels_with_mistakes(preds: list[int], wrong_at: set[int]) -> torch.Tensor:
    """Labels that agree with ``preds`` except at the indices ``wrong_at``."""
    return torch.tensor([(p + 1) % CLASSES if i in wrong_at else p for i, p in enumerate(preds)])


@pytest.mark.parametrize("batch_size", [1, 4, 1000])
def test_error_percent_float_inputs_matches_a_hand_count(batch_size):
    net = _tiny_net()
    x = torch.randn(N, 3, 2, 2, generator=torch.Generator().manual_seed(1))
    wrong_at = {0, 3, 4, 10}
    labels = _labels_with_mistakes(_hand_predictions(net, x), wrong_at)
    net.train()  # error_percent must use eval mode (BN running stats) and give the flag back
    err = evaluation.error_percent(net, x, labels, batch_size=batch_size)
    assert err == pytest.approx(100.0 * len(wrong_at) / N)
    assert net.training
    assert evaluation.error_percent(net, x, labels, batch_size=batch_size, device="cpu") == err


def test_error_percent_uint8_with_normalizer_matches_a_hand_count():
    net = _tiny_net(2)
    images = torch.randint(0, 256, (N, 3, 2, 2), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    wrong_at = {1, 2, 5, 6, 7, 9}
    labels = _labels_with_mistakes(_hand_predictions(net, _normalize(images)), wrong_at)
    assert evaluation.error_percent(net, images, labels, normalizer=_normalize, batch_size=3) == pytest.approx(
        100.0 * len(wrong_at) / N
    )
    # the same images, normalised beforehand, take the float path to the same answer
    assert evaluation.error_percent(net, _normalize(images), labels) == pytest.approx(100.0 * len(wrong_at) / N)


def test_error_percent_bad_input():
    net = _tiny_net()
    images = torch.zeros(4, 3, 2, 2, dtype=torch.uint8)
    with pytest.raises(ValueError, match="normalizer"):
        evaluation.error_percent(net, images, torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError, match="3 images, 2 labels"):
        evaluation.error_percent(net, torch.zeros(3, 3, 2, 2), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="> 0"):
        evaluation.error_percent(net, torch.zeros(0, 3, 2, 2), torch.zeros(0, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        evaluation.error_percent(net, torch.zeros(3, 2, 2), torch.zeros(3, dtype=torch.int64))


def test_evaluating_restores_train_mode_even_after_an_exception():
    net = _tiny_net()
    net.train()
    with pytest.raises(RuntimeError, match="inside"):
        with evaluation.evaluating(net) as m:
            assert m is net
            assert not net.training and not net[1].training  # every submodule in eval mode
            assert not torch.is_grad_enabled()
            assert not net(torch.zeros(1, 3, 2, 2)).requires_grad
            raise RuntimeError("inside")
    assert net.training and net[1].training
    assert torch.is_grad_enabled()
    net.eval()
    with evaluation.evaluating(net):
        pass
    assert not net.training  # an eval-mode model stays in eval mode


def test_predict_shape_dtype_and_argmax():
    net = _tiny_net().double()  # float64 weights: predict still returns float32 logits
    x = torch.randn(N, 3, 2, 2, dtype=torch.float64)
    logits = evaluation.predict(net, x, batch_size=4)
    assert logits.shape == (N, CLASSES)
    assert logits.dtype == torch.float32 and logits.device.type == "cpu"
    assert logits.argmax(1).tolist() == _hand_predictions(net, x)
    u8 = torch.randint(0, 256, (N, 3, 2, 2), dtype=torch.uint8)
    assert evaluation.predict(_tiny_net(), u8, normalizer=_normalize).shape == (N, CLASSES)


def test_confusion_matrix_and_per_class_error_match_a_manual_count():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (200,), generator=g)  # class 4 never occurs
    preds = torch.where(torch.rand(200, generator=g) < 0.7, labels, torch.randint(0, 5, (200,), generator=g))
    cm = evaluation.confusion_matrix(preds, labels, num_classes=5)
    manual = [[0] * 5 for _ in range(5)]
    for p, t in zip(preds.tolist(), labels.tolist(), strict=True):
        manual[t][p] += 1  # row = true class, column = predicted class
    assert cm.dtype == torch.int64 and cm.tolist() == manual
    err = evaluation.per_class_error(cm)
    assert err.shape == (5,)
    for c in range(4):
        total = sum(1 for t in labels.tolist() if t == c)
        wrong = sum(1 for p, t in zip(preds.tolist(), labels.tolist(), strict=True) if t == c and p != c)
        assert err[c].item() == pytest.approx(100.0 * wrong / total)
    assert math.isnan(err[4].item())  # an absent class has no error rate
    # shapes are flattened: (N, 1) predictions against (N,) labels count the same
    assert torch.equal(evaluation.confusion_matrix(preds[:, None], labels, num_classes=5), cm)
    with pytest.raises(ValueError, match="differ in length"):
        evaluation.confusion_matrix(preds[:-1], labels, num_classes=5)
