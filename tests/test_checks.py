"""course_utils.checks: every checker accepts the right answer, rejects wrong ones, never raises.

Each notebook helper owns one section.
"""


# --- notebooks 01-02 ------------------------------------------------------------
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_utils import checks, models  # noqa: E402


def _says(capsys, text: str) -> bool:
    return text in capsys.readouterr().out


@pytest.mark.parametrize("depth", [20, 56, 110])
def test_check_blocks_per_stage_agrees_with_the_model(depth, capsys):
    truth = len(models.plain_cifar(depth).layer1)
    assert checks.check_blocks_per_stage(truth, depth=depth) is True
    assert _says(capsys, "Correct")
    assert checks.check_blocks_per_stage(2 * truth, depth=depth) is False
    assert _says(capsys, "two of them")
    assert checks.check_blocks_per_stage(3 * truth, depth=depth) is False
    assert _says(capsys, "one stage")
    assert checks.check_blocks_per_stage(depth / 6, depth=depth) is False
    assert _says(capsys, "6n + 2, not 6n")
    for other in ("many", None, ...):
        assert checks.check_blocks_per_stage(other, depth=depth) is False


def test_check_degradation_cause(capsys):
    assert checks.check_degradation_cause("c") is True
    assert checks.check_degradation_cause(" C) optimisation") is True
    for wrong, text in [("a", "overfitting"), ("b", "gradient norms"), ("d", "parameters"), ("z", "choose")]:
        assert checks.check_degradation_cause(wrong) is False
        assert _says(capsys, text)
    assert checks.check_degradation_cause(None) is False


def _lag1_right(g):
    g = np.asarray(g, dtype=float) - np.mean(g)
    return float(g[:-1] @ g[1:] / (g @ g))  # written out here, independent of analysis.autocorrelation


def test_check_lag1_autocorrelation(capsys):
    assert checks.check_lag1_autocorrelation(_lag1_right) is True
    wrong = {
        "subtract the mean": lambda g: float(g[:-1] @ g[1:] / (g @ g)),
        "corrcoef": lambda g: float(np.corrcoef(g[:-1], g[1:])[0, 1]),
        "lag-0 value": lambda g: float((g - g.mean())[:-1] @ (g - g.mean())[1:]),
        "raised ZeroDivisionError": lambda g: 1 / 0,
        "expected": lambda g: 0.5,
    }
    for text, fn in wrong.items():
        assert checks.check_lag1_autocorrelation(fn) is False
        assert _says(capsys, text), text
    assert checks.check_lag1_autocorrelation(0.3) is False
    assert checks.check_lag1_autocorrelation(None) is False


def test_check_identity_init(capsys):
    state = torch.random.get_rng_state()

    def right(block):
        block.bn2.weight.zero_()

    assert checks.check_identity_init(right) is True
    assert torch.equal(state, torch.random.get_rng_state())  # the notebook's RNG is left alone
    assert checks.check_identity_init(lambda b: b.conv2.weight.zero_()) is False
    assert _says(capsys, "train mode only")
    assert checks.check_identity_init(lambda b: b.bn1.bias.fill_(1.0)) is False
    assert _says(capsys, "max |block(x) - x|")
    assert checks.check_identity_init(lambda b: b.nope) is False
    assert _says(capsys, "AttributeError")
    assert checks.check_identity_init("bn2") is False
    assert checks.check_identity_init(None) is False


def test_check_sensitivity(capsys):
    x, h, target = 8.0, 8.4, 8.2  # the question, computed here from scratch
    m, r = abs(target - h) / abs(h), abs(target - h) / abs(h - x)
    assert checks.check_sensitivity(m, r) is True
    assert checks.check_sensitivity(100 * m, 100 * r) is False
    assert _says(capsys, "fractions")
    assert checks.check_sensitivity(m, 1.0) is False
    assert _says(capsys, "not 0")
    assert checks.check_sensitivity(0.2 / 8.2, r) is False
    assert _says(capsys, "before")
    assert checks.check_sensitivity(0.3, 0.3) is False
    assert checks.check_sensitivity("x", r) is False
    assert checks.check_sensitivity(None, r) is False


def test_check_gradient_factor(capsys):
    # the factor, by autograd through 50 scalar residual blocks x + 0.02 x
    x = torch.tensor(1.0, requires_grad=True)
    h = x
    for _ in range(50):
        h = h + 0.02 * h
    h.backward()
    assert checks.check_gradient_factor(x.grad.item()) is True
    for wrong, text in [(2.0, "multiplies"), (0.02 ** 50, "plain stack"), (1.02, "one block"), (5.0, "1 + 0.02")]:
        assert checks.check_gradient_factor(wrong) is False
        assert _says(capsys, text)
    assert checks.check_gradient_factor("big") is False
    assert checks.check_gradient_factor(...) is False


# --- notebook 07: responses, lesions, filter normalisation -------------------
import pytest  # noqa: E402
import torch  # noqa: E402

from course_utils import analysis, checks, models  # noqa: E402


@pytest.mark.parametrize("depth", [20, 56, 110])
def test_check_response_count_agrees_with_the_model(depth, capsys):
    truth = len(analysis.response_layers(models.resnet_cifar(depth)))  # hooks on a real net
    assert checks.check_response_count(truth, depth=depth) is True
    for wrong in (truth - 1, depth, "many", None, ...):
        assert checks.check_response_count(wrong, depth=depth) is False
    assert "Not" in capsys.readouterr().out


@pytest.mark.parametrize("depth", [20, 110])
def test_check_deletable_blocks_agrees_with_the_lesion_plan(depth):
    plain = sum(rep is not None for *_, rep in analysis.lesion_plan(models.plain_cifar(depth)))
    resnet = sum(rep is not None for *_, rep in analysis.lesion_plan(models.resnet_cifar(depth)))
    assert checks.check_deletable_blocks((plain, resnet), depth=depth) is True
    for wrong in [(resnet, resnet), (plain, plain), (plain,), f"{plain}, {resnet}", None]:
        assert checks.check_deletable_blocks(wrong, depth=depth) is False


def _normalize_filters(d: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    scale = w.flatten(1).norm(dim=1) / d.flatten(1).norm(dim=1)  # (out,)
    return d * scale.view(-1, *[1] * (d.dim() - 1))


def test_check_filter_normalization(capsys):
    assert checks.check_filter_normalization(_normalize_filters) is True
    whole = lambda d, w: d * w.norm() / d.norm()  # noqa: E731  (one scale for the whole tensor)
    flipped = lambda d, w: -_normalize_filters(d, w)  # noqa: E731  (right norms, wrong direction)
    def crashes(d, w):
        raise RuntimeError("student bug")
    for wrong in (whole, flipped, crashes, lambda d, w: w, lambda d: d, 3, None):
        assert checks.check_filter_normalization(wrong) is False
    out = capsys.readouterr().out
    assert "each *filter*" in out and "RuntimeError" in out


def test_check_filter_norm_reason():
    assert checks.check_filter_norm_reason("b") is True
    assert checks.check_filter_norm_reason(" B) because of BN") is True
    assert [checks.check_filter_norm_reason(a) for a in ("a", "c", "d", "", None)] == [False] * 5


# --- notebooks 05-06: the paper's recipe in numbers ----------------------------
import math  # noqa: E402

from course_utils import train  # noqa: E402


def test_check_epochs_matches_the_schedule(capsys):
    s = train.Schedule()  # the engine's own recipe is the independent truth
    truth = s.iterations * s.batch_size / 45_000
    assert checks.check_epochs(truth) is True
    assert checks.check_epochs(round(truth)) is True
    for wrong in (s.iterations * s.batch_size / 50_000, s.iterations / s.batch_size, 64, "many", None, ...):
        assert checks.check_epochs(wrong) is False
    assert "45,000" in capsys.readouterr().out


@pytest.mark.parametrize("iteration,depth", [(0, 20), (31_999, 56), (32_000, 56), (40_000, 56),
                                             (48_000, 20), (63_999, 56), (200, 110), (399, 110), (400, 110)])
def test_check_lr_agrees_with_the_engine(iteration, depth):
    truth = train.paper_schedule(f"resnet{depth}").lr_at(iteration)
    assert checks.check_lr(truth, iteration, depth=depth) is True
    for wrong in {0.1, 0.01, 0.001, 1e-4} - {round(truth, 12)}:
        assert checks.check_lr(wrong, iteration, depth=depth) is False
    assert checks.check_lr(None, iteration) is False


def test_check_augmentation_views_counts_real_augmentations():
    from course_utils import data

    img = torch.arange(1, 3 * 32 * 32 + 1, dtype=torch.float32).reshape(1, 3, 32, 32)  # all pixels distinct
    views = data.random_crop_flip(img.expand(3000, -1, -1, -1).contiguous(),
                                  generator=torch.Generator().manual_seed(0))
    truth = len(torch.unique(views.flatten(1), dim=0))
    assert truth == 162
    assert checks.check_augmentation_views(truth) is True
    for wrong in (81, 128, 64, 324, "lots", None):
        assert checks.check_augmentation_views(wrong) is False


def test_check_mean_shape_agrees_with_per_pixel_mean():
    from course_utils import data

    truth = tuple(data.per_pixel_mean(torch.zeros(4, 3, 32, 32, dtype=torch.uint8)).shape)
    assert checks.check_mean_shape(truth) is True
    assert checks.check_mean_shape(list(truth)) is True
    for wrong in ((3,), (32, 32, 3), (50000, 3, 32, 32), 3, "3x32x32", None):
        assert checks.check_mean_shape(wrong) is False


def test_check_fig6_lines():
    assert checks.check_fig6_lines("train", "test") is True
    assert checks.check_fig6_lines(" Training", "TEST") is True
    for thin, bold in [("test", "train"), ("train", "train"), ("thin", "bold"), (None, "test")]:
        assert checks.check_fig6_lines(thin, bold) is False


def test_check_shortcut_params_agrees_with_the_models():
    truth = models.count_params(models.resnet_cifar(20)) - models.count_params(models.plain_cifar(20))
    assert checks.check_shortcut_params(truth) is True
    b_shortcuts = models.count_params(models.resnet_cifar(20, shortcut="B")) - models.count_params(models.plain_cifar(20))
    assert b_shortcuts > 0  # option B would add projections: a real wrong answer
    for wrong in (b_shortcuts, 1, "none", None):
        assert checks.check_shortcut_params(wrong) is False


def test_check_milestone_epoch():
    s = train.Schedule()
    truth = s.milestones[0] * s.batch_size / 45_000
    assert checks.check_milestone_epoch(truth) is True
    for wrong in (s.milestones[0] * s.batch_size / 50_000, 100, 32, None):
        assert checks.check_milestone_epoch(wrong) is False


def test_check_error_noise_matches_a_simulation():
    gen = torch.Generator().manual_seed(0)
    simulated = 100 * (torch.rand(2000, 4000, generator=gen) < 0.07).float().mean(0).std().item()  # 4000 test sets
    se_2000 = 100 * math.sqrt(0.07 * 0.93 / 2000)
    assert abs(simulated - se_2000) < 0.02  # the binomial formula the check uses, confirmed by sampling
    se_10000 = 100 * math.sqrt(0.07 * 0.93 / 10_000)
    assert checks.check_error_noise(se_2000, se_10000) is True
    assert checks.check_error_noise(round(se_2000, 2), round(se_10000, 2)) is True
    for wrong in [(se_2000 / 100, se_10000 / 100), (se_2000 ** 2, se_10000 ** 2), (se_10000, se_2000), (None, 0.2)]:
        assert checks.check_error_noise(*wrong) is False


# --- notebooks 03-04: shapes, counts, blocks ----------------------------------
import math  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from torchvision.models.resnet import BasicBlock as TvBasicBlock  # noqa: E402
from torchvision.models.resnet import Bottleneck as TvBottleneck  # noqa: E402

from course_utils import checks, models  # noqa: E402


def _said(capsys, text: str) -> bool:
    return text in capsys.readouterr().out


def _windows(size, kernel, stride, padding, dilation):
    """Count window positions by brute force: starts that keep every tap inside the padded input."""
    return sum(1 for start in range(0, size + 2 * padding, stride)
               if start + dilation * (kernel - 1) < size + 2 * padding)


@pytest.mark.parametrize("size,kernel,stride,padding,dilation",
                         [(224, 7, 2, 3, 1), (32, 3, 2, 1, 1), (15, 3, 2, 0, 1), (9, 3, 1, 0, 2), (56, 1, 2, 0, 1)])
def test_check_conv_out_right_and_slips(size, kernel, stride, padding, dilation, capsys):
    truth = _windows(size, kernel, stride, padding, dilation)
    assert checks.check_conv_out(truth, size, kernel, stride, padding, dilation) is True
    span = dilation * (kernel - 1) + 1
    slips = {"add 1": (size + 2 * padding - span) // stride,
             "2p, not p": (size + padding - span) // stride + 1,
             "not 3": (size + 2 * padding - kernel) // stride + 1 if dilation > 1 else None}
    seen = {truth}
    for text, wrong in slips.items():
        if wrong is not None and wrong not in seen:  # two slips can give the same number: the first names it
            assert checks.check_conv_out(wrong, size, kernel, stride, padding, dilation) is False
            assert _said(capsys, text), text
        seen.add(wrong)
    assert checks.check_conv_out(None, size, kernel) is False


def test_check_conv_out_names_floor_ceil_and_padding(capsys):
    assert checks.check_conv_out((8 - 3) / 2 + 1, 8, 3, 2, 0) is False  # 3.5: no floor
    assert _said(capsys, "rounded down (floor)")
    assert checks.check_conv_out(math.ceil((8 - 3) / 2) + 1, 8, 3, 2, 0) is False  # 4: rounded up
    assert _said(capsys, "only pooling with ceil_mode")
    assert checks.check_conv_out(8 - 3 + 1, 8, 3, 1, 1) is False  # 6: padding forgotten
    assert _said(capsys, "padding on each side")


def _measured_rf(layers):
    """Receptive field by autograd: which input pixels move one central output of an all-ones stack."""
    convs = [nn.Conv2d(1, 1, k, stride=s, dilation=(d[0] if d else 1), bias=False) for k, s, *d in layers]
    for c in convs:
        nn.init.ones_(c.weight)
    x = torch.zeros(1, 1, 96, 96, requires_grad=True)
    y = nn.Sequential(*convs)(x)
    y[0, 0, y.shape[-2] // 2, y.shape[-1] // 2].backward()
    cols = (x.grad[0, 0] != 0).any(0).nonzero()
    return int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize("layers", [[(3, 1)] * 3, [(3, 1), (3, 2), (3, 1)], [(7, 2), (3, 2), (3, 1), (3, 1)],
                                    [(3, 1, 2), (3, 1, 4)]])
def test_check_receptive_field_agrees_with_autograd(layers, capsys):
    truth = _measured_rf(layers)
    assert checks.check_receptive_field(truth, layers) is True
    no_jump = 1 + sum((d[0] if d else 1) * (k - 1) for k, s, *d in layers)
    if no_jump != truth:
        assert checks.check_receptive_field(no_jump, layers) is False
        assert _said(capsys, "jump")
    assert checks.check_receptive_field(None, layers) is False


def test_check_receptive_field_kernel_sum(capsys):
    assert checks.check_receptive_field(6, [(3, 1), (3, 1)]) is False
    assert _said(capsys, "5x5, not 6x6")


@pytest.mark.parametrize("cin,cout,k,bias", [(64, 64, 3, False), (3, 64, 7, False), (256, 64, 1, False), (16, 10, 3, True)])
def test_check_conv_params(cin, cout, k, bias, capsys):
    truth = sum(p.numel() for p in nn.Conv2d(cin, cout, k, bias=bias).parameters())
    assert checks.check_conv_params(truth, cin, cout, k, bias) is True
    assert checks.check_conv_params(cout * k * k + bias * cout, cin, cout, k, bias) is False
    assert _said(capsys, "C_in")
    if not bias:
        assert checks.check_conv_params(truth + cout, cin, cout, k) is False
        assert _said(capsys, "bias=False")


@pytest.mark.parametrize("cin,cout,k,size,stride", [(64, 64, 3, 56, 1), (3, 64, 7, 224, 2), (256, 128, 1, 56, 2)])
def test_check_conv_macs_agrees_with_flop_counter(cin, cout, k, size, stride, capsys):
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=(k - 1) // 2, bias=False)
    with FlopCounterMode(display=False) as fc:
        conv(torch.zeros(1, cin, size, size))
    truth = fc.get_total_flops() // 2  # torch counts 2 FLOPs per multiply-accumulate
    assert checks.check_conv_macs(truth, cin, cout, k, size, stride) is True
    assert checks.check_conv_macs(2 * truth, cin, cout, k, size, stride) is False
    assert _said(capsys, "FLOP")
    if stride > 1:
        assert checks.check_conv_macs(truth * stride * stride, cin, cout, k, size, stride) is False
        assert _said(capsys, "output")


@pytest.mark.parametrize("kind,in_planes,planes,stride", [("basic", 64, 64, 1), ("basic", 64, 128, 2),
                                                          ("bottleneck", 256, 64, 1), ("bottleneck", 256, 128, 2)])
def test_check_block_params_agrees_with_torchvision(kind, in_planes, planes, stride, capsys):
    cls = TvBasicBlock if kind == "basic" else TvBottleneck
    out = planes * cls.expansion
    down = None if stride == 1 and in_planes == out else nn.Sequential(
        nn.Conv2d(in_planes, out, 1, stride, bias=False), nn.BatchNorm2d(out))
    block = cls(in_planes, planes, stride, down)
    truth = sum(p.numel() for p in block.parameters())
    assert checks.check_block_params(truth, kind, in_planes, planes, stride) is True
    conv_only = sum(m.weight.numel() for m in block.modules() if isinstance(m, nn.Conv2d))
    assert checks.check_block_params(conv_only, kind, in_planes, planes, stride) is False
    assert _said(capsys, "scale and a shift")
    bn_stats = sum(2 * m.num_features for m in block.modules() if isinstance(m, nn.BatchNorm2d))
    assert checks.check_block_params(truth + bn_stats, kind, in_planes, planes, stride) is False
    assert _said(capsys, "buffers")
    if down is not None:
        assert checks.check_block_params(truth - sum(p.numel() for p in down.parameters()),
                                         kind, in_planes, planes, stride) is False
        assert _said(capsys, "projection")


@pytest.mark.parametrize("name,blocks,bottleneck", [("resnet18", (2, 2, 2, 2), False), ("resnet34", (3, 4, 6, 3), False),
                                                    ("resnet50", (3, 4, 6, 3), True), ("resnet101", (3, 4, 23, 3), True),
                                                    ("resnet152", (3, 8, 36, 3), True)])
def test_check_layer_count_agrees_with_torchvision(name, blocks, bottleneck, capsys):
    net = getattr(torchvision.models, name)()  # count the weighted layers of the real thing
    layers = [n for n, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    main_path = [n for n in layers if "downsample" not in n]
    assert checks.check_layer_count(len(main_path), blocks, bottleneck) is True
    assert str(len(main_path)) in name
    assert checks.check_layer_count(len(layers), blocks, bottleneck) is False
    assert _said(capsys, "not counted")
    assert checks.check_layer_count(len(main_path) - 2, blocks, bottleneck) is False
    assert _said(capsys, "+2")


@pytest.mark.parametrize("depth", [20, 56])
def test_check_projection_params(depth, capsys):
    net = models.resnet_cifar(depth, shortcut="B")
    option_b = sum(p.numel() for n, p in net.named_parameters() if ".downsample." in n)
    identity_blocks = [b for b in net.modules() if isinstance(b, models.BasicBlock) and b.downsample is None]
    option_c = option_b + sum(b.bn2.num_features ** 2 + 2 * b.bn2.num_features for b in identity_blocks)
    assert checks.check_projection_params(option_b, depth, "B") is True
    assert checks.check_projection_params(option_c, depth, "C") is True
    assert checks.check_projection_params(option_b, depth, "C") is False
    assert _said(capsys, "every block")
    assert checks.check_projection_params(16 * 32 + 32 * 64, depth, "B") is False
    assert _said(capsys, "*and* a BN")
    with pytest.raises(ValueError):
        checks.check_projection_params(0, depth, "A")


def _tv_layer2_shapes(stride_on):
    block = torchvision.models.resnet50().layer2[0]  # torchvision: stride on the 3x3 (v1.5)
    if stride_on == "1x1":  # move the stride to the first 1x1, as in the original Caffe model
        block.conv1.stride, block.conv2.stride = (2, 2), (1, 1)
    seen = []
    for c in (block.conv1, block.conv2, block.conv3):
        c.register_forward_hook(lambda m, a, o: seen.append(tuple(o.shape[1:])))
    with torch.no_grad():
        block(torch.zeros(1, 256, 56, 56))
    return seen


@pytest.mark.parametrize("stride_on", ["1x1", "3x3"])
def test_check_stride_shapes_agrees_with_torchvision(stride_on, capsys):
    truth, other = _tv_layer2_shapes(stride_on), _tv_layer2_shapes("3x3" if stride_on == "1x1" else "1x1")
    assert truth != other
    assert checks.check_stride_shapes(truth, stride_on) is True
    assert checks.check_stride_shapes([list(s) for s in truth], stride_on) is True
    assert checks.check_stride_shapes(other, stride_on) is False
    assert _said(capsys, "those are the shapes")
    assert checks.check_stride_shapes(None, stride_on) is False


def test_check_head(capsys):
    assert checks.check_head(lambda c, k: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, k))) is True
    assert checks.check_head(lambda c, k: nn.Sequential(nn.AvgPool2d(7), nn.Flatten(), nn.Linear(c, k))) is False
    assert _said(capsys, "fails on a 1x1 feature map")
    assert checks.check_head(lambda c, k: nn.Sequential(nn.Flatten(), nn.Linear(c * 49, k))) is False
    assert _said(capsys, "fits one input size only")
    top_left = lambda c, k: nn.Sequential(nn.AdaptiveAvgPool2d(8), nn.Flatten(), nn.Linear(64 * c, k))  # noqa: E731
    assert checks.check_head(top_left) is False
    assert _said(capsys, "different answer")
    assert checks.check_head(None) is False


def _block(pad=1, conv2_on_input=False, name="expansion", final_relu=True):
    """A basic block written from scratch, with one switchable bug at a time."""
    class Block(nn.Module):
        def __init__(self, in_planes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, padding=pad, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(x if conv2_on_input else out))
            out = out + (x if self.downsample is None else self.downsample(x))
            return torch.relu(out) if final_relu else out
    setattr(Block, name, 1)
    return Block


def test_check_block_accepts_torchvision_and_a_fresh_block(capsys):
    assert checks.check_block(TvBasicBlock) is True
    assert checks.check_block(_block()) is True
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize("bug,text", [(dict(pad=0), "padding=1"),
                                      (dict(conv2_on_input=True), "does not depend on conv1"),
                                      (dict(name="expension"), "`expension`: a typo?"),
                                      (dict(final_relu=False), "ReLU after the addition")])
def test_check_block_names_each_bug(bug, text, capsys):
    assert checks.check_block(_block(**bug)) is False
    assert text in capsys.readouterr().out


def test_check_block_with_wrong_names_or_sizes(capsys):
    class Renamed(TvBasicBlock):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.c1 = self.conv1
            del self.conv1
    assert checks.check_block(Renamed) is False
    assert "names differ" in capsys.readouterr().out
    assert checks.check_block(lambda *a: TvBottleneck(*a)) is False
    assert "parameters instead of" in capsys.readouterr().out
    assert checks.check_block(None) is False


def _stage(block, in_planes, planes, blocks, stride=1, loop=None, attr="expansion", stride_everywhere=False):
    out = planes * getattr(block, attr)
    down = None
    if stride != 1 or in_planes != out:
        down = nn.Sequential(nn.Conv2d(in_planes, out, 1, stride, bias=False), nn.BatchNorm2d(out))
    layers = [block(in_planes, planes, stride, down)]
    for _ in (loop or range)(1, blocks):
        layers.append(block(out, planes, stride if stride_everywhere else 1,
                            (nn.Sequential(nn.Conv2d(out, out, 1, stride, bias=False), nn.BatchNorm2d(out))
                             if stride_everywhere and stride > 1 else None)))
    return nn.Sequential(*layers)


def test_check_make_stage(capsys):
    assert checks.check_make_stage(_stage) is True
    assert checks.check_make_stage(lambda *a: _stage(*a, loop=lambda a, b: (a, b))) is False
    out = capsys.readouterr().out
    assert "range(1, blocks)" in out and "has 3 blocks" not in out
    assert checks.check_make_stage(lambda *a: _stage(*a, attr="expension")) is False
    assert "spell it `expansion`" in capsys.readouterr().out
    assert checks.check_make_stage(lambda *a: _stage(*a, stride_everywhere=True)) is False
    assert "parameters, expected" in capsys.readouterr().out
    assert checks.check_make_stage(None) is False


def _cifar_net(pool=None, n=3):
    """A CIFAR ResNet-(6n+2), option B, written from scratch on torchvision's BasicBlock."""
    net = nn.Module()
    net.conv1, net.bn1 = nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
    net.layer1, net.layer2, net.layer3 = _stage(TvBasicBlock, 16, 16, n), _stage(TvBasicBlock, 16, 32, n, 2), \
        _stage(TvBasicBlock, 32, 64, n, 2)
    net.avgpool, net.fc = pool or nn.AdaptiveAvgPool2d(1), nn.Linear(64, 10)
    net.forward = lambda x: net.fc(torch.flatten(net.avgpool(net.layer3(net.layer2(net.layer1(
        torch.relu(net.bn1(net.conv1(x))))))), 1))
    return net


def test_check_cifar_resnet(capsys):
    assert checks.check_cifar_resnet(_cifar_net) is True
    assert checks.check_cifar_resnet(lambda: _cifar_net(nn.AvgPool2d(4))) is False
    out = capsys.readouterr().out
    assert "turns the last 8x8 map into 2x2" in out and "mat1 and mat2" in out
    assert checks.check_cifar_resnet(lambda: _cifar_net(nn.AvgPool2d(8))) is False  # right at 32x32 only
    assert "16x16 map into 2x2" in capsys.readouterr().out
    assert checks.check_cifar_resnet(lambda: _cifar_net(n=2)) is False
    assert "parameters instead of" in capsys.readouterr().out
    assert checks.check_cifar_resnet(lambda: 1 / 0) is False
    assert checks.check_cifar_resnet(None) is False


@pytest.mark.parametrize("check", ["check_block", "check_make_stage", "check_cifar_resnet", "check_head"])
@pytest.mark.parametrize("junk", ["BasicBlock", 3, lambda *a: 5, lambda *a: 1 / 0])
def test_code_checks_never_raise_on_junk(check, junk, capsys):
    assert getattr(checks, check)(junk) is False
    assert "Not yet" in capsys.readouterr().out


@pytest.mark.parametrize("junk", [[128, 28, 28], "128x28x28", 512, [(128, 28)]])
def test_check_stride_shapes_never_raises(junk):
    assert checks.check_stride_shapes(junk, "1x1") is False
