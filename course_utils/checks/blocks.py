"""Exercise checks of notebooks 03-04 (shape arithmetic, building blocks)."""
from __future__ import annotations

import math
from typing import Any, Callable

from torch import nn
import torch

from course_utils import models
from course_utils.checks._verdict import report, unanswered


def _first_slip(answer: Any, truth: Any, slips: list[tuple[Any, str]], fallback: str) -> str:
    """The hint of the first slip whose value equals ``answer`` (skipping slips equal to the truth)."""
    for value, hint in slips:
        if value != truth and answer == value:
            return hint
    return fallback


def _torch_conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """The truth from torch itself: the output width of a real ``nn.Conv2d`` (0 if nothing fits)."""
    conv = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation, bias=False)
    try:
        with torch.no_grad():
            return conv(torch.zeros(1, 1, size, size)).shape[-1]
    except RuntimeError:  # "kernel size can't be greater than actual input size"
        return 0


def check_conv_out(answer: Any, size: int, kernel: int, stride: int = 1, padding: int = 0,
                   dilation: int = 1) -> bool:
    """Output size of a conv on a ``size`` x ``size`` input, checked against ``nn.Conv2d``."""
    if unanswered(answer):
        return False
    truth = _torch_conv_out(size, kernel, stride, padding, dilation)
    span = dilation * (kernel - 1) + 1  # the window's extent
    inner = size + 2 * padding - span
    slips = [
        (inner / stride + 1, "the division is rounded down (floor): a window that would stick out "
                             "past the padding is simply not used."),
        (inner // stride, "count the first window too: floor(...) counts the steps *after* it, so add 1."),
        (math.ceil(inner / stride) + 1, "convolutions round down (floor); only pooling with "
                                        "ceil_mode=True rounds up."),
        ((size + padding - span) // stride + 1, "padding goes on both sides: add 2p, not p."),
        ((size - span) // stride + 1, f"the {padding} pixel(s) of padding on each side widen the input to "
                                      f"{size + 2 * padding}."),
        ((size + 2 * padding - kernel) // stride + 1, f"a dilated kernel spans d(k-1)+1 = {span} pixels, "
                                                      f"not {kernel}."),
    ]
    hint = _first_slip(answer, truth, slips, "use out = floor((in + 2p - d(k-1) - 1) / s) + 1.")
    return report(answer == truth,
                  f"{truth} = floor(({size} + 2·{padding} - {dilation}·({kernel}-1) - 1) / {stride}) + 1, "
                  "as nn.Conv2d computes it.", f"{answer} is not it: {hint}")


def check_receptive_field(answer: Any, layers: list[tuple[int, ...]]) -> bool:
    """Receptive field of the last layer of a stack given as ``(kernel, stride[, dilation])`` tuples."""
    if unanswered(answer):
        return False
    rf, jump, no_jump = 1, 1, 1
    for k, s, *d in layers:
        rf += (d[0] if d else 1) * (k - 1) * jump  # each tap step moves `jump` input pixels
        no_jump += (d[0] if d else 1) * (k - 1)
        jump *= s
    slips = [(no_jump, "after a stride-s layer, one step of a later kernel moves s input pixels: "
                       "multiply each (k-1) by the product of the strides before it (the jump)."),
             (sum(k for k, *_ in layers), "receptive fields do not add kernel sizes: each layer adds "
                                          "(k-1)·jump, two 3x3 convs see 5x5, not 6x6."),
             (math.prod(k for k, *_ in layers), "receptive fields grow by addition, not multiplication.")]
    hint = _first_slip(answer, rf, slips, "start at 1, then add (k-1)·jump per layer, jump *= stride.")
    return report(answer == rf, f"{rf}x{rf} input pixels reach one output of the last layer.",
                  f"{answer} is not it: {hint}")


def check_conv_params(answer: Any, in_channels: int, out_channels: int, kernel: int,
                      bias: bool = False) -> bool:
    """Parameters of one ``nn.Conv2d``; the truth is counted on a real module."""
    if unanswered(answer):
        return False
    truth = models.count_params(nn.Conv2d(in_channels, out_channels, kernel, bias=bias))
    w = in_channels * out_channels * kernel * kernel
    slips = [(w + out_channels, "this conv has bias=False (the BN after it has its own shift)."),
             (w, f"bias=True adds one parameter per output channel (+{out_channels})."),
             (out_channels * kernel * kernel + bias * out_channels,
              "every filter spans all input channels: multiply by C_in."),
             (in_channels * out_channels + bias * out_channels, "each filter has k·k weights per input channel."),
             (in_channels * out_channels * kernel + bias * out_channels, "a k x k kernel has k² weights, not k.")]
    hint = _first_slip(answer, truth, slips, "weights = C_in · C_out · k · k (+ C_out if bias).")
    return report(answer == truth, f"{truth:,} = {in_channels}·{out_channels}·{kernel}·{kernel}"
                  + (f" + {out_channels}" if bias else "") + ".", f"{answer} is not it: {hint}")


def check_conv_macs(answer: Any, in_channels: int, out_channels: int, kernel: int, size: int,
                    stride: int = 1, padding: int | None = None) -> bool:
    """Multiply-accumulates of one bias-free conv on a ``size`` x ``size`` input ("same" padding by default)."""
    if unanswered(answer):
        return False
    padding = (kernel - 1) // 2 if padding is None else padding
    out = _torch_conv_out(size, kernel, stride, padding)
    per_position = in_channels * out_channels * kernel * kernel  # = the weights
    truth = per_position * out * out
    slips = [(2 * truth, "that is the FLOP count (one multiply + one add per MAC); count MACs."),
             (per_position * size * size, f"count per *output* position: the output is {out}x{out}, "
                                          f"not {size}x{size}."),
             (per_position, "that is the weight count: each weight is used once per output position."),
             (out_channels * kernel * kernel * out * out, "each output value sums over all C_in input channels.")]
    hint = _first_slip(answer, truth, slips, "MACs = C_in · k · k · C_out · H_out · W_out.")
    return report(answer == truth, f"{truth:,} = {per_position:,} weights x {out}·{out} output positions.",
                  f"{answer} is not it: {hint}")


def _reference_block(kind: str, in_planes: int, planes: int, stride: int = 1,
                     stride_on: str = "3x3") -> nn.Module:
    """models.BasicBlock / Bottleneck with an option-B projection where the shape changes."""
    block = models.BasicBlock if kind == "basic" else models.Bottleneck
    out = planes * block.expansion
    down = None
    if stride != 1 or in_planes != out:
        down = nn.Sequential(models.conv1x1(in_planes, out, stride), nn.BatchNorm2d(out))
    return (models.BasicBlock(in_planes, planes, stride, down) if kind == "basic"
            else models.Bottleneck(in_planes, planes, stride, down, stride_on=stride_on))


def check_block_params(answer: Any, kind: str = "basic", in_planes: int = 64, planes: int = 64,
                       stride: int = 1) -> bool:
    """Parameters of one residual block (BN included, option-B projection where the shape changes)."""
    if unanswered(answer):
        return False
    block = _reference_block(kind, in_planes, planes, stride)
    truth = models.count_params(block)
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in block.modules() if isinstance(m, nn.BatchNorm2d)]
    w = sum(c.weight.numel() for c in convs)
    bn = sum(2 * b.num_features for b in bns)
    down = models.count_params(block.downsample) if block.downsample is not None else 0
    slips = [(w, "BatchNorm learns a scale and a shift per channel: add 2·C for every BN."),
             (w + 2 * bn, "BN's running mean and variance are buffers, not parameters: 2 per channel."),
             (w + bn + sum(c.out_channels for c in convs), "the convs of a ResNet have bias=False."),
             (truth - down, "the projection shortcut (1x1 conv + BN) has parameters too."),
             (2 * (9 * in_planes * in_planes + 2 * in_planes), "a bottleneck is 1x1 -> 3x3 -> 1x1, "
                                                               "not two 3x3 convs at full width.")]
    hint = _first_slip(answer, truth, slips, "add the conv weights (C_in·C_out·k·k each) and 2·C per BN.")
    return report(answer == truth, f"{truth:,} = {w:,} conv weights + {bn:,} BN parameters"
                  + (f" (projection shortcut included: {down:,})" if down else "") + ".",
                  f"{answer} is not it: {hint}")


def _run(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor | None, str]:
    """Run ``model(x)``; on failure return (None, "in <innermost module>: <error>")."""
    stack: list[str] = []
    names = {m: n for n, m in model.named_modules()}

    def enter(m: nn.Module, args: Any) -> None:
        stack.append(f"{names[m]} ({type(m).__name__})" if names[m] else "")

    def leave(m: nn.Module, args: Any, out: Any) -> None:
        stack.pop()

    hooks = [h for m in model.modules()
             for h in (m.register_forward_pre_hook(enter), m.register_forward_hook(leave))]
    try:
        with torch.no_grad():
            return model(x), ""
    except Exception as err:  # noqa: BLE001 -- any student error becomes a message
        where = next((n for n in reversed(stack) if n), "forward")
        return None, f"in {where}: {type(err).__name__}: {str(err).splitlines()[0]}"
    finally:
        for h in hooks:
            h.remove()


def _randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BN statistics (so BN is not the identity), eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in list(module.parameters()) + [b for n, b in module.named_buffers() if "running" in n]:
            t.copy_(torch.rand(t.shape, generator=g) * 0.5 + 0.5 if t.dim() == 1 else
                    torch.randn(t.shape, generator=g) * 0.1)
    return module.eval()


def _spelling(block_cls: type) -> str:
    """A hint when the class has a near-miss of ``expansion``."""
    near = [n for n in dir(block_cls) if n not in ("expansion",) and n.lower().startswith("exp")]
    return f" (found `{near[0]}`: a typo?)" if near else ""


def check_block(block_cls: Any) -> bool:
    """Compare a student's basic residual block with ``models.BasicBlock``; name each symptom found.

    ``block_cls(in_planes, planes, stride=1, downsample=None)`` must have conv1, bn1, conv2,
    bn2, downsample and ``expansion = 1``, like torchvision's BasicBlock.
    """
    if unanswered(block_cls):
        return False
    if not callable(block_cls):
        return report(False, "", "pass the class itself: check_block(MyBlock)")
    problems = []
    if getattr(block_cls, "expansion", None) != 1:
        problems.append("the class has no `expansion = 1`" + _spelling(block_cls) + "; every "
                        "builder reads `block.expansion` to know the output width.")
    for in_p, planes, stride in [(16, 16, 1), (16, 32, 2)]:
        ref = _randomize(_reference_block("basic", in_p, planes, stride))
        try:
            student = block_cls(in_p, planes, stride, ref.downsample)
        except Exception as err:  # noqa: BLE001
            problems.append(f"block_cls({in_p}, {planes}, {stride}, downsample) fails: {err}")
            continue
        if not isinstance(student, nn.Module):
            problems.append(f"block_cls(...) returned a {type(student).__name__}, not an nn.Module.")
            continue
        for name, conv in student.named_modules():  # each 3x3 conv alone: does it keep the size?
            if isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3):
                got = _torch_conv_out(8, 3, conv.stride[0], conv.padding[0])
                want = _torch_conv_out(8, 3, conv.stride[0], 1)
                if got != want and not any(p.startswith(f"{name} ") for p in problems):
                    problems.append(f"{name} turns 8x8 into {got}x{got} instead of {want}x{want}: a 3x3 conv "
                                    "needs padding=1 so that only the stride changes the size.")
        n_ref, n_st = models.count_params(ref), models.count_params(student)
        if n_ref != n_st:
            problems.append(f"{n_st:,} parameters instead of {n_ref:,} (block {in_p}->{planes}, stride {stride}).")
            continue
        try:
            student.load_state_dict(ref.state_dict())
        except RuntimeError as err:
            problems.append(f"the layer names differ from torchvision's: {str(err).splitlines()[0]}")
            continue
        x = torch.randn(2, in_p, 8, 8, generator=torch.Generator().manual_seed(1))
        y_ref, (y, err) = ref(x), _run(student.eval(), x)
        if y is None:
            hint = (" Is every conv applied to the output of the layer before it?" if "channels" in err else "")
            problems.append(f"block {in_p}->{planes}, stride {stride} fails {err}.{hint}")
        elif y.shape != y_ref.shape:
            problems.append(f"block {in_p}->{planes}, stride {stride} returns {tuple(y.shape)}, "
                            f"expected {tuple(y_ref.shape)}.")
        elif not torch.allclose(y, y_ref, atol=1e-5):
            with torch.no_grad():
                student.conv1.weight.add_(1.0)
            y2, _ = _run(student, x)
            if y2 is not None and torch.allclose(y, y2):
                problems.append("the output does not depend on conv1: conv2 is applied to the block "
                                "input x instead of the output of conv1 -> bn1 -> relu.")
            elif (y < 0).any():
                problems.append("the output has negative values: the ReLU after the addition is missing.")
            else:
                problems.append(f"same weights, different output than models.BasicBlock "
                                f"({in_p}->{planes}, stride {stride}): compare the forward passes.")
    problems = list(dict.fromkeys(problems))  # each once, in order
    for p in problems:
        print("❌ " + p)
    return report(not problems, "same parameters, same layer names and the same outputs as "
                  "models.BasicBlock, with and without a projection shortcut.", f"{len(problems)} problem(s) above.")


def _reference_stage(block: type, in_planes: int, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
    """A second implementation of ``_make_layer``: first block changes the shape, the rest keep it."""
    kind = "basic" if block is models.BasicBlock else "bottleneck"
    first = _reference_block(kind, in_planes, planes, stride)
    return nn.Sequential(first, *[block(planes * block.expansion, planes) for _ in range(1, blocks)])


def _build_stage(make_stage: Callable, block: type, args: tuple, problems: list[str]) -> nn.Module | None:
    """Call the student's builder; on a misspelled block attribute, note it and retry with an alias."""
    what = f"make_stage({block.__name__}, {', '.join(map(str, args))})"
    try:
        return make_stage(block, *args)
    except AttributeError as err:
        if not (err.name or "").lower().startswith("exp"):
            problems.append(f"{what} fails: AttributeError: {err}")
            return None
        problems.append(f"the builder reads `block.{err.name}`, but blocks spell it `expansion` "
                        "(torchvision's name): it fails on every correctly spelled block.")
        alias = type(block.__name__, (block,), {err.name: block.expansion})  # look past the typo
        return _build_stage(make_stage, alias, args, problems)
    except Exception as err:  # noqa: BLE001
        problems.append(f"{what} fails: {type(err).__name__}: {err}")
        return None


def check_make_stage(make_stage: Any) -> bool:
    """``make_stage(block, in_planes, planes, blocks, stride=1) -> nn.Sequential``, for both block types."""
    if unanswered(make_stage):
        return False
    if not callable(make_stage):
        return report(False, "", "pass the function itself: check_make_stage(make_stage)")
    problems: list[str] = []
    lengths: dict[int, int] = {}
    cases = [(models.BasicBlock, 16, 16, n, 1) for n in (1, 2, 3, 5)] + [
        (models.BasicBlock, 16, 32, 3, 2), (models.Bottleneck, 64, 16, 3, 1), (models.Bottleneck, 256, 128, 2, 2)]
    for block, in_p, planes, n, stride in cases:
        what = f"make_stage({block.__name__}, {in_p}, {planes}, {n}, {stride})"
        stage = _build_stage(make_stage, block, (in_p, planes, n, stride), problems)
        if not isinstance(stage, nn.Sequential):
            if stage is not None:
                problems.append(f"{what} returned a {type(stage).__name__}; return nn.Sequential(*blocks).")
            continue
        ref = _reference_stage(block, in_p, planes, n, stride)
        if len(stage) != n:
            lengths[n] = len(stage)
            problems.append(f"{what} has {len(stage)} blocks, expected {n}.")
        elif models.count_params(stage) != models.count_params(ref):
            problems.append(f"{what} has {models.count_params(stage):,} parameters, "
                            f"expected {models.count_params(ref):,}.")
        else:
            x = torch.randn(1, in_p, 8, 8)
            y, err = _run(stage, x)
            if y is None or y.shape != ref(x).shape:
                problems.append(f"{what}: " + (f"fails {err}" if y is None else f"returns {tuple(y.shape)}, "
                                f"expected {tuple(ref(x).shape)}"))
    if len(set(lengths.values())) == 1 and len(lengths) > 1 and 3 in lengths.values():
        problems = [p for p in problems if "blocks, expected" not in p]
        problems.append(f"asked for {', '.join(map(str, sorted(lengths)))} blocks, got 3 each time (asking "
                        "for 3 gives 3, by luck): `for _ in (1, blocks)` loops over the tuple (1, blocks), "
                        "always twice; use `range(1, blocks)`.")
    problems = list(dict.fromkeys(problems))
    for p in problems:
        print("❌ " + p)
    return report(not problems, "right number of blocks, stride and projection only in the first block, "
                  "same parameters as the reference, for BasicBlock and Bottleneck.",
                  f"{len(problems)} problem(s) above.")


def check_cifar_resnet(build: Any, depth: int = 20) -> bool:
    """``build()`` must give the CIFAR ResNet-``depth`` with option-B shortcuts: same as ``models.resnet_cifar``."""
    if unanswered(build):
        return False
    if not callable(build):
        return report(False, "", "pass a function that builds the model: check_cifar_resnet(lambda: MyNet(...))")
    problems = []
    try:
        model = build().eval()
    except Exception as err:  # noqa: BLE001
        return report(False, "", f"build() fails: {type(err).__name__}: {err}")
    ref = _randomize(models.resnet_cifar(depth, shortcut="B"))
    for name, pool in model.named_modules():  # the head alone: the last map is 8x8 (16x16 at 64x64)
        if "Pool" in type(pool).__name__:
            for side in (8, 16):
                got = tuple(pool(torch.zeros(1, 64, side, side)).shape[-2:])
                if got != (1, 1):
                    problems.append(f"{name} turns the last {side}x{side} map into {got[0]}x{got[1]}, not 1x1: "
                                    "the fc then gets the wrong number of features. Pool globally at any "
                                    "size: nn.AdaptiveAvgPool2d(1).")
                    break
    for size in (32, 64):
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size))
        y, err = _run(model, x)
        if y is None:
            hint = " (check_block and check_make_stage find the cause)" if "layer" in err else ""
            problems.append(f"the model fails on {size}x{size} images {err}{hint}.")
            break
    n_ref, n_st = models.count_params(ref), models.count_params(model)
    if n_ref != n_st:
        problems.append(f"{n_st:,} parameters instead of {n_ref:,}.")
    elif not problems:
        try:
            model.load_state_dict(ref.state_dict())
            x = torch.randn(2, 3, 32, 32)
            if not torch.allclose(model(x), ref(x), atol=1e-4):
                problems.append("same weights as models.resnet_cifar, different outputs.")
        except RuntimeError as err:
            problems.append(f"layer names differ from models.resnet_cifar: {str(err).splitlines()[0]}")
    for p in problems:
        print("❌ " + p)
    return report(not problems, f"the same network as models.resnet_cifar({depth}, shortcut='B'): "
                  "parameters, names and outputs, at 32x32 and 64x64.", f"{len(problems)} problem(s) above.")


def check_head(make_head: Any, channels: int = 512, num_classes: int = 10) -> bool:
    """``make_head(channels, num_classes)`` -> a module mapping (B, C, h, w) features to (B, classes) at ANY h, w."""
    if unanswered(make_head):
        return False
    if not callable(make_head):
        return report(False, "", "pass the function itself: check_head(make_head)")
    try:
        head = make_head(channels, num_classes).eval()
    except Exception as err:  # noqa: BLE001
        return report(False, "", f"make_head({channels}, {num_classes}) must return an nn.Module; it raised "
                      f"{type(err).__name__}: {err}")
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(2, channels, 2, 2, generator=g)
    results = {}
    for s in (1, 2, 4, 7, 8):  # 32, 64, 128, 224, 256 pixel inputs to a /32 backbone
        x = feats.repeat(1, 1, s, s) if s % 2 == 0 else feats.mean((2, 3), keepdim=True).repeat(1, 1, s, s)
        y, err = _run(head, x)
        if y is None:
            return report(False, "", f"the head fails on a {s}x{s} feature map ({32 * s}x{32 * s} input) {err}. "
                          "A fixed pooling window or a Linear sized for one map fits one input size only.")
        if y.shape != (2, num_classes):
            return report(False, "", f"on a {s}x{s} map the head returns {tuple(y.shape)}, expected (2, {num_classes}).")
        results[s] = y
    same = all(torch.allclose(results[s], results[2], atol=1e-5) for s in (4, 8))
    return report(same, "the head accepts every size and gives the same answer for the same content: "
                  "global pooling, then the classifier.",
                  "a map tiled to a larger size gets a different answer: pool over the whole map "
                  "(nn.AdaptiveAvgPool2d(1)) before the Linear layer.")


def check_layer_count(answer: Any, blocks: tuple[int, ...], bottleneck: bool) -> bool:
    """Weighted layers of an ImageNet ResNet: convs on the main path + stem conv + fc."""
    if unanswered(answer):
        return False
    per = 3 if bottleneck else 2
    truth = sum(blocks) * per + 2
    projections = len(blocks) if bottleneck else len(blocks) - 1  # one per stage where the shape changes
    slips = [(truth + projections, "projection shortcuts sit beside the main path and are not counted."),
             (sum(blocks) * per, "add the stem conv (7x7) and the final fc layer: +2."),
             (sum(blocks) * (5 - per) + 2, f"a {'bottleneck' if bottleneck else 'basic'} block has {per} convs.")]
    hint = _first_slip(answer, truth, slips, f"({' + '.join(map(str, blocks))}) blocks x {per} convs + 2.")
    return report(answer == truth, f"{truth} = ({'+'.join(map(str, blocks))})·{per} + 2.",
                  f"{answer} is not it: {hint}")


def _projections_everywhere(model: nn.Module) -> nn.Module:
    """Option C: give every identity-shortcut BasicBlock a 1x1 conv + BN projection (in place)."""
    for block in model.modules():
        if isinstance(block, models.BasicBlock) and block.downsample is None:
            c = block.conv1.in_channels
            block.downsample = nn.Sequential(models.conv1x1(c, c), nn.BatchNorm2d(c))
    return model


def check_projection_params(answer: Any, depth: int = 20, option: str = "B") -> bool:
    """Extra parameters of shortcut option B or C over option A in the CIFAR ResNet-``depth``."""
    if option not in ("B", "C"):
        raise ValueError(f"option must be 'B' or 'C' (A is the baseline), got {option!r}")
    if unanswered(answer):
        return False
    base = models.count_params(models.resnet_cifar(depth, shortcut="A"))
    n_b = models.count_params(models.resnet_cifar(depth, shortcut="B"))
    model = models.resnet_cifar(depth, shortcut="B")
    if option == "C":
        _projections_everywhere(model)
    truth = models.count_params(model) - base
    conv_only = sum(blk.downsample[0].weight.numel() for blk in model.modules()
                    if isinstance(blk, models.BasicBlock) and blk.downsample is not None)
    slips = [(conv_only, "each projection is a 1x1 conv *and* a BN (2 parameters per channel)."),
             (n_b - base, "option C puts a projection on every block, not only where the shape changes.")]
    hint = _first_slip(answer, truth, slips, "count the 1x1 conv + BN of each projection.")
    return report(answer == truth, f"{truth:,} extra parameters with option {option} "
                  f"(+{100 * truth / base:.1f}% over ResNet-{depth}'s {base:,}).", f"{answer} is not it: {hint}")


def check_stride_shapes(answer: Any, stride_on: str = "1x1") -> bool:
    """Output shapes (C, H, W) of conv1, conv2, conv3 in ResNet-50's layer2[0] at 224x224 (input 256x56x56)."""
    if unanswered(answer):
        return False
    shapes_of = {}
    for where in ("1x1", "3x3"):
        block = _reference_block("bottleneck", 256, 128, 2, stride_on=where)
        seen = []
        hooks = [getattr(block, c).register_forward_hook(lambda m, a, o: seen.append(tuple(o.shape[1:])))
                 for c in ("conv1", "conv2", "conv3")]
        with torch.no_grad():
            block(torch.zeros(1, 256, 56, 56))
        for h in hooks:
            h.remove()
        shapes_of[where] = seen
    truth, other = shapes_of[stride_on], shapes_of["3x3" if stride_on == "1x1" else "1x1"]
    try:
        got = [tuple(int(v) for v in s) for s in answer]
    except (TypeError, ValueError):  # not a list of (C, H, W) triples
        got = answer
    hint = _first_slip(got, truth, [(other, f"those are the shapes with the stride on the "
                                           f"{'3x3' if stride_on == '1x1' else 'first 1x1'}.")],
                       "conv1 reduces to 128 channels, conv3 expands to 4·128 = 512; the stride halves "
                       "H and W at the conv that carries it, and every later conv keeps that size.")
    return report(got == truth, f"{truth} with the stride on the {stride_on}.", f"{answer} is not it: {hint}")
