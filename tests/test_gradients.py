"""course_utils.analysis.gradients (notebooks 01-02): shattered gradients, gradient flow, toy MLPs.

Every test checks against an independent computation: a closed form, numpy, finite differences.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import analysis


def test_toy_mlp_counts_layers_like_the_cifar_nets():
    for depth in (2, 8, 50):
        for preact in (False, True):
            net = analysis.toy_mlp(depth, 16, residual=True, preact=preact, in_features=2, out_features=3)
            assert sum(isinstance(m, nn.Linear) for m in net.modules()) == depth
            assert len(net.blocks) == (depth - 2) // 2
            assert net(torch.randn(5, 2)).shape == (5, 3)
    for bad in (0, 1, 7):
        with pytest.raises(ValueError, match="even"):
            analysis.toy_mlp(bad, residual=False)


def test_mlp_block_residual_vs_plain():
    torch.manual_seed(0)
    x = torch.randn(8, 6)
    for preact in (False, True):
        res = analysis.MLPBlock(6, residual=True, preact=preact)
        plain = analysis.MLPBlock(6, residual=False, preact=preact)
        plain.load_state_dict(res.state_dict())  # same layers, same weights
        # the residual block is the plain block plus the shortcut
        if preact:
            assert torch.allclose(res(x), plain(x) + x)
        else:
            inner = res.bn2(res.fc2(torch.relu(res.bn1(res.fc1(x)))))
            assert torch.allclose(res(x), torch.relu(inner + x))
            assert torch.allclose(plain(x), torch.relu(inner))


def test_two_spirals_geometry():
    x, y = analysis.two_spirals(500, turns=1.5, seed=3)
    assert x.shape == (500, 2) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert set(y.tolist()) == {0, 1}
    r = x.norm(dim=1)
    assert r.max() < 1 and r.min() > 0
    # along each spiral the angle grows with the radius: unwrap it and check the slope
    t_max = 1.5 * 2 * math.pi + 0.5
    for cls in (0, 1):
        pts, rad = x[y == cls].double(), r[y == cls].double()
        t = rad * t_max  # the angle parameter, recovered from the radius
        rebuilt = torch.stack([rad * torch.cos(t + math.pi * cls), rad * torch.sin(t + math.pi * cls)], 1)
        assert torch.allclose(rebuilt, pts, atol=1e-5)
    again, _ = analysis.two_spirals(500, turns=1.5, seed=3)
    assert torch.equal(again, x)
    noisy, _ = analysis.two_spirals(500, turns=1.5, noise=0.1, seed=3)
    assert 0.05 < (noisy - x).std() < 0.15
    with pytest.raises(ValueError):
        analysis.two_spirals(0)


def test_grad_norms_per_layer_matches_the_closed_form():
    # one linear layer + cross-entropy: dL/dW = (softmax(z) - onehot(y))^T x / B
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 3, bias=False))
    x, y = torch.randn(7, 5, dtype=torch.float64), torch.randint(0, 3, (7,))
    model.double()
    p = torch.softmax(x @ model[0].weight.detach().T, 1)
    grad = (p - nn.functional.one_hot(y, 3).double()).T @ x / 7
    [(name, norm)] = analysis.grad_norms_per_layer(model, x, y)
    assert name == "0.weight"
    assert norm == pytest.approx(grad.norm().item(), rel=1e-10)
    assert model[0].weight.grad is None  # .grad untouched


def test_grad_norms_per_layer_order_and_errors():
    net = analysis.toy_mlp(6, 8, residual=True, in_features=3, out_features=4)
    out = analysis.grad_norms_per_layer(net, torch.randn(10, 3), torch.randint(0, 4, (10,)))
    assert [n for n, _ in out] == [
        "stem.0.weight",
        "blocks.0.fc1.weight",
        "blocks.0.fc2.weight",
        "blocks.1.fc1.weight",
        "blocks.1.fc2.weight",
        "head.weight",
    ]
    assert all(v > 0 for _, v in out)
    with pytest.raises(ValueError, match="no Conv or Linear"):
        analysis.grad_norms_per_layer(nn.Sequential(nn.ReLU()), torch.randn(2, 3), torch.zeros(2))


def test_grad_norms_during_training_matches_hand_written_sgd():
    # the same 3 steps written out with autograd on plain tensors and the SGD update by hand
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).double()
    params = [p.detach().clone() for p in net.parameters()]  # w1, b1, w2, b2
    gen = torch.Generator().manual_seed(1)
    batches = [
        (torch.randn(8, 4, generator=gen, dtype=torch.float64), torch.randint(0, 3, (8,), generator=gen))
        for _ in range(3)
    ]
    lr, mom, wd = 0.3, 0.9, 1e-2
    want, want_w, want_loss, bufs = [], [], [], [None] * 4
    for x, y in batches:
        ps = [p.requires_grad_(True) for p in params]
        loss = nn.functional.cross_entropy(torch.relu(x @ ps[0].T + ps[1]) @ ps[2].T + ps[3], y)
        grads = torch.autograd.grad(loss, ps)
        want.append([grads[0].norm().item(), grads[2].norm().item()])
        want_w.append([ps[0].norm().item(), ps[2].norm().item()])
        want_loss.append(loss.item())
        with torch.no_grad():
            for i, (p, g) in enumerate(zip(ps, grads, strict=True)):
                d = g + wd * p
                bufs[i] = d.clone() if bufs[i] is None else mom * bufs[i] + d
                params[i] = (p - lr * bufs[i]).detach()
    got = analysis.grad_norms_during_training(net, batches, lr=lr, momentum=mom, weight_decay=wd)
    assert got["names"] == ["0.weight", "2.weight"] and got["step"] == [0, 1, 2]
    assert got["norms"].shape == (3, 2)
    np.testing.assert_allclose(got["norms"], want, rtol=1e-10)
    np.testing.assert_allclose(got["weights"], want_w, rtol=1e-10)
    np.testing.assert_allclose(got["loss"], want_loss, rtol=1e-10)
    assert not np.allclose(got["norms"][0], got["norms"][2])  # the net did train between the records
    for p, q in zip(net.parameters(), params, strict=True):  # trained in place, to the same weights
        assert torch.allclose(p, q, rtol=1e-10)
    with pytest.raises(ValueError, match="no batches"):
        analysis.grad_norms_during_training(net, [])


def test_grad_norms_during_training_first_record_is_grad_norms_per_layer():
    torch.manual_seed(0)
    net = analysis.toy_mlp(8, 16, residual=False, in_features=3, out_features=4)
    x, y = torch.randn(32, 3), torch.randint(0, 4, (32,))
    before = analysis.grad_norms_per_layer(net.train(), x, y)
    got = analysis.grad_norms_during_training(net, [(x, y)] * 2)
    assert got["names"] == [n for n, _ in before]
    np.testing.assert_allclose(got["norms"][0], [v for _, v in before], rtol=1e-5)


def test_calibrate_batchnorm_uses_the_batch_statistics():
    torch.manual_seed(0)
    net = analysis.toy_mlp(4, 8, residual=True, in_features=3)
    x = torch.randn(32, 3) * 3 + 1
    analysis.calibrate_batchnorm(net, x)
    assert not net.training
    h = net.stem[0](x)
    bn = net.stem[1]
    assert torch.allclose(bn.running_mean, h.mean(0), atol=1e-5)
    assert torch.allclose(bn.running_var, h.var(0, unbiased=True), rtol=1e-4)
    assert bn.momentum == 0.1  # restored
    assert torch.allclose(net(x)[3:4], net(x[3:4]))  # rows independent after calibration


class _Sine(nn.Module):
    """f(x) = sin(a x): the derivative a cos(a x) is known in closed form."""

    def __init__(self, a: float) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a))

    def forward(self, x):
        return torch.sin(self.a * x)


def test_input_gradient_sweep_closed_form_and_finite_differences():
    xs, g = analysis.input_gradient_sweep(_Sine(3.0), n_points=101, lo=-1.0, hi=1.0)
    assert xs.shape == g.shape == (101,)
    assert torch.allclose(xs, torch.linspace(-1, 1, 101))
    assert torch.allclose(g, 3.0 * torch.cos(3.0 * xs), atol=1e-5)
    # a BN MLP, in float64: compare with central differences of the calibrated (eval) model
    torch.manual_seed(0)
    net = analysis.toy_mlp(10, 16, residual=False).double()
    xs, g = analysis.input_gradient_sweep(net, n_points=64)
    h = 1e-6
    with torch.no_grad():
        fd = (net(xs.double()[:, None] + h) - net(xs.double()[:, None] - h)).squeeze(1) / (2 * h)
    assert torch.allclose(g, fd, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="map"):
        analysis.input_gradient_sweep(analysis.toy_mlp(4, 8, residual=True, out_features=2))


def test_autocorrelation_matches_numpy():
    rng = np.random.default_rng(0)
    g = rng.standard_normal(300).cumsum()
    c = np.correlate(g - g.mean(), g - g.mean(), mode="full")[g.size - 1 :]
    np.testing.assert_allclose(analysis.autocorrelation(g), c / c[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(analysis.autocorrelation(torch.tensor(g), max_lag=5), (c / c[0])[:6], rtol=1e-10)
    white = analysis.autocorrelation(rng.standard_normal(20_000), max_lag=3)
    assert white[0] == 1.0 and np.all(np.abs(white[1:]) < 0.03)
    smooth = analysis.autocorrelation(np.sin(np.linspace(0, 2 * math.pi, 500)), max_lag=1)
    assert smooth[1] > 0.99
    for bad in (np.ones(5), np.zeros((3, 3)), [1.0]):
        with pytest.raises(ValueError):
            analysis.autocorrelation(bad)
    with pytest.raises(ValueError, match="max_lag"):
        analysis.autocorrelation(g, max_lag=300)


class _Res(nn.Module):
    def __init__(self, f: nn.Module) -> None:
        super().__init__()
        self.f = f

    def forward(self, x):
        return x + self.f(x)


def test_gradient_flow_through_linear_stacks_matches_matrix_products():
    torch.manual_seed(0)
    layers = [nn.Linear(6, 6).double() for _ in range(5)]
    x = torch.randn(4, 6, dtype=torch.float64)
    v = torch.randn(4, 6, dtype=torch.float64)
    for residual in (False, True):
        stack = nn.Sequential(*[_Res(m) if residual else m for m in layers])
        got = analysis.gradient_flow(stack, x, upstream=v)
        g, want = v, [v.norm().item()]
        for m in reversed(layers):  # x_{l+1} = x_l W^T (+ x_l)  =>  g_l = g_{l+1} W (+ g_{l+1})
            w = m.weight.detach()
            g = g @ w + (g if residual else 0)
            want.append(g.norm().item())
        assert got == pytest.approx(want[::-1], rel=1e-10)
    default = analysis.gradient_flow(nn.Sequential(*layers), x)
    assert len(default) == 6 and default[-1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="upstream"):
        analysis.gradient_flow(nn.Sequential(*layers), x, upstream=torch.ones(3))


def test_residual_sensitivity_five_to_five_point_one():
    out = analysis.residual_sensitivity(5.0, 5.1, 5.0)
    assert out["mapping"] == pytest.approx(0.1 / 5.1)
    assert out["residual"] == pytest.approx(1.0)
    x = torch.tensor([3.0, 4.0])
    out = analysis.residual_sensitivity(x, x + torch.tensor([0.3, 0.4]), x)
    assert out["mapping"] == pytest.approx(0.5 / math.hypot(3.3, 4.4))
    assert out["residual"] == pytest.approx(1.0)
    assert analysis.relative_change(0.0, 0.0) == 0.0
    assert analysis.relative_change(0.0, 1.0) == math.inf
