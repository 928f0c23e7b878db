"""course_utils.models against independent truth: the paper's counts, torchvision, torch itself."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from course_utils import models as M

# He et al. 2015, section 4.2 / Table 6 (option A; the plain nets have the same layers)
PAPER_COUNTS = {20: 269_722, 32: 464_154, 44: 658_586, 56: 853_018, 110: 1_727_962, 1202: 19_421_274}
TORCHVISION_COUNTS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160, 152: 60_192_808}
# He et al. 2015, Table 1: each ImageNet depth's block and blocks per stage; on a 224 x 224 image the four stages
# give 56, 28, 14 and 7 pixels a side, with 64, 128, 256 and 512 channels (x 4 out of a bottleneck)
TABLE_1 = {
    18: (M.BasicBlock, [2, 2, 2, 2]),
    34: (M.BasicBlock, [3, 4, 6, 3]),
    50: (M.Bottleneck, [3, 4, 6, 3]),
    101: (M.Bottleneck, [3, 4, 23, 3]),
    152: (M.Bottleneck, [3, 8, 36, 3]),
}
# input sizes per depth for the equivalence test (small ones for the deep nets: 2 CPU cores)
TV_SIZES = {18: (224, 160, 97, 64), 34: (160, 97, 64), 50: (160, 97), 101: (97, 64), 152: (64, 33)}


def cifar_count(depth: int, num_classes: int = 10) -> int:
    """Parameter count of the option-A CIFAR net from its description, written out by hand."""
    n = (depth - 2) // 6
    total = 3 * 16 * 9 + 2 * 16  # stem conv + BN
    w_in = 16
    for w in (16, 32, 64):
        for _ in range(n):
            total += (w_in * w + w * w) * 9 + 2 * (2 * w)  # two 3x3 convs, two BNs
            w_in = w
    return total + 64 * num_classes + num_classes


def randomize_bn(model: nn.Module, seed: int) -> nn.Module:
    """Give every BN non-trivial weights and running stats, so eval mode uses them all."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(torch.rand(c, generator=g) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=g) + 1.0)
    return model


# --- parameter counts ---------------------------------------------------------------------


@pytest.mark.parametrize("depth", sorted(PAPER_COUNTS))
def test_cifar_counts_match_paper(depth):
    expected = PAPER_COUNTS[depth]
    assert cifar_count(depth) == expected  # the hand count agrees with the paper's numbers
    assert M.count_params(M.resnet_cifar(depth)) == expected
    assert M.count_params(M.resnet_cifar(depth, shortcut="a")) == expected
    if depth != 1202:
        assert M.count_params(M.plain_cifar(depth)) == expected


def test_option_b_adds_only_the_two_projections():
    extra = (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)  # 1x1 conv + BN where 16->32 and 32->64
    model = M.resnet_cifar(20, shortcut="B")
    assert M.count_params(model) == PAPER_COUNTS[20] + extra == 272_474
    downs = [
        b.downsample for layer in (model.layer1, model.layer2, model.layer3) for b in layer if b.downsample is not None
    ]
    assert len(downs) == 2 and all(isinstance(d[0], nn.Conv2d) for d in downs)


def test_option_a_and_plain_have_no_shortcut_parameters():
    res, plain = M.resnet_cifar(56), M.plain_cifar(56)
    shortcuts = [m for m in res.modules() if isinstance(m, M.ShortcutA)]
    assert len(shortcuts) == 2 and all(M.count_params(s) == 0 for s in shortcuts)
    assert all(b.downsample is None and not b.residual for b in plain.modules() if isinstance(b, M.BasicBlock))
    # same layers: names and shapes of all parameters agree
    assert {k: v.shape for k, v in res.state_dict().items()} == {k: v.shape for k, v in plain.state_dict().items()}


def test_resnet18_cifar_count():
    tv = torchvision.models.resnet18(weights=None, num_classes=10)
    expected = M.count_params(tv) - 64 * 3 * 7 * 7 + 64 * 3 * 3 * 3  # 7x7 stem -> 3x3 stem
    model = M.resnet18_cifar()
    assert M.count_params(model) == expected == 11_173_962
    assert isinstance(model.maxpool, nn.Identity) and model.conv1.kernel_size == (3, 3)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_preact_counts_and_structure():
    # pre-act moves BNs around: -16 (stem) -16 -32 (first blocks of stages 2, 3 normalise
    # their narrower input) +64 (final BN) channels = 0, so option A counts as the paper's net
    assert M.count_params(M.preact_resnet_cifar(110, shortcut="A")) == PAPER_COUNTS[110]
    model = M.preact_resnet_cifar(110)  # default: bare 1x1 projections
    assert M.count_params(model) == PAPER_COUNTS[110] + 16 * 32 + 32 * 64
    block = model.layer2[1]
    order: list[str] = []
    for name in ("bn1", "conv1", "bn2", "conv2"):
        getattr(block, name).register_forward_hook(lambda m, i, o, n=name: order.append(n))
    out = block(torch.randn(2, 32, 8, 8))
    assert order == ["bn1", "conv1", "bn2", "conv2"]  # BN before each conv
    assert (out < 0).any()  # no ReLU after the addition
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.slow
def test_get_model_every_name_and_torchvision_counts():
    expected = {f"plain{d}": PAPER_COUNTS[d] for d in (20, 32, 44, 56, 110)}
    expected |= {f"resnet{d}": PAPER_COUNTS[d] for d in PAPER_COUNTS}
    expected |= {"preact_resnet110": PAPER_COUNTS[110] + 16 * 32 + 32 * 64, "resnet18_cifar": 11_173_962}
    for depth, count in TORCHVISION_COUNTS.items():  # the truth is torchvision's live count
        tv = getattr(torchvision.models, f"resnet{depth}")(weights=None)
        assert M.count_params(tv) == count
        expected[f"resnet{depth}"] = M.count_params(tv)
    assert set(M.MODEL_NAMES) == set(expected)
    for name in M.MODEL_NAMES:
        assert M.count_params(M.get_model(name)) == expected[name], name
    assert M.count_params(M.get_model("ResNet-20", shortcut="B")) == 272_474
    assert M.get_model("resnet56", num_classes=100).fc.out_features == 100
    assert M.count_params(M.resnet50(num_classes=10)) == expected["resnet50"] - 2048 * 990 - 990


@pytest.mark.parametrize("depth", sorted(TORCHVISION_COUNTS))
def test_imagenet_builders_are_table_1(depth):
    block, blocks = TABLE_1[depth]
    build = getattr(M, f"resnet{depth}")
    with torch.device("meta"):  # shapes and counts only: no memory, no initialisation
        model = build(num_classes=10)
    stages = [model.layer1, model.layer2, model.layer3, model.layer4]
    assert [len(s) for s in stages] == blocks and all(type(b) is block for s in stages for b in s)
    # the depth in the name counts the weighted layers on the signal's path: every conv but the projections, and fc
    projections = {id(m) for s in stages for b in s if b.downsample is not None for m in b.downsample.modules()}
    weighted = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and id(m) not in projections]
    assert len(weighted) == depth
    sizes: list[tuple[int, ...]] = []
    for s in stages:
        s.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[1:])))
    out = model(torch.empty(2, 3, 224, 224, device="meta"))
    e = 4 if block is M.Bottleneck else 1
    assert sizes == [(64 * e, 56, 56), (128 * e, 28, 28), (256 * e, 14, 14), (512 * e, 7, 7)] and out.shape == (2, 10)
    assert M.count_params(model) == TORCHVISION_COUNTS[depth] - 990 * (512 * e + 1)  # 10 classes: fc alone shrinks
    with pytest.raises(TypeError):  # keyword-only: build(10) must not quietly mean some other argument
        build(10)


def test_all_lists_the_public_names():
    assert all(hasattr(M, name) for name in M.__all__)
    assert {"BasicBlock", "Bottleneck", "resnet_cifar", "get_model", "count_params", "MODEL_NAMES"} <= set(M.__all__)


@pytest.mark.parametrize("size", [8, 17, 32, 40])
@pytest.mark.parametrize("build", [M.resnet_cifar, M.plain_cifar, M.preact_resnet_cifar])
def test_cifar_nets_take_any_input_size(build, size):
    model = build(20)
    assert model(torch.randn(2, 3, size, size)).shape == (2, 10)


# --- torchvision equivalence ----------------------------------------------------------------


@pytest.mark.parametrize(  # one net of each block type in the inner loop; the others take seconds each
    "depth", [d if d in (18, 50) else pytest.param(d, marks=pytest.mark.slow) for d in sorted(TV_SIZES)]
)
def test_torchvision_equivalence_both_directions(depth):
    torch.manual_seed(depth)
    tv = randomize_bn(getattr(torchvision.models, f"resnet{depth}")(weights=None), 1).eval()
    ours = getattr(M, f"resnet{depth}")().eval()
    ours.load_state_dict(tv.state_dict(), strict=True)  # torchvision -> ours
    with torch.no_grad():
        for size in TV_SIZES[depth]:
            x = torch.randn(1, 3, size, size)
            torch.testing.assert_close(ours(x), tv(x), rtol=1e-6, atol=1e-6)
    # ours -> torchvision, with weights torchvision never had
    ours_b = randomize_bn(getattr(M, f"resnet{depth}")(), 2).eval()
    tv.load_state_dict(ours_b.state_dict(), strict=True)
    assert not torch.equal(tv.fc.weight, ours.fc.weight)  # the weights really changed
    with torch.no_grad():
        x = torch.randn(1, 3, TV_SIZES[depth][-1], TV_SIZES[depth][-1])
        torch.testing.assert_close(tv(x), ours_b(x), rtol=1e-6, atol=1e-6)


def test_stride_on_1x1_is_v1():
    v15, v1 = M.resnet50().eval(), M.resnet50(stride_on="1x1").eval()
    assert M.count_params(v1) == M.count_params(v15)
    v1.load_state_dict(v15.state_dict(), strict=True)
    assert v1.layer2[0].conv1.stride == (2, 2) and v1.layer2[0].conv2.stride == (1, 1)
    assert v15.layer2[0].conv1.stride == (1, 1) and v15.layer2[0].conv2.stride == (2, 2)
    shapes = {}
    for tag, model in (("v1", v1), ("v1.5", v15)):
        model.layer2[0].conv1.register_forward_hook(lambda m, i, o, tag=tag: shapes.__setitem__(tag, tuple(o.shape)))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        out1, out15 = v1(x), v15(x)
    assert shapes == {"v1": (1, 128, 8, 8), "v1.5": (1, 128, 16, 16)}
    assert out1.shape == out15.shape and not torch.allclose(out1, out15)


# --- initialisation and the identity at init ------------------------------------------------


def test_he_init_and_bn_init():
    model = M.resnet18()
    w = model.layer4[1].conv2.weight  # 512 x 512 x 3 x 3: fan_out = 512 * 9
    assert abs(w.std().item() / (2 / (512 * 9)) ** 0.5 - 1) < 0.02
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.equal(m.weight, torch.ones_like(m.weight))
            assert torch.equal(m.bias, torch.zeros_like(m.bias))


@pytest.mark.parametrize("train", [True, False])
def test_zero_init_residual_makes_each_block_the_shortcut(train):
    torch.manual_seed(0)
    for model in (
        M.resnet_cifar(20, zero_init_residual=True),
        M.resnet_cifar(20, shortcut="B", zero_init_residual=True),
        M.resnet50(zero_init_residual=True),
    ):
        model.train(train)
        for layer in (model.layer1, model.layer2):
            for block in layer:
                last = block.bn3 if isinstance(block, M.Bottleneck) else block.bn2
                assert torch.equal(last.weight, torch.zeros_like(last.weight))
                x = torch.relu(torch.randn(2, block.conv1.in_channels, 16, 16))  # post-ReLU input
                with torch.no_grad():
                    out = block(x)
                    expected = x if block.downsample is None else torch.relu(block.downsample(x))
                torch.testing.assert_close(out, expected, rtol=0, atol=0)
    # and a whole stage is the identity on non-negative input
    model = M.resnet_cifar(56, zero_init_residual=True)
    h = torch.relu(torch.randn(2, 16, 32, 32))
    with torch.no_grad():
        assert torch.equal(model.layer1(h), h)


def test_without_zero_init_blocks_are_not_identity_and_plain_blocks_cannot_be():
    x = torch.relu(torch.randn(2, 16, 8, 8))
    res = M.resnet_cifar(20).layer1[0].eval()
    assert not torch.allclose(res(x), x)
    plain = M.plain_cifar(20).layer1[0].eval()
    with torch.no_grad():
        plain.bn2.weight.zero_()  # silence F(x): a plain block then outputs 0, not x
        res.bn2.weight.zero_()
        assert torch.equal(plain(x), torch.zeros_like(x))
        assert torch.equal(res(x), x)


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [21, 2, 0, -4, 100, 20.0, "20", True])
@pytest.mark.parametrize("build", [M.resnet_cifar, M.plain_cifar, M.preact_resnet_cifar])
def test_bad_depth(build, depth):
    with pytest.raises(ValueError, match=r"6n\+2.*20, 32, 44, 56, 110, 1202"):
        build(depth)


def test_unknown_name_lists_all_names():
    with pytest.raises(ValueError, match="unknown model 'resnet19'") as err:
        M.get_model("resnet19")
    assert all(name in str(err.value) for name in M.MODEL_NAMES)


@pytest.mark.parametrize("shortcut", ["C", "", "projection", None])
def test_bad_shortcut(shortcut):
    with pytest.raises(ValueError, match=r"shortcut must be one of \('A', 'B'\)"):
        M.resnet_cifar(20, shortcut=shortcut)


def test_bad_stride_on():
    for build in (M.resnet18, M.resnet50):
        with pytest.raises(ValueError, match=r"stride_on must be one of \('3x3', '1x1'\)"):
            build(stride_on="2x2")


@pytest.mark.parametrize("model", [M.resnet_cifar(20), M.preact_resnet_cifar(20), M.resnet18()])
def test_wrong_input_channels(model):
    with pytest.raises(
        ValueError,
        match=r"expected 3 input channels \(B, 3, H, W\), "
        r"got shape \(2, 1, 32, 32\)",
    ):
        model(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"got shape \(3, 32, 32\).*unsqueeze\(0\)"):
        model(torch.zeros(3, 32, 32))


def test_canonical_name_accepts_the_spellings_get_model_does():
    assert [M.canonical_name(n) for n in ("ResNet-56", " plain20 ", "resnet18_CIFAR")] == [
        "resnet56",
        "plain20",
        "resnet18_cifar",
    ]
    with pytest.raises(ValueError, match="resnet56"):
        M.canonical_name("resnet57")


def test_canonical_names_reads_lists():
    assert M.canonical_names("plain20, ResNet-56") == ["plain20", "resnet56"]
    assert M.canonical_names("plain20 resnet20") == ["plain20", "resnet20"]
    assert M.canonical_names(["ResNet-20"]) == ["resnet20"]
    with pytest.raises(ValueError, match="choose one of"):
        M.canonical_names("resnet21")
