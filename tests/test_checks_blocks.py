"""course_utils.checks.blocks (notebook 04): the code checks accept torchvision's and
fresh implementations and name each planted bug; the counts agree with torchvision."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock as TvBasicBlock
from torchvision.models.resnet import Bottleneck as TvBottleneck

from course_utils import checks, models
from course_utils.checks import blocks


def _said(capsys, text: str) -> bool:
    return text in capsys.readouterr().out


@pytest.mark.parametrize(
    "name,blocks,bottleneck",
    [
        ("resnet18", (2, 2, 2, 2), False),
        ("resnet34", (3, 4, 6, 3), False),
        ("resnet50", (3, 4, 6, 3), True),
        ("resnet101", (3, 4, 23, 3), True),
        ("resnet152", (3, 8, 36, 3), True),
    ],
)
def test_check_layer_count_agrees_with_torchvision(name, blocks, bottleneck, capsys):
    net = getattr(torchvision.models, name)()  # count the weighted layers of the real thing
    layers = [n for n, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    main_path = [n for n in layers if "downsample" not in n]
    assert checks.check_layer_count(len(main_path), blocks, bottleneck)
    assert str(len(main_path)) in name
    assert not checks.check_layer_count(len(layers), blocks, bottleneck)
    assert _said(capsys, "not counted")
    assert not checks.check_layer_count(len(main_path) - 2, blocks, bottleneck)
    assert _said(capsys, "+2")


@pytest.mark.parametrize("depth", [20, 56])
def test_check_projection_params(depth, capsys):
    net = models.resnet_cifar(depth, shortcut="B")
    option_b = sum(p.numel() for n, p in net.named_parameters() if ".downsample." in n)
    identity_blocks = [b for b in net.modules() if isinstance(b, models.BasicBlock) and b.downsample is None]
    option_c = option_b + sum(b.bn2.num_features**2 + 2 * b.bn2.num_features for b in identity_blocks)
    assert checks.check_projection_params(option_b, depth, "B")
    assert checks.check_projection_params(option_c, depth, "C")
    assert not checks.check_projection_params(option_b, depth, "C")
    assert _said(capsys, "every block")
    assert not checks.check_projection_params(16 * 32 + 32 * 64, depth, "B")
    assert _said(capsys, "*and* a BN")
    with pytest.raises(ValueError):
        checks.check_projection_params(0, depth, "A")


def _tv_layer2_shapes(stride_on):
    block = torchvision.models.resnet50().layer2[0]  # torchvision: stride on the 3x3 (v1.5)
    if stride_on == "1x1":  # move the stride to the first 1x1, as in the original Caffe model
        block.conv1.stride, block.conv2.stride = (2, 2), (1, 1)
    seen = []
    for c in (block.conv1, block.conv2, block.conv3):
        c.register_forward_hook(lambda m, a, o: seen.append(tuple(o.shape[1:])))
    with torch.no_grad():
        block(torch.zeros(1, 256, 56, 56))
    return seen


@pytest.mark.parametrize("stride_on", ["1x1", "3x3"])
def test_check_stride_shapes_agrees_with_torchvision(stride_on, capsys):
    truth, other = _tv_layer2_shapes(stride_on), _tv_layer2_shapes("3x3" if stride_on == "1x1" else "1x1")
    assert truth != other
    assert checks.check_stride_shapes(truth, stride_on)
    assert checks.check_stride_shapes([list(s) for s in truth], stride_on)
    assert not checks.check_stride_shapes(other, stride_on)
    assert _said(capsys, "those are the shapes")
    assert not checks.check_stride_shapes(None, stride_on)


def _block(pad=1, conv2_on_input=False, name="expansion", final_relu=True):
    """A basic block written from scratch, with one switchable bug at a time."""

    class Block(nn.Module):
        def __init__(self, in_planes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, padding=pad, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(x if conv2_on_input else out))
            out = out + (x if self.downsample is None else self.downsample(x))
            return torch.relu(out) if final_relu else out

    setattr(Block, name, 1)
    return Block


def test_check_block_accepts_torchvision_and_a_fresh_block(capsys):
    assert checks.check_block(TvBasicBlock)
    assert checks.check_block(_block())
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize(
    "bug,text",
    [
        (dict(pad=0), "padding=1"),
        (dict(conv2_on_input=True), "does not depend on conv1"),
        (dict(name="expension"), "`expension`: a typo?"),
        (dict(final_relu=False), "ReLU after the addition"),
    ],
)
def test_check_block_names_each_bug(bug, text, capsys):
    assert not checks.check_block(_block(**bug))
    assert text in capsys.readouterr().out


def test_check_block_with_wrong_names_or_sizes(capsys):
    class Renamed(TvBasicBlock):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.c1 = self.conv1
            del self.conv1

    assert not checks.check_block(Renamed)
    assert "names differ" in capsys.readouterr().out
    assert not checks.check_block(lambda *a: TvBottleneck(*a))
    assert "parameters instead of" in capsys.readouterr().out
    assert not checks.check_block(None)


def _stage(block, in_planes, planes, blocks, stride=1, loop=None, attr="expansion", stride_everywhere=False):
    out = planes * getattr(block, attr)
    down = None
    if stride != 1 or in_planes != out:
        down = nn.Sequential(nn.Conv2d(in_planes, out, 1, stride, bias=False), nn.BatchNorm2d(out))
    layers = [block(in_planes, planes, stride, down)]
    for _ in (loop or range)(1, blocks):
        layers.append(
            block(
                out,
                planes,
                stride if stride_everywhere else 1,
                (
                    nn.Sequential(nn.Conv2d(out, out, 1, stride, bias=False), nn.BatchNorm2d(out))
                    if stride_everywhere and stride > 1
                    else None
                ),
            )
        )
    return nn.Sequential(*layers)


def test_check_make_stage(capsys):
    assert checks.check_make_stage(_stage)
    assert not checks.check_make_stage(lambda *a: _stage(*a, loop=lambda a, b: (a, b)))
    out = capsys.readouterr().out
    assert "range(1, blocks)" in out and "has 3 blocks" not in out
    assert not checks.check_make_stage(lambda *a: _stage(*a, attr="expension"))
    assert "spell it `expansion`" in capsys.readouterr().out
    assert not checks.check_make_stage(lambda *a: _stage(*a, stride_everywhere=True))
    assert "parameters, expected" in capsys.readouterr().out
    assert not checks.check_make_stage(None)


def _cifar_net(pool=None, n=3):
    """A CIFAR ResNet-(6n+2), option B, written from scratch on torchvision's BasicBlock."""
    net = nn.Module()
    net.conv1, net.bn1 = nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
    net.layer1, net.layer2, net.layer3 = (
        _stage(TvBasicBlock, 16, 16, n),
        _stage(TvBasicBlock, 16, 32, n, 2),
        _stage(TvBasicBlock, 32, 64, n, 2),
    )
    net.avgpool, net.fc = pool or nn.AdaptiveAvgPool2d(1), nn.Linear(64, 10)
    net.forward = lambda x: net.fc(
        torch.flatten(net.avgpool(net.layer3(net.layer2(net.layer1(torch.relu(net.bn1(net.conv1(x))))))), 1)
    )
    return net


def test_check_cifar_resnet(capsys):
    assert checks.check_cifar_resnet(_cifar_net)
    assert not checks.check_cifar_resnet(lambda: _cifar_net(nn.AvgPool2d(4)))
    out = capsys.readouterr().out
    assert "turns the last 8x8 map into 2x2" in out and "mat1 and mat2" in out
    assert not checks.check_cifar_resnet(lambda: _cifar_net(nn.AvgPool2d(8)))  # right at 32x32 only
    assert "16x16 map into 2x2" in capsys.readouterr().out
    assert not checks.check_cifar_resnet(lambda: _cifar_net(n=2))
    assert "parameters instead of" in capsys.readouterr().out
    assert not checks.check_cifar_resnet(lambda: 1 / 0)
    assert not checks.check_cifar_resnet(None)


@pytest.mark.parametrize("check", ["check_block", "check_make_stage", "check_cifar_resnet"])
@pytest.mark.parametrize("junk", ["BasicBlock", 3, lambda *a: 5, lambda *a: 1 / 0])
def test_code_checks_never_raise_on_junk(check, junk, capsys):
    assert not getattr(checks, check)(junk)
    assert "Not yet" in capsys.readouterr().out


@pytest.mark.parametrize("junk", [[128, 28, 28], "128x28x28", 512, [(128, 28)]])
def test_check_stride_shapes_never_raises(junk):
    assert not checks.check_stride_shapes(junk, "1x1")


def test_every_blocks_check_is_reexported():
    assert blocks.__all__ and all(getattr(checks, n) is getattr(blocks, n) for n in blocks.__all__)
