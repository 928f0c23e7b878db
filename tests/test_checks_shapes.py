"""course_utils.checks.shapes (notebook 03): conv sizes, receptive fields, parameter and MAC
counts and the head, each checked against torch, torchvision or a brute-force count."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models.resnet import BasicBlock as TvBasicBlock
from torchvision.models.resnet import Bottleneck as TvBottleneck

from course_utils import checks


def _said(capsys, text: str) -> bool:
    return text in capsys.readouterr().out


def _windows(size, kernel, stride, padding, dilation):
    """Count window positions by brute force: starts that keep every tap inside the padded input."""
    return sum(
        1 for start in range(0, size + 2 * padding, stride) if start + dilation * (kernel - 1) < size + 2 * padding
    )


@pytest.mark.parametrize(
    "size,kernel,stride,padding,dilation",
    [(224, 7, 2, 3, 1), (32, 3, 2, 1, 1), (15, 3, 2, 0, 1), (9, 3, 1, 0, 2), (56, 1, 2, 0, 1)],
)
def test_check_conv_out_right_and_slips(size, kernel, stride, padding, dilation, capsys):
    truth = _windows(size, kernel, stride, padding, dilation)
    assert checks.check_conv_out(truth, size, kernel, stride, padding, dilation)
    span = dilation * (kernel - 1) + 1
    slips = {
        "add 1": (size + 2 * padding - span) // stride,
        "2p, not p": (size + padding - span) // stride + 1,
        "not 3": (size + 2 * padding - kernel) // stride + 1 if dilation > 1 else None,
    }
    seen = {truth}
    for text, wrong in slips.items():
        if wrong is not None and wrong not in seen:  # two slips can give the same number: the first names it
            assert not checks.check_conv_out(wrong, size, kernel, stride, padding, dilation)
            assert _said(capsys, text), text
        seen.add(wrong)
    assert not checks.check_conv_out(None, size, kernel)


def test_check_conv_out_names_floor_ceil_and_padding(capsys):
    assert not checks.check_conv_out((8 - 3) / 2 + 1, 8, 3, 2, 0)  # 3.5: no floor
    assert _said(capsys, "rounded down (floor)")
    assert not checks.check_conv_out(math.ceil((8 - 3) / 2) + 1, 8, 3, 2, 0)  # 4: rounded up
    assert _said(capsys, "only pooling with ceil_mode")
    assert not checks.check_conv_out(8 - 3 + 1, 8, 3, 1, 1)  # 6: padding forgotten
    assert _said(capsys, "padding on each side")


def _measured_rf(layers):
    """Receptive field by autograd: which input pixels move one central output of an all-ones stack."""
    convs = [nn.Conv2d(1, 1, k, stride=s, dilation=(d[0] if d else 1), bias=False) for k, s, *d in layers]
    for c in convs:
        nn.init.ones_(c.weight)
    x = torch.zeros(1, 1, 96, 96, requires_grad=True)
    y = nn.Sequential(*convs)(x)
    y[0, 0, y.shape[-2] // 2, y.shape[-1] // 2].backward()
    cols = (x.grad[0, 0] != 0).any(0).nonzero()
    return int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize(
    "layers", [[(3, 1)] * 3, [(3, 1), (3, 2), (3, 1)], [(7, 2), (3, 2), (3, 1), (3, 1)], [(3, 1, 2), (3, 1, 4)]]
)
def test_check_receptive_field_agrees_with_autograd(layers, capsys):
    truth = _measured_rf(layers)
    assert checks.check_receptive_field(truth, layers)
    no_jump = 1 + sum((d[0] if d else 1) * (k - 1) for k, s, *d in layers)
    if no_jump != truth:
        assert not checks.check_receptive_field(no_jump, layers)
        assert _said(capsys, "jump")
    assert not checks.check_receptive_field(None, layers)


def test_check_receptive_field_kernel_sum(capsys):
    assert not checks.check_receptive_field(6, [(3, 1), (3, 1)])
    assert _said(capsys, "5x5, not 6x6")


@pytest.mark.parametrize(
    "cin,cout,k,bias", [(64, 64, 3, False), (3, 64, 7, False), (256, 64, 1, False), (16, 10, 3, True)]
)
def test_check_conv_params(cin, cout, k, bias, capsys):
    truth = sum(p.numel() for p in nn.Conv2d(cin, cout, k, bias=bias).parameters())
    assert checks.check_conv_params(truth, cin, cout, k, bias)
    assert not checks.check_conv_params(cout * k * k + bias * cout, cin, cout, k, bias)
    assert _said(capsys, "C_in")
    if not bias:
        assert not checks.check_conv_params(truth + cout, cin, cout, k)
        assert _said(capsys, "bias=False")


def _macs(conv: nn.Conv2d, size: int) -> int:
    with FlopCounterMode(display=False) as fc:
        conv(torch.zeros(1, conv.in_channels, size, size))
    return fc.get_total_flops() // 2  # torch counts 2 FLOPs per multiply-accumulate


@pytest.mark.parametrize(
    "cin,cout,k,size,stride", [(64, 64, 3, 56, 1), (3, 64, 7, 224, 2), (256, 128, 1, 56, 2), (64, 128, 3, 56, 2)]
)
def test_check_conv_macs_agrees_with_flop_counter(cin, cout, k, size, stride, capsys):
    truth = _macs(nn.Conv2d(cin, cout, k, stride=stride, padding=(k - 1) // 2, bias=False), size)
    assert checks.check_conv_macs(truth, cin, cout, k, size, stride)
    assert not checks.check_conv_macs(2 * truth, cin, cout, k, size, stride)
    assert _said(capsys, "FLOP")
    if stride > 1:
        assert not checks.check_conv_macs(truth * stride * stride, cin, cout, k, size, stride)
        assert _said(capsys, "output")
    if k > 1:  # the same conv without its padding: fewer output positions
        unpadded = _macs(nn.Conv2d(cin, cout, k, stride=stride, bias=False), size)
        assert unpadded != truth
        assert not checks.check_conv_macs(unpadded, cin, cout, k, size, stride)
        assert _said(capsys, "padding")
    assert not checks.check_conv_macs(None, cin, cout, k, size, stride)
    assert _said(capsys, "Not answered yet")


def test_check_conv_macs_of_the_stride_2_conv_that_opens_layer2(capsys):
    # notebook 03, exercise 4: the stride-2 3x3 conv that opens ResNet-18's layer2, on its 56x56 input
    block = TvBasicBlock(64, 128, 2, nn.Sequential(nn.Conv2d(64, 128, 1, 2, bias=False), nn.BatchNorm2d(128)))
    truth = _macs(block.conv1, 56)
    assert truth == 64 * 128 * 9 * 28 * 28
    assert checks.check_conv_macs(truth, 64, 128, 3, 56, 2)
    assert not checks.check_conv_macs(64 * 128 * 9 * 56 * 56, 64, 128, 3, 56, 2)  # stride ignored
    assert _said(capsys, "not 56x56")


@pytest.mark.parametrize(
    "kind,in_planes,planes,stride",
    [
        ("basic", 64, 64, 1),
        ("basic", 64, 128, 2),
        ("bottleneck", 256, 64, 1),
        ("bottleneck", 256, 128, 2),
        ("bottleneck", 512, 128, 1),
    ],
)
def test_check_block_params_agrees_with_torchvision(kind, in_planes, planes, stride, capsys):
    cls = TvBasicBlock if kind == "basic" else TvBottleneck
    out = planes * cls.expansion
    down = (
        None
        if stride == 1 and in_planes == out
        else nn.Sequential(nn.Conv2d(in_planes, out, 1, stride, bias=False), nn.BatchNorm2d(out))
    )
    block = cls(in_planes, planes, stride, down)
    truth = sum(p.numel() for p in block.parameters())
    assert checks.check_block_params(truth, kind, in_planes, planes, stride)
    conv_only = sum(m.weight.numel() for m in block.modules() if isinstance(m, nn.Conv2d))
    assert not checks.check_block_params(conv_only, kind, in_planes, planes, stride)
    assert _said(capsys, "scale and a shift")
    bn_stats = sum(2 * m.num_features for m in block.modules() if isinstance(m, nn.BatchNorm2d))
    assert not checks.check_block_params(truth + bn_stats, kind, in_planes, planes, stride)
    assert _said(capsys, "buffers")
    if down is not None:
        assert not checks.check_block_params(
            truth - sum(p.numel() for p in down.parameters()), kind, in_planes, planes, stride
        )
        assert _said(capsys, "projection")
    else:  # a projection counted where the shape does not change
        projection = nn.Sequential(nn.Conv2d(in_planes, out, 1, bias=False), nn.BatchNorm2d(out))
        assert not checks.check_block_params(
            truth + sum(p.numel() for p in projection.parameters()), kind, in_planes, planes, stride
        )
        assert _said(capsys, "the identity")
    if kind == "bottleneck":  # conv3 and bn3 left at `planes` channels: the expansion forgotten
        thin = truth - sum(p.numel() for p in block.conv3.parameters()) - sum(p.numel() for p in block.bn3.parameters())
        thin += planes * planes + 2 * planes
        assert not checks.check_block_params(thin, kind, in_planes, planes, stride)
        assert _said(capsys, "expands")


def test_check_head(capsys):
    assert checks.check_head(lambda c, k: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, k)))
    assert not checks.check_head(lambda c, k: nn.Sequential(nn.AvgPool2d(7), nn.Flatten(), nn.Linear(c, k)))
    assert _said(capsys, "fails on a 1x1 feature map")
    assert not checks.check_head(lambda c, k: nn.Sequential(nn.Flatten(), nn.Linear(c * 49, k)))
    assert _said(capsys, "fits one input size only")
    top_left = lambda c, k: nn.Sequential(nn.AdaptiveAvgPool2d(8), nn.Flatten(), nn.Linear(64 * c, k))
    assert not checks.check_head(top_left)
    assert _said(capsys, "different answer")
    assert not checks.check_head(None)


@pytest.mark.parametrize("junk", ["BasicBlock", 3, lambda *a: 5, lambda *a: 1 / 0])
def test_check_head_never_raises_on_junk(junk, capsys):
    assert not checks.check_head(junk)
    assert "Not yet" in capsys.readouterr().out


def _pooled_linear(feats: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """The reference function, by hand: average every channel over the map, then a matrix product."""
    pooled = feats.sum((2, 3)) / (feats.shape[2] * feats.shape[3])
    return pooled @ weight.T + (0 if bias is None else bias)


@pytest.mark.parametrize("bias", [True, False])
def test_check_score_head_accepts_scores_then_average(bias, capsys):
    def make_head(c, k):
        return nn.Sequential(nn.Conv2d(c, k, 1, bias=bias), nn.AdaptiveAvgPool2d(1), nn.Flatten())

    head = make_head(512, 10).eval()
    for side in (1, 5, 7, 9):  # the same function as pool-then-Linear with the same weights, at every size
        x = torch.randn(2, 512, side, side)
        with torch.no_grad():
            assert torch.allclose(head(x), _pooled_linear(x, head[0].weight.flatten(1), head[0].bias), atol=1e-5)
    assert checks.check_score_head(make_head)
    assert _said(capsys, "Correct")


@pytest.mark.parametrize(
    "make_head,symptom",
    [
        (lambda c, k: nn.Sequential(nn.AvgPool2d(7), nn.Flatten(), nn.Linear(c, k)), "nn.Linear needs the map pooled"),
        (lambda c, k: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, k, 1), nn.Flatten()), "after the pooling"),
        (lambda c, k: nn.Sequential(nn.Conv2d(c, k, 1), nn.AdaptiveMaxPool2d(1), nn.Flatten()), "max-pooling"),
        (lambda c, k: nn.Sequential(nn.Conv2d(c, k, 1), nn.AvgPool2d(7), nn.Flatten()), "fails on a 1x1 feature map"),
        (lambda c, k: nn.Sequential(nn.Conv2d(c, k, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten()), "1x1"),
        (
            lambda c, k: nn.Sequential(nn.Conv2d(c, c, 1), nn.Conv2d(c, k, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()),
            "only layer with weights",
        ),
        (None, "Not answered yet"),
        (3, "pass the function itself"),
        (lambda *a: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_check_score_head_names_each_wrong_head(make_head, symptom, capsys):
    assert not checks.check_score_head(make_head)
    assert _said(capsys, symptom)
