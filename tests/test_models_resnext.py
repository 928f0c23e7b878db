"""ResNeXt against torchvision: parameter count, state_dict and outputs; grouped conv cost by hand."""

from __future__ import annotations

import torch
import torchvision

from course_utils.models import resnet as R
from course_utils.models import resnext as X


def test_count_matches_torchvision():
    assert sum(p.numel() for p in torchvision.models.resnext50_32x4d().parameters()) == 25_028_904
    assert R.count_params(X.resnext50_32x4d()) == 25_028_904


def test_loads_torchvision_weights_and_gives_the_same_outputs():
    tv, ours = torchvision.models.resnext50_32x4d().eval(), X.resnext50_32x4d().eval()
    with torch.no_grad():  # non-trivial BN statistics, so eval mode really uses them
        for m in tv.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 1.5)
                m.running_mean.normal_(0, 0.1)
    ours.load_state_dict(tv.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv(x))


def test_grouped_3x3_costs_one_group_th_of_a_dense_one():
    block = X.resnext_block(32, 4)(256, 64)
    assert block.conv2.groups == 32 and block.conv2.in_channels == 128  # 32 groups x 4 channels
    assert block.conv2.weight.numel() == 128 * 128 * 9 // 32
    assert block(torch.randn(2, 256, 8, 8)).shape == (2, 256, 8, 8)
