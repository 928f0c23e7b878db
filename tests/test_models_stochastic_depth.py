"""Stochastic depth against the paper's rule and a second, direct computation of the block."""

from __future__ import annotations

import pytest
import torch

from course_utils.models import resnet as R
from course_utils.models import stochastic_depth as S


def test_linear_decay_rule():
    p = S.linear_decay(54, 0.5)  # ResNet-110: 54 blocks, p_L = 0.5 (Huang et al. 2016)
    assert p[-1] == pytest.approx(0.5) and p[0] == pytest.approx(1 - 0.5 / 54)
    assert sum(p) == pytest.approx(54 - 0.5 * 55 / 2)  # expected depth: about 3/4 of the blocks run


def test_same_parameters_and_eval_is_the_scaled_sum():
    torch.manual_seed(0)
    net = S.stochastic_depth_cifar(20, p_last=0.5)
    assert R.count_params(net) == R.count_params(R.resnet_cifar(20))
    sd = net.layer2[1].eval()
    b, x = sd.block, torch.randn(2, 32, 8, 8)
    with torch.no_grad():
        branch = b.bn2(b.conv2(torch.relu(b.bn1(b.conv1(x)))))
        torch.testing.assert_close(sd(x), torch.relu(x + sd.survival * branch))


def test_training_keeps_or_drops_the_whole_branch():
    torch.manual_seed(0)
    block = R.BasicBlock(16, 16)
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        full = block.train()(x.clone())
        torch.testing.assert_close(S.StochasticDepthBlock(block, 1.0).train()(x.clone()), full)
        torch.testing.assert_close(S.StochasticDepthBlock(block, 0.0).train()(x.clone()), torch.relu(x))
        sd = S.StochasticDepthBlock(block, 0.3).train()
        kept = sum(not torch.equal(sd(x.clone()), torch.relu(x)) for _ in range(400))
    assert 90 < kept < 150  # Binomial(400, 0.3): mean 120, sd 9


def test_refuses_plain_blocks_and_bad_probabilities():
    with pytest.raises(ValueError, match="plain"):
        S.StochasticDepthBlock(R.BasicBlock(16, 16, residual=False), 0.5)
    with pytest.raises(ValueError, match="survival"):
        S.StochasticDepthBlock(R.BasicBlock(16, 16), 1.5)
