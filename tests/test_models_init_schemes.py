"""Zero-gamma, Fixup and SkipInit: what each does at initialisation, checked against direct computations."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.models import init_schemes as I
from course_utils.models import resnet as R


def _bn_count(depth: int) -> int:
    n = (depth - 2) // 6
    return 2 * 16 + sum(2 * n * 2 * w for w in (16, 32, 64))  # stem BN + two BNs per block


def test_no_bn_nets_drop_exactly_the_bn_parameters_and_add_five_scalars_per_block():
    n_blocks = 3 * 9
    base = R.count_params(R.resnet_cifar(56)) - _bn_count(56)
    fixup = I.fixup_cifar(56)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fixup.modules())
    assert R.count_params(fixup) == base + 5 * n_blocks + 1  # 4 biases + 1 multiplier per block, stem bias
    assert R.count_params(fixup, trainable_only=True) == base + 5 * n_blocks + 1
    assert R.count_params(I.skipinit_cifar(56), trainable_only=True) == base + n_blocks  # alpha only


def test_each_block_starts_as_its_shortcut():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 8, 8).relu()
    for scheme in ("fixup", "skipinit"):
        net = I.NoBNResNet(20, scheme)
        with torch.no_grad():
            torch.testing.assert_close(net.layer1[0](x), x)  # F(x) = 0 at the start
    zg = I.zero_gamma_cifar(20)
    assert all(b.bn2.weight.abs().sum() == 0 for b in zg.modules() if isinstance(b, R.BasicBlock))
    with torch.no_grad():
        torch.testing.assert_close(zg.layer1[0].eval()(x), x)


def test_fixup_rescales_the_first_conv_by_l_to_the_minus_half():
    torch.manual_seed(0)
    fixup, none = I.fixup_cifar(56), I.no_bn_cifar(56)
    ratio = fixup.layer2[3].conv1.weight.std() / none.layer2[3].conv1.weight.std()
    assert ratio.item() == pytest.approx(27**-0.5, rel=0.1)
    assert fixup.fc.weight.abs().sum() == 0 and fixup.layer2[3].conv2.weight.abs().sum() == 0


def test_without_bn_or_a_fix_the_signal_explodes_with_depth():
    torch.manual_seed(0)
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        s20, s56 = (I.no_bn_cifar(d)(x).std().item() for d in (20, 56))
        fixed = I.skipinit_cifar(56)(x).std().item()
    assert s56 > 50 * s20  # about sqrt(2) per block: 2^(27/2) / 2^(9/2)
    assert fixed < 10


def test_unknown_scheme():
    with pytest.raises(ValueError, match="scheme"):
        I.NoBNResNet(20, "layernorm")
