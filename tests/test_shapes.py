"""course_utils.shapes against torch: real conv/pool outputs, gradients, FlopCounterMode."""

from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils import models as M
from course_utils.shapes import Summary, conv_arithmetic, conv_out, pool_out, receptive_field, summarize


def torch_macs(model: nn.Module, shape: tuple[int, ...]) -> float:
    """MACs of one forward as torch counts them (FlopCounterMode reports 2 FLOPs per MAC)."""
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(shape))
    return counter.get_total_flops() / 2


# --- output-size formulas -------------------------------------------------------------------


def test_conv_out_matches_conv2d_on_random_configs():
    rng = random.Random(0)
    checked = rejected = 0
    for _ in range(400):
        size, k, s = rng.randint(1, 40), rng.randint(1, 7), rng.randint(1, 4)
        p, d = rng.randint(0, 4), rng.randint(1, 3)
        x, w = torch.zeros(1, 1, size, size + 3), torch.zeros(1, 1, k, k)
        try:
            out = F.conv2d(x, w, stride=s, padding=p, dilation=d)
        except RuntimeError:  # torch rejects a window larger than the padded input
            with pytest.raises(ValueError, match="larger than the padded input"):
                conv_out(size, k, s, p, d)
            rejected += 1
            continue
        assert out.shape[-2:] == (conv_out(size, k, s, p, d), conv_out(size + 3, k, s, p, d))
        checked += 1
    assert checked > 300 and rejected > 5  # both branches really exercised


def test_conv_out_textbook_cases():
    assert conv_out(32, 3, 2, 1) == conv_out(32, 1, 2, 0) == 16  # the two ways ResNets halve
    assert conv_out(224, 7, 2, 3) == 112  # ImageNet stem
    assert conv_out(7, 3, 2, 0) == 3 and conv_out(7, 2, 2, 0) == 3  # floor drops the edge


def test_pool_out_matches_pooling_on_random_configs():
    rng = random.Random(1)
    checked = ceil_differs = 0
    for _ in range(400):
        size, k = rng.randint(1, 40), rng.randint(1, 6)
        s, p, d = rng.choice([None, 1, 2, 3]), rng.randint(0, k // 2), rng.randint(1, 2)
        ceil = rng.random() < 0.6
        x = torch.zeros(1, 1, size, size)
        pools = [lambda: F.max_pool2d(x, k, s, p, d, ceil_mode=ceil)]
        if d == 1:
            pools.append(lambda: F.avg_pool2d(x, k, s, p, ceil_mode=ceil))
        for pool in pools:
            try:
                out = pool()
            except RuntimeError:
                with pytest.raises(ValueError, match="larger than the padded input"):
                    pool_out(size, k, s, p, d, ceil)
                continue
            assert out.shape[-1] == pool_out(size, k, s, p, d, ceil), (size, k, s, p, d, ceil)
            try:
                ceil_differs += out.shape[-1] != pool_out(size, k, s, p, d, False)
            except ValueError:  # only the rounded-up window exists
                ceil_differs += 1
            checked += 1
    assert checked > 400 and ceil_differs > 20


def test_pool_out_last_window_rule():
    # ceil_mode would give 3 windows, but the third would start in the right padding
    assert F.max_pool2d(torch.zeros(1, 1, 4, 4), 2, 2, 1, ceil_mode=True).shape[-1] == 3
    assert pool_out(4, 2, 2, 1, ceil_mode=True) == 3
    assert F.max_pool2d(torch.zeros(1, 1, 5, 5), 2, 2, 1, ceil_mode=True).shape[-1] == 3
    assert pool_out(5, 2, 2, 1, ceil_mode=True) == 3
    assert pool_out(112, 3, 2, 1) == 56  # ResNet's max-pool


def test_formula_errors():
    with pytest.raises(ValueError, match="size must be a positive int"):
        conv_out(0, 3)
    with pytest.raises(ValueError, match="stride must be a positive int"):
        conv_out(32, 3, stride=0)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        conv_out(32, 3, padding=-1)
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv_out(4, 7)
    with pytest.raises(ValueError, match=r"between 0 and kernel // 2 = 1"):
        pool_out(32, 3, 2, padding=2)  # torch: "pad should be at most half of kernel size"
    with pytest.raises(RuntimeError):
        F.max_pool2d(torch.zeros(1, 1, 32, 32), 3, 2, 2)
    with pytest.raises(ValueError, match=r"expected \(kernel, stride\)"):
        receptive_field([(3, 1), (3,)])


# --- receptive field ------------------------------------------------------------------------


def measured_rf(layers: list[tuple[int, int, int]]) -> tuple[int, int]:
    """Receptive field and jump of the last layer, read off the gradients of an all-ones stack."""
    x = torch.zeros(1, 1, 2000, requires_grad=True)
    h = x
    for k, s, d in layers:
        h = F.conv1d(h, torch.ones(1, 1, k), stride=s, dilation=d)
    # which inputs reach output 0 and output 1 (positive weights: no cancellation)
    first, second = (torch.autograd.grad(h[0, 0, j], x, retain_graph=True)[0][0, 0].nonzero().flatten() for j in (0, 1))
    return int(first[-1] - first[0] + 1), int(second[0] - first[0])


def test_receptive_field_matches_gradients():
    rng = random.Random(2)
    for _ in range(40):
        layers = [(rng.randint(1, 5), rng.randint(1, 3), rng.randint(1, 2)) for _ in range(rng.randint(1, 5))]
        rf, jump = receptive_field(layers)[-1]
        assert (rf, jump) == measured_rf(layers), layers


def test_receptive_field_examples():
    assert receptive_field([(3, 1)] * 3) == [(3, 1), (5, 1), (7, 1)]  # three 3x3 see 7x7
    assert receptive_field([(7, 2), (3, 2)]) == [(7, 2), (11, 4)]  # ImageNet stem + max-pool
    assert receptive_field([(3, 1, 2)]) == [(5, 1)]


# --- summarize ----------------------------------------------------------------------------------

EXPECTED_MACS = [  # (model name, input size, MACs from the course design, to ~0.1%)
    ("resnet20", 32, 40.6e6),
    ("resnet56", 32, 125.5e6),
    ("resnet18_cifar", 32, 555e6),
    ("resnet50", 224, 4.1e9),
]


@pytest.mark.parametrize("name,size,approx", EXPECTED_MACS)
def test_total_macs_match_flop_counter(name, size, approx):
    model = M.get_model(name)
    s = summarize(model, (1, 3, size, size))
    truth = torch_macs(model, (1, 3, size, size))
    assert abs(s.total_macs / truth - 1) < 0.01
    assert abs(s.total_macs / approx - 1) < 0.01
    assert s.total_params == M.count_params(model) == sum(r.params for r in s.rows)


@pytest.mark.parametrize(
    "build,shape",
    [
        (lambda: M.plain_cifar(20), (1, 3, 32, 32)),
        (lambda: M.resnet_cifar(20, shortcut="B"), (2, 3, 24, 24)),
        (lambda: M.preact_resnet_cifar(20), (1, 3, 32, 32)),
        (lambda: M.resnet18(), (1, 3, 97, 97)),
        (lambda: M.resnet50(stride_on="1x1"), (1, 3, 64, 64)),
        (
            lambda: nn.Sequential(
                nn.Conv2d(3, 8, 3, 2, 1, groups=1, dilation=2),
                nn.ReLU(),
                nn.Conv2d(8, 8, 5, groups=4),
                nn.MaxPool2d(2, ceil_mode=True),
                nn.Flatten(),
                nn.LazyLinear(5),
            ),
            (3, 3, 29, 29),
        ),
    ],
)
def test_macs_match_flop_counter_on_variants(build, shape):
    model = build()
    truth = torch_macs(model, shape)  # also materialises the lazy layer
    assert abs(summarize(model, shape).total_macs / truth - 1) < 0.01


def test_v1_saves_exactly_the_strided_1x1_macs():
    # v1 and v1.5 differ only in the first 1x1 of stages 2-4: at full vs half resolution
    h, saved = 16, 0  # a 64x64 input is 16x16 after the stem and max-pool
    for in_ch, planes in ((256, 128), (512, 256), (1024, 512)):
        saved += (h * h - (h // 2) ** 2) * in_ch * planes
        h //= 2
    v15 = summarize(M.resnet50(), (1, 3, 64, 64)).total_macs
    v1 = summarize(M.resnet50(stride_on="1x1"), (1, 3, 64, 64)).total_macs
    assert v15 - v1 == saved


def test_rows_by_depth():
    model = M.resnet18()
    flat = summarize(model, (1, 3, 64, 64))
    top = summarize(model, (1, 3, 64, 64), depth=1)
    assert [r.name for r in top.rows] == [
        "conv1",
        "bn1",
        "relu",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
        "fc",
    ]
    shapes = {r.name: r.output_shape for r in top.rows}
    assert shapes["conv1"] == (1, 64, 32, 32) and shapes["maxpool"] == (1, 64, 16, 16)
    assert [shapes[f"layer{i}"] for i in range(1, 5)] == [
        (1, 64, 16, 16),
        (1, 128, 8, 8),
        (1, 256, 4, 4),
        (1, 512, 2, 2),
    ]
    assert shapes["fc"] == (1, 1000) and top.rows[4].type == "Sequential"
    assert (top.total_macs, top.total_params) == (flat.total_macs, flat.total_params)
    assert next(r for r in top.rows if r.name == "layer2").params == M.count_params(model.layer2)
    blocks = summarize(model, (1, 3, 64, 64), depth=2)
    assert [r.name for r in blocks.rows if r.name.startswith("layer2")] == ["layer2.0", "layer2.1"]
    assert {r.type for r in blocks.rows if r.name.startswith("layer")} == {"BasicBlock"}
    assert sum(r.macs for r in blocks.rows) == flat.total_macs


def test_leaf_rows_follow_the_forward_pass():
    s = summarize(M.resnet_cifar(20), (1, 3, 32, 32))
    convs = [r for r in s.rows if r.type == "Conv2d"]
    assert len(convs) == 19  # 1 + 3 stages x 3 blocks x 2
    assert next(r for r in s.rows if r.type == "Linear").macs == 64 * 10
    assert convs[0].macs == 32 * 32 * 16 * 3 * 9
    assert [r.output_shape for r in s.rows if r.type == "ShortcutA"] == [(1, 32, 16, 16), (1, 64, 8, 8)]
    assert all(r.macs == 0 for r in s.rows if r.type in ("BatchNorm2d", "ReLU", "ShortcutA"))


def test_summary_table_is_readable():
    s = summarize(M.resnet_cifar(20), depth=1)
    assert isinstance(s, Summary)
    text = str(s)
    lines = text.splitlines()
    assert lines[1].split() == ["Layer", "Type", "Output", "shape", "Params", "MACs"]
    table = lines[1 : lines.index(lines[2], 3)]  # header to the closing rule
    assert len({len(line) for line in table}) == 1  # aligned columns
    for name in ("conv1", "layer1", "layer2", "layer3", "fc"):
        assert any(line.startswith(name + " ") for line in lines)
    assert "total params: 269,722" in text and "40.55M" in text
    assert "269,722" in repr(s)


def test_summarize_leaves_the_model_alone():
    model = M.resnet_cifar(20).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    summarize(model, (4, 3, 32, 32))
    assert model.training and not any(m._forward_hooks for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_summarize_cross_checks_shapes():
    class PaddingConv(nn.Conv2d):  # secretly pads more than its `padding` says
        def forward(self, x):
            return super().forward(F.pad(x, (1, 1, 1, 1)))

    with pytest.raises(RuntimeError, match="0: forward gave spatial size"):
        summarize(nn.Sequential(PaddingConv(3, 4, 3)), (1, 3, 8, 8))
    with pytest.raises(ValueError, match="depth must be None"):
        summarize(M.resnet_cifar(20), depth=0)


def test_batch_scales_macs():
    model = M.resnet_cifar(20)
    assert summarize(model, (3, 3, 32, 32)).total_macs == 3 * summarize(model).total_macs


def _windows(size, kernel, stride, padding, dilation):
    """Count window positions by brute force: starts that keep every tap inside the padded input."""
    return sum(
        1 for start in range(0, size + 2 * padding, stride) if start + dilation * (kernel - 1) < size + 2 * padding
    )


def _evaluate(side: str) -> int:
    """Evaluate one side of a displayed equation (its · is a product, floor is math.floor)."""
    return eval(side.replace("·", "*").replace("floor(", "math.floor("), {"math": math})


@pytest.mark.parametrize(
    "size,kernel,stride,padding,dilation",
    [
        (7, 3, 2, 1, 1),
        (224, 7, 2, 3, 1),
        (1, 5, 1, 0, 1),
        (2, 3, 1, 0, 1),
        (3, 3, 2, 0, 2),
        (4, 7, 3, 1, 1),
        (5, 5, 4, 0, 1),
    ],
)
def test_conv_arithmetic_displays_a_true_equation_in_every_case(size, kernel, stride, padding, dilation):
    shown = conv_arithmetic(size, kernel, stride, padding, dilation)
    real = _windows(size, kernel, stride, padding, dilation)  # brute force; torch refuses when 0 fit
    if real == 0:  # nothing fits: the numerator is negative and the line must not claim "= 0" from "+ 1"
        left, right = shown.split(" < 0")[0].split(" = ")
        assert _evaluate(left) == int(right) < 0 and "no window fits" in shown
    else:
        sides = shown.split(" = ")
        assert len(sides) == 3 and {_evaluate(s) for s in sides} == {real}
        conv = nn.Conv2d(1, 1, kernel, stride, padding, dilation)
        assert conv(torch.zeros(1, 1, size, size)).shape[-1] == real


def test_conv_arithmetic_over_a_grid_never_shows_a_false_equation():
    for size, kernel, stride, padding in [
        (n, k, s, p) for n in range(1, 9) for k in (1, 3, 5) for s in (1, 2, 3) for p in (0, 1)
    ]:
        shown = conv_arithmetic(size, kernel, stride, padding)
        sides = shown.split(" < 0")[0].split(" = ")
        assert len({_evaluate(s) for s in sides}) == 1, shown
        assert int(sides[-1]) == _windows(size, kernel, stride, padding, 1) or "no window fits" in shown
