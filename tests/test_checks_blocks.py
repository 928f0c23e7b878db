"""course_utils.checks.blocks (notebook 04): the code checks accept torchvision's and
fresh implementations and name the symptom of each planted bug (the seed posts' bugs one at a
time, and the notebook's own buggy cells); the counts agree with torchvision."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock as TvBasicBlock
from torchvision.models.resnet import Bottleneck as TvBottleneck

from course_utils import checks, models
from course_utils.paths import repo_root


def _said(capsys, text: str) -> bool:
    return text in capsys.readouterr().out


@pytest.mark.parametrize(
    "name,blocks,bottleneck",
    [
        ("resnet18", (2, 2, 2, 2), False),
        ("resnet34", (3, 4, 6, 3), False),
        ("resnet50", (3, 4, 6, 3), True),
        ("resnet101", (3, 4, 23, 3), True),
        ("resnet152", (3, 8, 36, 3), True),
    ],
)
def test_check_layer_count_agrees_with_torchvision(name, blocks, bottleneck, capsys):
    net = getattr(torchvision.models, name)()  # count the weighted layers of the real thing
    layers = [n for n, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    main_path = [n for n in layers if "downsample" not in n]
    assert checks.check_layer_count(len(main_path), blocks, bottleneck)
    assert str(len(main_path)) in name
    assert not checks.check_layer_count(len(layers), blocks, bottleneck)
    assert _said(capsys, "not counted")
    assert not checks.check_layer_count(len(main_path) - 2, blocks, bottleneck)
    assert _said(capsys, "+2")


@pytest.mark.parametrize(
    "layout,bottleneck",
    [((2, 2, 2, 2), False), ((3, 4, 6, 3), False), ((3, 4, 6, 3), True), ((3, 4, 23, 3), True), ((3, 24, 36, 3), True)],
)
def test_check_layer_count_of_conv_modules_agrees_with_torchvision(layout, bottleneck, capsys):
    block = TvBottleneck if bottleneck else TvBasicBlock
    with torch.device("meta"):  # torchvision's own ResNet class (ResNet-200 has no builder there): count, no storage
        net = torchvision.models.resnet.ResNet(block, list(layout))
    n_convs = sum(isinstance(m, nn.Conv2d) for m in net.modules())
    depth = sum(isinstance(m, (nn.Conv2d, nn.Linear)) for n, m in net.named_modules() if "downsample" not in n)
    assert checks.check_layer_count(n_convs, layout, bottleneck, convs=True)
    assert not checks.check_layer_count(depth, layout, bottleneck, convs=True)
    assert _said(capsys, "leaves out the projection")
    assert not checks.check_layer_count(n_convs + 1, layout, bottleneck, convs=True)
    assert _said(capsys, "nn.Linear, not an nn.Conv2d")
    if bottleneck:  # layer1's first bottleneck has a projection too
        assert not checks.check_layer_count(n_convs - 1, layout, bottleneck, convs=True)
        assert _said(capsys, "layer1's first block")
    assert not checks.check_layer_count(None, layout, bottleneck, convs=True)
    assert _said(capsys, "Not answered yet")


def test_resnet200_layer_count_is_its_name(capsys):
    with torch.device("meta"):
        net = torchvision.models.resnet.ResNet(TvBottleneck, [3, 24, 36, 3])
    depth = sum(isinstance(m, (nn.Conv2d, nn.Linear)) for n, m in net.named_modules() if "downsample" not in n)
    assert depth == 200 and checks.check_layer_count(200, (3, 24, 36, 3), True)
    assert checks.check_layer_count(203, (3, 24, 36, 3), True, convs=True)  # 200 - the fc + 4 projections


@pytest.mark.parametrize("depth", [20, 44, 56])
def test_check_projection_params(depth, capsys):
    net = models.resnet_cifar(depth, shortcut="B")
    option_b = sum(p.numel() for n, p in net.named_parameters() if ".downsample." in n)
    blocks = [b for b in net.modules() if isinstance(b, models.BasicBlock)]
    identity_blocks = [b for b in blocks if b.downsample is None]
    added = sum(b.bn2.num_features**2 + 2 * b.bn2.num_features for b in identity_blocks)
    option_c = option_b + added
    assert checks.check_projection_params(option_b, depth, "B")
    assert checks.check_projection_params(option_c, depth, "C")
    assert not checks.check_projection_params(option_b, depth, "C")
    assert _said(capsys, "every block")
    assert not checks.check_projection_params(added, depth, "C")
    assert _said(capsys, "keeps option B's two projections")
    every_block = sum(b.bn2.num_features**2 + 2 * b.bn2.num_features for b in blocks)  # C x C on all 3n blocks
    assert not checks.check_projection_params(every_block, depth, "C")
    assert _said(capsys, "16->32, 32->64")
    assert not checks.check_projection_params(16 * 32 + 32 * 64, depth, "B")
    assert _said(capsys, "*and* a BN")
    with pytest.raises(ValueError):
        checks.check_projection_params(0, depth, "A")


def _tv_first_block_shapes(stride_on, stage=2):
    block = getattr(torchvision.models.resnet50(), f"layer{stage}")[0]  # torchvision: stride on the 3x3 (v1.5)
    if stride_on == "1x1":  # move the stride to the first 1x1, as in the original Caffe model
        block.conv1.stride, block.conv2.stride = (2, 2), (1, 1)
    seen = []
    for c in (block.conv1, block.conv2, block.conv3):
        c.register_forward_hook(lambda m, a, o: seen.append(tuple(o.shape[1:])))
    side = 56 // 2 ** (stage - 2)  # the map a 224x224 image leaves at the stage's input
    with torch.no_grad():
        block(torch.zeros(1, block.conv1.in_channels, side, side))
    return seen


@pytest.mark.parametrize("stage", [2, 3, 4])
@pytest.mark.parametrize("stride_on", ["1x1", "3x3"])
def test_check_stride_shapes_agrees_with_torchvision(stride_on, stage, capsys):
    truth = _tv_first_block_shapes(stride_on, stage)
    other = _tv_first_block_shapes("3x3" if stride_on == "1x1" else "1x1", stage)
    assert truth != other
    assert checks.check_stride_shapes(truth, stride_on, stage)
    assert checks.check_stride_shapes([list(s) for s in truth], stride_on, stage)
    assert not checks.check_stride_shapes(other, stride_on, stage)
    assert _said(capsys, "those are the shapes")
    c, h, w = truth[2]
    unstrided = [(c // 4, 2 * h, 2 * w)] * 2 + [(c, 2 * h, 2 * w)]
    assert not checks.check_stride_shapes(unstrided, stride_on, stage)
    assert _said(capsys, "halves H and W")
    if stage > 2:
        assert not checks.check_stride_shapes(_tv_first_block_shapes(stride_on, stage - 1), stride_on, stage)
        assert _said(capsys, f"layer{stage - 1}'s shapes")
    assert not checks.check_stride_shapes(None, stride_on, stage)


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
    assert checks.check_block(TvBasicBlock)
    assert checks.check_block(_block())
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize(
    "bug,text",
    [
        (dict(pad=0), "conv1 turns an 8x8 map into 6x6 at stride 1"),
        (dict(conv2_on_input=True), "does not depend on conv1"),
        (dict(name="expension"), "`expansion` is missing (it defines `expension`)"),
        (dict(final_relu=False), "negative values"),
    ],
)
def test_check_block_names_each_bug(bug, text, capsys):
    assert not checks.check_block(_block(**bug))
    assert text in capsys.readouterr().out


def test_check_block_with_wrong_names_or_sizes(capsys):
    class Renamed(TvBasicBlock):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.c1 = self.conv1
            del self.conv1

    assert not checks.check_block(Renamed)
    assert "names differ" in capsys.readouterr().out
    assert not checks.check_block(lambda *a: TvBottleneck(*a))
    assert "parameters instead of" in capsys.readouterr().out
    assert not checks.check_block(None)


def _stage(block, in_planes, planes, blocks, stride=1, loop=None, attr="expansion", stride_everywhere=False):
    out = planes * getattr(block, attr)
    down = None
    if stride != 1 or in_planes != out:
        down = nn.Sequential(nn.Conv2d(in_planes, out, 1, stride, bias=False), nn.BatchNorm2d(out))
    layers = [block(in_planes, planes, stride, down)]
    for _ in (loop or range)(1, blocks):
        layers.append(
            block(
                out,
                planes,
                stride if stride_everywhere else 1,
                (
                    nn.Sequential(nn.Conv2d(out, out, 1, stride, bias=False), nn.BatchNorm2d(out))
                    if stride_everywhere and stride > 1
                    else None
                ),
            )
        )
    return nn.Sequential(*layers)


def test_check_make_stage(capsys):
    assert checks.check_make_stage(_stage)
    assert not checks.check_make_stage(lambda *a: _stage(*a, loop=lambda a, b: (a, b)))
    out = capsys.readouterr().out
    assert "asked for 1, 2, 3, 5 blocks, got 3 every time" in out and "has 3 blocks" not in out
    assert "range" not in out  # the symptom, not the fix
    assert not checks.check_make_stage(lambda *a: _stage(*a, attr="expension"))
    assert "reads `block.expension`" in capsys.readouterr().out
    assert not checks.check_make_stage(lambda *a: _stage(*a, stride_everywhere=True))
    assert "parameters, expected" in capsys.readouterr().out
    assert not checks.check_make_stage(None)


def _cifar_net(pool=None, n=3):
    """A CIFAR ResNet-(6n+2), option B, written from scratch on torchvision's BasicBlock."""
    net = nn.Module()
    net.conv1, net.bn1 = nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
    net.layer1, net.layer2, net.layer3 = (
        _stage(TvBasicBlock, 16, 16, n),
        _stage(TvBasicBlock, 16, 32, n, 2),
        _stage(TvBasicBlock, 32, 64, n, 2),
    )
    net.avgpool, net.fc = pool or nn.AdaptiveAvgPool2d(1), nn.Linear(64, 10)
    net.forward = lambda x: net.fc(
        torch.flatten(net.avgpool(net.layer3(net.layer2(net.layer1(torch.relu(net.bn1(net.conv1(x))))))), 1)
    )
    return net


def test_check_cifar_resnet(capsys):
    assert checks.check_cifar_resnet(_cifar_net)
    assert not checks.check_cifar_resnet(lambda: _cifar_net(nn.AvgPool2d(4)))
    out = capsys.readouterr().out
    assert "turns the last 8x8 map into 2x2" in out and "mat1 and mat2" in out and "in fc (Linear)" in out
    assert "Adaptive" not in out  # the symptom, not the fix
    assert not checks.check_cifar_resnet(lambda: _cifar_net(nn.AvgPool2d(8)))  # right at 32x32 only
    assert "16x16 map into 2x2" in capsys.readouterr().out
    net = _cifar_net()
    net.forward = lambda x: net.fc(  # no ReLU after the stem's BN
        torch.flatten(net.avgpool(net.layer3(net.layer2(net.layer1(net.bn1(net.conv1(x)))))), 1)
    )
    assert not checks.check_cifar_resnet(lambda: net)
    assert "output differs from the reference's; first: layer1.0.conv1 (Conv2d)" in capsys.readouterr().out
    assert not checks.check_cifar_resnet(lambda: _cifar_net(n=2))
    assert "parameters instead of" in capsys.readouterr().out
    assert not checks.check_cifar_resnet(lambda: 1 / 0)
    assert not checks.check_cifar_resnet(None)


def _bottleneck(kernel=True, forward=True):
    """A bottleneck block written from scratch (seed 002's layout), with seed bugs as switches."""

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, in_planes, planes, stride=1, downsample=None):
            super().__init__()
            k = {"kernel_size": 1} if kernel else {}  # seed 002: nn.Conv2d(c, c) without a kernel size
            self.conv1, self.bn1 = nn.Conv2d(in_planes, planes, bias=False, **k), nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3, self.relu, self.downsample = nn.BatchNorm2d(planes * 4), nn.ReLU(), downsample

        def go(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn3(self.conv3(self.relu(self.bn2(self.conv2(out)))))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    if forward:  # seed 000: a Bottleneck without forward
        Bottleneck.forward = Bottleneck.go
    return Bottleneck


def test_check_block_bottleneck(capsys):
    assert checks.check_block(TvBottleneck, kind="bottleneck")
    assert checks.check_block(_bottleneck(), kind="bottleneck")
    assert (
        "Correct: same parameters, same layer names and the same outputs as models.Bottleneck"
        in capsys.readouterr().out
    )
    assert not checks.check_block(_bottleneck(kernel=False), kind="bottleneck")
    assert "fails: TypeError" in (out := capsys.readouterr().out) and "kernel_size" in out
    assert not checks.check_block(_bottleneck(forward=False), kind="bottleneck")
    assert 'fails in forward: NotImplementedError: Module [Bottleneck] is missing the required "forward"' in (
        capsys.readouterr().out
    )
    assert not checks.check_block(TvBasicBlock, kind="bottleneck")
    assert "`expansion` is 1" in capsys.readouterr().out
    with pytest.raises(ValueError):
        checks.check_block(TvBasicBlock, kind="preact")


class _ResNet(nn.Module):
    """An ImageNet ResNet written from scratch in the seed posts' style; ``bugs`` plants their bugs."""

    def __init__(self, block, layers, input_size=(224, 224), num_classes=1000, bugs=()):
        super().__init__()
        self.in_planes, self.bugs = 64, bugs
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
        self.relu, self.maxpool = nn.ReLU(), nn.MaxPool2d(3, 2, 1)
        make = self._make_layer_no_default if "no default stride" in bugs else self._make_layer
        self.layer1 = make(block, 64, layers[0])
        self.layer2, self.layer3 = make(block, 128, layers[1], 2), make(block, 256, layers[2], 2)
        self.layer4 = make(block, 512, layers[3], 2)
        f = lambda v: v // 32
        self.avgpool = nn.AvgPool2d((1, 1)) if "pool (1, 1)" in bugs else nn.AdaptiveAvgPool2d(1)
        width = 512 * f(input_size[0] * f(input_size[1])) if "fc from input size" in bugs else 512 * block.expansion
        self.fc = nn.Linear(width, num_classes)

    def _make_layer(self, block, planes, blocks, stride=1):
        out = planes * block.expansion
        down = None
        if stride != 1 or self.in_planes != out:
            down = nn.Sequential(nn.Conv2d(self.in_planes, out, 1, stride, bias=False), nn.BatchNorm2d(out))
        width = out if "double expansion" in self.bugs else planes
        layers = [block(self.in_planes, width, stride, down)]
        self.in_planes = out
        return nn.Sequential(*layers, *[block(out, planes) for _ in range(1, blocks)])

    def _make_layer_no_default(self, block, planes, blocks, stride):  # seed 002: no default stride
        return self._make_layer(block, planes, blocks, stride)

    def forward(self, x):
        x = self.bn1(self.conv1(x))
        x = self.maxpool(x if "no stem ReLU" in self.bugs else self.relu(x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@pytest.mark.parametrize(
    "bugs,symptoms",
    [
        ((), ["Correct: the same network as models.ResNet(Bottleneck, [1, 1, 1, 1]) (ResNet-14)"]),
        (("no stem ReLU",), ["output differs from the reference's; first: maxpool (MaxPool2d)"]),
        (("no default stride",), ["build() fails: TypeError", "missing 1 required positional argument: 'stride'"]),
        (
            ("double expansion",),
            [
                "fails on 64x64 images in layer1.0 (Bottleneck): RuntimeError",
                "first: layer1.0.conv1 (Conv2d) outputs (2, 256, 16, 16), the reference (2, 64, 16, 16)",
                "layer1.0.conv1.weight has shape (256, 64, 1, 1), the reference's (64, 64, 1, 1)",
            ],
        ),
        (("pool (1, 1)",), ["avgpool turns the last 2x2 map into 2x2, not 1x1", "in fc (Linear)"]),
        (
            ("fc from input size",),
            ["in fc (Linear): RuntimeError", "fc.weight has shape (1000, 25088), the reference's (1000, 2048)"],
        ),
    ],
)
def test_check_resnet_names_the_symptom_of_each_seed_bug(bugs, symptoms, capsys):
    tiny = (1, 1, 1, 1)  # every stage, one block each: the same bugs, a quarter of ResNet-50's time
    assert bool(checks.check_resnet(lambda: _ResNet(TvBottleneck, tiny, bugs=bugs), layers=tiny)) == (not bugs)
    out = capsys.readouterr().out
    assert all(s in out for s in symptoms), out
    assert "nn.Adaptive" not in out and "ReLU(" not in out  # symptoms, never the fix


def test_check_resnet_basic_blocks_and_junk(capsys):
    assert checks.check_resnet(lambda: _ResNet(TvBasicBlock, (2, 2, 2, 2)), (2, 2, 2, 2), bottleneck=False)
    assert "ResNet-18" in capsys.readouterr().out
    assert not checks.check_resnet(lambda: _ResNet(TvBasicBlock, (2, 2, 2, 2)), (1, 1, 1, 1), bottleneck=False)
    assert "parameters instead of" in capsys.readouterr().out
    assert not checks.check_resnet(None)


def _cells(tag: str) -> str:
    """The source of notebook 04's code cells tagged ``tag``: the real exercise code, run here."""
    nb = json.loads((repo_root() / "notebooks" / "04_building_blocks.ipynb").read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and tag in c["metadata"].get("tags", [])]
    return "\n".join("".join(c["source"]) for c in code)


# Each seed bug put back, alone, into the notebook's round-2 solution: (fixed text, buggy text, symptom shown).
_ROUND_2 = [
    (
        "nn.Conv2d(in_planes, planes, kernel_size=1, bias=False)",
        "nn.Conv2d(in_planes, planes, bias=False)",
        "kernel_size",
    ),
    ("def forward(self, x):  # fix: the forward", "def _forward(self, x):  # ", 'missing the required "forward"'),
    ("blocks, stride=1):", "blocks, stride):", "missing 1 required positional argument: 'stride'"),
    (
        "block(self.in_planes, planes, stride, downsample)",
        "block(self.in_planes, out_planes, stride, downsample)",
        "first: layer1.0.conv1 (Conv2d) outputs (2, 256, 16, 16), the reference (2, 64, 16, 16)",
    ),
    ("self.maxpool(self.relu(self.bn1(self.conv1(x))))", "self.maxpool(self.bn1(self.conv1(x)))", "first: maxpool"),
    ("nn.AdaptiveAvgPool2d(1)", "nn.AvgPool2d((1, 1))", "avgpool turns the last 2x2 map into 2x2, not 1x1"),
    (
        "nn.Linear(512 * block.expansion, num_classes)",
        "nn.Linear(512, num_classes)",
        "fc.weight has shape (1000, 512), the reference's (1000, 2048)",
    ),
]


@pytest.mark.slow
def test_the_notebooks_buggy_round_two_fails_and_its_solution_passes(capsys):
    buggy = {"nn": nn, "torch": torch}
    exec(_cells("buggy-round-2"), buggy)
    assert not checks.check_block(buggy["BuggyBottleneck"], kind="bottleneck")
    assert "kernel_size" in capsys.readouterr().out
    assert not checks.check_resnet(lambda: buggy["BuggyResNet"](buggy["BuggyBottleneck"], [3, 4, 6, 3]))
    assert "build() fails" in capsys.readouterr().out
    fixed = _cells("solution-round-2")
    tiny = (1, 1, 1, 1)
    for right, wrong, symptom in [(None, None, "Correct")] + _ROUND_2:
        ns = {"nn": nn, "torch": torch}
        assert right is None or fixed.count(right) == 1, right
        exec(fixed if right is None else fixed.replace(right, wrong), ns)
        verdicts = [checks.check_block(ns["Bottleneck"], kind="bottleneck")]
        verdicts.append(checks.check_resnet(lambda: ns["ResNet"](ns["Bottleneck"], tiny), layers=tiny))
        out = capsys.readouterr().out
        assert all(verdicts) == (right is None) and symptom in out, (wrong, out)


_ROUND_1 = [  # each bug of round 1 put back, alone, into the notebook's solution
    ("expansion = 1  # fix", "expension = 1  #", "`expansion` is missing (it defines `expension`)"),
    ("stride=stride, padding=1, bias=False)", "stride=stride, bias=False)", "conv1 turns an 8x8 map into 6x6"),
    ("self.conv2(out))  # fix", "self.conv2(x))  #", "does not depend on conv1"),
    ("for _ in range(1, blocks):", "for _ in (1, blocks):", "got 3 every time"),
    ("nn.AdaptiveAvgPool2d(1)", "nn.AvgPool2d(8)", "the last 16x16 map into 2x2, not 1x1"),
]


def test_the_notebooks_buggy_round_one_fails_and_its_solution_passes(capsys):
    buggy = {"nn": nn, "torch": torch}
    exec(_cells("buggy-round-1"), buggy)
    assert not checks.check_block(buggy["BuggyBasicBlock"])
    assert not checks.check_make_stage(buggy["buggy_make_stage"])
    assert not checks.check_cifar_resnet(lambda: buggy["BuggyCifarResNet"](buggy["BuggyBasicBlock"], n=3))
    assert "Not yet" in capsys.readouterr().out
    fixed = _cells("solution-round-1")
    for right, wrong, symptom in [(None, None, "Correct")] + _ROUND_1:
        ns = {"nn": nn, "torch": torch}
        assert right is None or fixed.count(right) == 1, right
        exec(fixed if right is None else fixed.replace(right, wrong), ns)
        verdicts = [
            checks.check_block(ns["BasicBlock"]),
            checks.check_make_stage(ns["make_stage"]),
            checks.check_cifar_resnet(lambda: ns["CifarResNet"](ns["BasicBlock"], n=3)),
        ]
        out = capsys.readouterr().out
        assert all(verdicts) == (right is None) and symptom in out, (wrong, out)


@pytest.mark.parametrize("check", ["check_block", "check_make_stage", "check_cifar_resnet", "check_resnet"])
@pytest.mark.parametrize("junk", ["BasicBlock", 3, lambda *a: 5, lambda *a: 1 / 0])
def test_code_checks_never_raise_on_junk(check, junk, capsys):
    assert not getattr(checks, check)(junk)
    assert "Not yet" in capsys.readouterr().out


@pytest.mark.parametrize("junk", [[128, 28, 28], "128x28x28", 512, [(128, 28)]])
def test_check_stride_shapes_never_raises(junk):
    assert not checks.check_stride_shapes(junk, "1x1")
