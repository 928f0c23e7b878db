"""course_utils.analysis: gradients, layer responses, lesions, loss landscapes.

Each notebook helper owns one section; every test checks against an independent computation.
"""


# --- notebooks 01-02: shattered gradients, gradient flow, toy MLPs ----------
import math  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from course_utils import analysis  # noqa: E402


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
    assert [n for n, _ in out] == ["stem.0.weight", "blocks.0.fc1.weight", "blocks.0.fc2.weight",
                                   "blocks.1.fc1.weight", "blocks.1.fc2.weight", "head.weight"]
    assert all(v > 0 for _, v in out)
    with pytest.raises(ValueError, match="no Conv or Linear"):
        analysis.grad_norms_per_layer(nn.Sequential(nn.ReLU()), torch.randn(2, 3), torch.zeros(2))


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
    c = np.correlate(g - g.mean(), g - g.mean(), mode="full")[g.size - 1:]
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


# --- notebook 07: layer responses, lesions, loss landscapes -----------------
import copy  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from course_utils import analysis, models  # noqa: E402


def _net07(name: str, seed: int = 0, **kw) -> torch.nn.Module:
    """A small CIFAR net (depth 14: two blocks per stage) with random BN statistics and affines."""
    torch.manual_seed(seed)
    net = models.plain_cifar(14) if name == "plain" else models.resnet_cifar(14, **kw)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)
    return net.eval()


def _data07(n: int = 12, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 16, 16, generator=g), torch.randint(0, 10, (n,), generator=g)


BLOCKS14 = ["layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1"]


def _manual_responses(net, x) -> dict[str, torch.Tensor]:
    """Walk the CIFAR net by hand, keeping every BN output that follows a 3x3 conv."""
    out = {}
    with torch.no_grad():
        h = net.bn1(net.conv1(x))
        out["bn1"] = h.clone()
        h = torch.relu(h)
        for name in BLOCKS14:
            b = net.get_submodule(name)
            r1 = b.bn1(b.conv1(h))
            r2 = b.bn2(b.conv2(torch.relu(r1)))
            out[f"{name}.bn1"], out[f"{name}.bn2"] = r1.clone(), r2.clone()
            h = b(h)
    return out


@pytest.mark.parametrize("kind", ["resnet", "plain", "resnet_B"])
def test_response_layers_are_the_3x3_bns_in_order(kind):
    net = _net07("plain" if kind == "plain" else "resnet", shortcut="B" if kind == "resnet_B" else "A")
    expected = ["bn1"] + [f"{b}.bn{k}" for b in BLOCKS14 for k in (1, 2)]
    assert analysis.response_layers(net) == expected  # 13 = 14 layers - fc; no 1x1 projection BN


@pytest.mark.parametrize("kind", ["resnet", "plain"])
def test_layer_responses_match_a_hand_walk(kind):
    net = _net07(kind)
    x, _ = _data07(10)
    net.train()  # must be evaluated in eval mode anyway, and the flag restored
    before = copy.deepcopy(net.state_dict())
    got = analysis.layer_responses(net, x, batch_size=4)  # 4 + 4 + 2: statistics accumulate
    net.eval()
    ref = {k: v.double().std(correction=0).item() for k, v in _manual_responses(net, x).items()}
    assert list(got) == list(ref)
    assert got == pytest.approx(ref, rel=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(before.values(), net.state_dict().values()))
    net.train()
    analysis.layer_responses(net, x)
    assert net.training


def test_layer_responses_uint8_needs_the_normalizer():
    net = _net07("resnet")
    imgs = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    with pytest.raises(ValueError, match="normalizer"):
        analysis.layer_responses(net, imgs)
    norm = lambda u: (u.float() - 128) / 64  # noqa: E731
    assert analysis.layer_responses(net, imgs, normalizer=norm) == pytest.approx(
        analysis.layer_responses(net, norm(imgs)))


def _error_without(net, x, y, skip: str) -> float:
    """Error % with block ``skip`` removed, walking the net by hand (shortcut path kept)."""
    with torch.no_grad():
        h = torch.relu(net.bn1(net.conv1(x)))
        for name in BLOCKS14:
            b = net.get_submodule(name)
            if name != skip:
                h = b(h)
            elif b.downsample is not None:
                h = torch.relu(b.downsample(h))
        logits = net.fc(torch.flatten(net.avgpool(h), 1))
    return 100.0 * (logits.argmax(1) != y).float().mean().item()


def test_lesion_study_matches_hand_deletion_and_restores():
    net = _net07("resnet")
    x, y = _data07(40)
    with torch.no_grad():
        before = net(x)
    res = analysis.lesion_study(net, x, y, batch_size=16)
    assert [n for n, _ in res] == BLOCKS14  # option A shortcut: downsampling blocks too
    for name, err in res:
        assert err == pytest.approx(_error_without(net, x, y, name))
    skipped = analysis.lesion_study(net, x, y, downsampling="skip")
    assert [n for n, _ in skipped] == ["layer1.0", "layer1.1", "layer2.1", "layer3.1"]
    with torch.no_grad():
        assert torch.equal(net(x), before)
    assert all(isinstance(net.get_submodule(n), models.BasicBlock) for n in BLOCKS14)


def test_lesion_study_plain_only_deletes_shape_preserving_blocks():
    net = _net07("plain")
    x, y = _data07(20)
    res = analysis.lesion_study(net, x, y)
    assert [n for n, _ in res] == ["layer1.0", "layer1.1", "layer2.1", "layer3.1"]
    for name, err in res:
        assert err == pytest.approx(_error_without(net, x, y, name))


def test_lesion_of_a_zero_residual_branch_changes_nothing():
    # zero_init_residual: bn2 weight 0 and bias 0, so every block IS relu(shortcut(x)):
    # deleting it must leave the error exactly where it was
    torch.manual_seed(0)
    net = models.resnet_cifar(14, zero_init_residual=True).eval()
    x, y = _data07(30)
    base = analysis.error_percent(net, x, y)
    assert [e for _, e in analysis.lesion_study(net, x, y)] == [base] * 6


def test_lesion_bad_mode():
    with pytest.raises(ValueError, match="shortcut"):
        analysis.lesion_study(_net07("resnet"), *_data07(4), downsampling="drop")


@pytest.mark.parametrize("kind", ["resnet", "plain"])
def test_filter_normalized_direction(kind):
    net = _net07(kind)
    d = analysis.filter_normalized_direction(net, seed=3)
    params = list(net.parameters())
    assert [t.shape for t in d] == [p.shape for p in params]
    n_filters = 0
    for p, t in zip(params, d):
        if p.dim() == 1:  # BN weights and biases, the fc bias
            assert not t.any()
            continue
        for w_f, d_f in zip(p.detach(), t):  # one filter (conv output channel / linear row)
            assert d_f.norm().item() == pytest.approx(w_f.norm().item(), rel=1e-5)
            n_filters += 1
    assert n_filters == 16 * (1 + 4) + 32 * 4 + 64 * 4 + 10  # conv output channels + fc rows
    again = analysis.filter_normalized_direction(net, seed=3)
    other = analysis.filter_normalized_direction(net, seed=4)
    assert all(torch.equal(a, b) for a, b in zip(d, again))
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
    net = _net07(kind)
    x, y = _data07(12)
    before = copy.deepcopy(net.state_dict())
    out = analysis.loss_landscape_1d(net, x, y, steps=5, span=0.5, seed=7, batch_size=5)
    assert out["alphas"].tolist() == pytest.approx([-0.5, -0.25, 0.0, 0.25, 0.5])
    with torch.no_grad():
        own = F.cross_entropy(net(x), y).item()
    assert out["loss"][2].item() == pytest.approx(own, rel=1e-5)  # alpha = 0: the model itself
    assert out["error"][2].item() == pytest.approx(analysis.error_percent(net, x, y))
    d = analysis.filter_normalized_direction(net, seed=7)
    assert out["loss"][4].item() == pytest.approx(_loss_at(net, x, y, [(0.5, d)]), rel=1e-4)
    assert out["loss"][0].item() == pytest.approx(_loss_at(net, x, y, [(-0.5, d)]), rel=1e-4)
    assert all(torch.equal(a, b) for a, b in zip(before.values(), net.state_dict().values()))


def test_landscape_2d_grid_orientation():
    net = _net07("resnet")
    x, y = _data07(12)
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
    net, (x, y) = _net07("resnet"), _data07(4)
    with pytest.raises(ValueError):
        analysis.loss_landscape_1d(net, x, y, steps=1)
    with pytest.raises(ValueError):
        analysis.loss_landscape_2d(net, x, y, span=0)


def test_lesion_of_preact_blocks_keeps_exactly_the_shortcut_path():
    # pre-activation (He et al. 2016): out = x + F(x), the projection shortcut takes relu(bn1(x))
    torch.manual_seed(0)
    net = models.preact_resnet_cifar(14).eval()
    x, y = _data07(20)
    res = dict(analysis.lesion_study(net, x, y))
    assert list(res) == BLOCKS14
    with torch.no_grad():
        h = net.conv1(x)
        for name in BLOCKS14:
            b = net.get_submodule(name)
            if name == "layer2.0":  # deleted: only its shortcut path remains
                h = b.downsample(torch.relu(b.bn1(h)))
            else:
                h = b(h)
        logits = net.fc(torch.flatten(net.avgpool(torch.relu(net.bn(h))), 1))
    assert res["layer2.0"] == pytest.approx(100.0 * (logits.argmax(1) != y).float().mean().item())
    name, _, _, rep = analysis.lesion_plan(net, (1, 3, 16, 16))[2]
    with analysis.lesioned(net, name, rep), torch.no_grad():
        assert torch.allclose(net(x), logits, atol=1e-5)  # the logits themselves, not only the error
