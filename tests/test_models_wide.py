"""Wide ResNets against the paper's parameter counts (Zagoruyko & Komodakis 2016) and a hand count."""

from __future__ import annotations

import pytest
import torch

from course_utils.models import resnet as R
from course_utils.models import wide as W


def wrn_count(depth: int, k: int, num_classes: int = 10) -> int:
    """WRN-d-k's parameters written out: stem, pre-act blocks, 1x1 projections, final BN, fc."""
    n, total, w_in = (depth - 4) // 6, 3 * 16 * 9, 16
    for w in (16 * k, 32 * k, 64 * k):
        for _ in range(n):
            total += 2 * w_in + w_in * w * 9 + 2 * w + w * w * 9  # bn1, conv1, bn2, conv2
            total += w_in * w if w_in != w else 0  # projection where the width changes
            w_in = w
    return total + 2 * w_in + w_in * num_classes + num_classes


@pytest.mark.parametrize(("depth", "k", "paper_millions"), [(16, 8, 11.0), (28, 10, 36.5), (40, 4, 8.9), (16, 4, 2.7)])
def test_counts_match_the_paper(depth, k, paper_millions):
    n = R.count_params(W.wide_resnet(depth, k))
    assert n == wrn_count(depth, k)
    assert round(n / 1e6, 1) == paper_millions


def test_forward_shape_and_bad_depth():
    assert W.wide_resnet(10, 1, num_classes=3)(torch.zeros(2, 3, 32, 32)).shape == (2, 3)
    with pytest.raises(ValueError, match="6n\\+4"):
        W.wide_resnet(20, 2)
