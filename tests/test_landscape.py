"""course_utils.analysis.landscape (notebook 07): filter-normalised directions and loss
landscapes, checked against perturbed deep copies of the network."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from course_utils import analysis, evaluation
from tests.fakes import small_data, small_net


@pytest.mark.parametrize("kind", ["resnet", "plain"])
def test_filter_normalized_direction(kind):
    net = small_net(kind)
    d = analysis.filter_normalized_direction(net, seed=3)
    params = list(net.parameters())
    assert [t.shape for t in d] == [p.shape for p in params]
    n_filters = 0
    for p, t in zip(params, d, strict=True):
        if p.dim() == 1:  # BN weights and biases, the fc bias
            assert not t.any()
            continue
        for w_f, d_f in zip(p.detach(), t, strict=True):  # one filter (conv output channel / linear row)
            assert d_f.norm().item() == pytest.approx(w_f.norm().item(), rel=1e-5)
            n_filters += 1
    assert n_filters == 16 * (1 + 4) + 32 * 4 + 64 * 4 + 10  # conv output channels + fc rows
    again = analysis.filter_normalized_direction(net, seed=3)
    other = analysis.filter_normalized_direction(net, seed=4)
    assert all(torch.equal(a, b) for a, b in zip(d, again, strict=True))
    assert not torch.equal(d[0], other[0])


def _loss_at(net, x, y, coeffs_dirs) -> float:
    """Cross-entropy of a perturbed deep copy: an independent second implementation."""
    net2 = copy.deepcopy(net).eval()
    with torch.no_grad():
        for i, p in enumerate(net2.parameters()):
            for c, d in coeffs_dirs:
                p += c * d[i]
        return F.cross_entropy(net2(x), y).item()


@pytest.mark.parametrize("kind", ["resnet", "plain"])
def test_landscape_1d(kind):
    net = small_net(kind)
    x, y = small_data(12)
    before = copy.deepcopy(net.state_dict())
    out = analysis.loss_landscape_1d(net, x, y, steps=5, span=0.5, seed=7, batch_size=5)
    assert out["alphas"].tolist() == pytest.approx([-0.5, -0.25, 0.0, 0.25, 0.5])
    with torch.no_grad():
        own = F.cross_entropy(net(x), y).item()
    assert out["loss"][2].item() == pytest.approx(own, rel=1e-5)  # alpha = 0: the model itself
    assert out["error"][2].item() == pytest.approx(evaluation.error_percent(net, x, y))
    d = analysis.filter_normalized_direction(net, seed=7)
    assert out["loss"][4].item() == pytest.approx(_loss_at(net, x, y, [(0.5, d)]), rel=1e-4)
    assert out["loss"][0].item() == pytest.approx(_loss_at(net, x, y, [(-0.5, d)]), rel=1e-4)
    assert all(torch.equal(a, b) for a, b in zip(before.values(), net.state_dict().values(), strict=True))


def test_landscape_2d_grid_orientation():
    net = small_net("resnet")
    x, y = small_data(12)
    out = analysis.loss_landscape_2d(net, x, y, steps=3, span=0.4, seed=2)
    assert out["loss"].shape == out["error"].shape == (3, 3)
    with torch.no_grad():
        own = F.cross_entropy(net(x), y).item()
    assert out["loss"][1, 1].item() == pytest.approx(own, rel=1e-5)
    d1 = analysis.filter_normalized_direction(net, seed=2)
    d2 = analysis.filter_normalized_direction(net, seed=3)
    # [b, a] is the point (alphas[a], betas[b]): row 0 = beta -0.4, column 2 = alpha +0.4
    assert out["loss"][0, 2].item() == pytest.approx(_loss_at(net, x, y, [(0.4, d1), (-0.4, d2)]), rel=1e-4)
    assert out["loss"][2, 0].item() == pytest.approx(_loss_at(net, x, y, [(-0.4, d1), (0.4, d2)]), rel=1e-4)


def test_landscape_bad_arguments():
    net, (x, y) = small_net("resnet"), small_data(4)
    with pytest.raises(ValueError):
        analysis.loss_landscape_1d(net, x, y, steps=1)
    with pytest.raises(ValueError):
        analysis.loss_landscape_2d(net, x, y, span=0)
