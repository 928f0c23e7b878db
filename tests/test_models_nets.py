"""course_utils.models.nets: the stage builder's shortcuts, the initialisation, the stems, re-exported by resnet."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils import blocks
from course_utils.models import nets, resnet


def test_the_builders_module_re_exports_the_classes():
    assert resnet.CifarResNet is nets.CifarResNet and resnet.ResNet is nets.ResNet
    assert isinstance(resnet.resnet_cifar(20), nets.CifarResNet) and isinstance(resnet.resnet18(), nets.ResNet)


@pytest.mark.parametrize(
    "shortcut,kind", [("A", blocks.ShortcutA), ("B", nn.Sequential), (None, type(None))], ids=["A", "B", "none"]
)
def test_make_layer_puts_a_shortcut_only_where_the_shape_changes(shortcut, kind):
    net = nets.CifarResNet(blocks.BasicBlock, [2, 2, 2], shortcut=shortcut, residual=shortcut is not None)
    assert [type(s[0].downsample) for s in (net.layer1, net.layer2, net.layer3)] == [type(None), kind, kind]
    assert all(b.downsample is None for s in (net.layer1, net.layer2, net.layer3) for b in list(s)[1:])
    assert len(net.layer2) == 2 and net.layer2[0].conv1.stride == (2, 2) and net.layer2[1].conv1.stride == (1, 1)


def test_preact_projection_is_a_bare_conv_and_a_final_bn_relu():
    net = nets.CifarResNet(blocks.PreActBlock, [1, 1, 1], shortcut="B")
    assert isinstance(net.layer2[0].downsample, nn.Conv2d) and not hasattr(net, "bn1") and hasattr(net, "bn")
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_init_and_zero_init_residual():
    net = nets.ResNet(blocks.Bottleneck, [1, 1, 1, 1], num_classes=7, zero_init_residual=True)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.equal(m.bias, torch.zeros_like(m.bias)) for m in bns)
    last = {id(b.bn3) for b in net.modules() if isinstance(b, blocks.Bottleneck)}
    assert all(torch.all(m.weight == (0.0 if id(m) in last else 1.0)) for m in bns)
    conv = net.layer1[0].conv2  # kaiming normal, fan_out: std sqrt(2 / (64 * 9))
    assert conv.weight.std().item() == pytest.approx((2 / (64 * 9)) ** 0.5, rel=0.1)


@pytest.mark.parametrize("small_input,side", [(False, 2), (True, 8)])
def test_imagenet_stem_or_small_input_stem(small_input, side):
    net = nets.ResNet(blocks.BasicBlock, [1, 1, 1, 1], num_classes=5, small_input=small_input).eval()
    seen = []
    net.layer4.register_forward_hook(lambda m, a, o: seen.append(tuple(o.shape)))
    with torch.no_grad():
        assert net(torch.zeros(1, 3, 64, 64)).shape == (1, 5)
    assert seen == [(1, 512, side, side)]  # 64 / 32 with the 7x7/2 stem and max-pool; 64 / 8 without
