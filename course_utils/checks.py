"""Exercise checkers the notebooks call.

Each ``check_*`` takes a student's answer, prints a confirmation for a right
answer or a helpful hint for a wrong or missing one, and returns ``True`` or
``False``. A wrong answer never raises, so a notebook with unanswered exercises
still runs top to bottom.
"""
from __future__ import annotations

from typing import Any


def report(ok: bool, right: str, wrong: str) -> bool:
    """Print ``right`` (prefixed with a tick) or ``wrong`` (with a hint marker); return ``ok``."""
    print(("✅ Correct: " + right) if ok else ("❌ Not yet: " + wrong))
    return ok


def unanswered(answer: Any) -> bool:
    """True (and a reminder is printed) when the placeholder ``None``/``...`` is still there."""
    if answer is None or answer is Ellipsis:
        print("✏️  Not answered yet: replace the placeholder and run the cell again.")
        return True
    return False


# --- notebooks 01-02 (degradation, residual learning) ---------------------
import math  # noqa: E402  (section-local import)


def _number(answer: Any) -> float | None:
    """``float(answer)``, or ``None`` (and a hint is printed) when it is not a number."""
    try:
        return float(answer)
    except (TypeError, ValueError):
        report(False, "", f"answer with a number, got {answer!r}")
        return None


def check_blocks_per_stage(answer: Any, depth: int = 110) -> bool:
    """Exercise 01.1: blocks per stage ``n`` of the CIFAR plain/residual net with ``depth = 6n + 2`` layers."""
    if unanswered(answer):
        return False
    value = _number(answer)
    if value is None:
        return False
    n = (depth - 2) // 6
    hints = {round((depth - 2) / 3, 6): "that counts the 3x3 convs of one stage; each block holds two of them.",
             round(depth / 6, 6): "the stem conv and the fc layer count too: depth = 6n + 2, not 6n.",
             3 * n: "that is the total number of blocks; the question asks for one stage (there are 3)."}
    return report(value == n, f"depth {depth} = 6 x {n} + 2: stem conv, 3 stages x {n} blocks x 2 convs, fc.",
                  hints.get(round(value, 6), "write depth = 6n + 2 and solve for n."))


def check_degradation_cause(answer: Any) -> bool:
    """Exercise 01.2: what the degradation problem is (multiple choice a-d)."""
    if unanswered(answer):
        return False
    choice = str(answer).strip().lower()[:1]
    hints = {
        "a": "overfitting would give a deeper net a *lower* training error and a higher test error; "
             "plain-56 has the higher training error too.",
        "b": "with BN, the measured gradient norms at initialisation do not vanish: the first layers of "
             "plain-56 get gradients as large as (or larger than) the last ones.",
        "d": "plain-56 has about three times the parameters of plain-20, and a deeper net can copy a "
             "shallower one (extra layers = identity), so capacity is not what is missing.",
    }
    return report(choice == "c",
                  "the deeper plain net fits even its training data worse: an optimisation difficulty, "
                  "not overfitting and not (with BN) vanishing gradients.",
                  hints.get(choice, "choose one of 'a', 'b', 'c', 'd'."))


def check_lag1_autocorrelation(fn: Any) -> bool:
    """Exercise 01.3: ``fn(g)`` returns the lag-1 autocorrelation (a float) of a 1-D array ``g``."""
    if unanswered(fn):
        return False
    if not callable(fn):
        return report(False, "", "pass your function itself: check_lag1_autocorrelation(lag1)")
    import numpy as np

    from course_utils.analysis import autocorrelation

    rng = np.random.default_rng(3)
    cases = {"white noise": rng.standard_normal(256), "a random walk": rng.standard_normal(256).cumsum() + 5.0,
             "a sine": np.sin(np.linspace(0, 6, 64)) + 2.0}
    for what, g in cases.items():
        want = float(autocorrelation(g, max_lag=1)[1])
        try:
            got = float(fn(g.copy()))
        except Exception as err:  # noqa: BLE001  (a student's bug must not stop the notebook)
            return report(False, "", f"your function raised {type(err).__name__}: {err}")
        if abs(got - want) > 1e-6:
            g0 = g - g.mean()
            if abs(got - float(g[:-1] @ g[1:] / (g @ g))) < 1e-6:
                return report(False, "", f"on {what}: subtract the mean first (g - g.mean()).")
            if abs(got - float(np.corrcoef(g[:-1], g[1:])[0, 1])) < 1e-6:
                return report(False, "", f"on {what}: close, but np.corrcoef normalises each shifted copy "
                              "separately; divide by the full sum of (g - mean)^2 instead.")
            if abs(got - float(g0[:-1] @ g0[1:])) < 1e-6:
                return report(False, "", f"on {what}: normalise by the lag-0 value sum((g - mean)^2), so r(0) = 1.")
            return report(False, "", f"on {what}: expected {want:.4f}, got {got:.4f}. "
                          "r(1) = sum((g[i] - m)(g[i+1] - m)) / sum((g[i] - m)^2).")
    return report(True, "white noise gives r(1) ~ 0, a random walk and a sine stay close to 1.", "")


def check_identity_init(fn: Any) -> bool:
    """Exercise 02.1: ``fn(block)`` changes a ``models.BasicBlock`` in place so that it computes
    the identity on non-negative inputs, in train *and* eval mode."""
    if unanswered(fn):
        return False
    if not callable(fn):
        return report(False, "", "pass your function itself: check_identity_init(make_identity)")
    import torch

    from course_utils.models import BasicBlock

    gen = torch.Generator().manual_seed(5)
    with torch.random.fork_rng(devices=[]):  # leave the notebook's random state alone
        torch.manual_seed(5)
        block = BasicBlock(8, 8)
    for bn in (block.bn1, block.bn2):  # statistics of a trained block: zeroing a conv is not enough
        bn.running_mean.copy_(torch.rand(8, generator=gen) - 0.5)
        bn.running_var.copy_(torch.rand(8, generator=gen) + 0.5)
    x = torch.relu(torch.randn(4, 8, 6, 6, generator=gen))  # block inputs follow a ReLU: >= 0
    try:
        with torch.no_grad():
            fn(block)
    except Exception as err:  # noqa: BLE001
        return report(False, "", f"your function raised {type(err).__name__}: {err}")
    diffs = {}
    with torch.no_grad():
        for mode in ("train", "eval"):
            block.train(mode == "train")
            diffs[mode] = (block(x) - x).abs().max().item()
    if diffs["train"] == 0 and diffs["eval"] == 0:
        return report(True, "F(x) = 0, so the block outputs relu(0 + x) = x on its non-negative inputs. "
                      "This is what zero_init_residual does: bn2.weight = 0.", "")
    if diffs["train"] == 0:
        return report(False, "", f"identity in train mode only (eval-mode difference {diffs['eval']:.3g}): "
                      "in eval mode BN subtracts its running mean, so a zero conv output does not stay zero. "
                      "Zero the scale of the last BN instead.")
    return report(False, "", f"max |block(x) - x| = {diffs['train']:.3g}. Make the residual branch F output exactly "
                  "zero: which single parameter of the last layer of F multiplies everything it outputs?")


def check_sensitivity(mapping: Any, residual: Any) -> bool:
    """Exercise 02.2: input x = 8, the block outputs H(x) = 8.4, the target is 8.2. The relative
    change needed (a fraction, not percent) of the mapping H and of the residual F = H - x."""
    if unanswered(mapping) or unanswered(residual):
        return False
    m, r = _number(mapping), _number(residual)
    if m is None or r is None:
        return False
    want_m, want_r = 0.2 / 8.4, 0.2 / 0.4

    def near(a: float, b: float) -> bool:
        return math.isclose(a, b, rel_tol=2e-3)

    if near(m, want_m) and near(r, want_r):
        return report(True, f"H must move by 0.2/8.4 = {want_m:.2%}, F by 0.2/0.4 = {want_r:.0%}: "
                      "the same step, measured against a much smaller quantity.", "")
    if near(m, 100 * want_m) or near(r, 100 * want_r):
        return report(False, "", "give fractions, not percent (0.5, not 50).")
    if near(r, 1.0):
        return report(False, "", "the target residual is 8.2 - 8 = 0.2, not 0: F moves from 0.4 to 0.2.")
    if near(m, 0.2 / 8.2) or near(r, 0.2 / 0.2):
        return report(False, "", "divide by the size *before* the change (H = 8.4, F = 0.4).")
    return report(False, "", "relative change = |after - before| / |before|, for H (8.4 -> 8.2) and "
                  "for F = H - x (0.4 -> 0.2).")


def check_gradient_factor(answer: Any) -> bool:
    """Exercise 02.3: 50 residual blocks, each with scalar dF/dx = 0.02: the factor
    ``dL/dx_0 / dL/dx_50`` (the gradient at the input over the gradient at the output)."""
    if unanswered(answer):
        return False
    value = _number(answer)
    if value is None:
        return False
    want = 1.02 ** 50
    if math.isclose(value, want, rel_tol=1e-3):
        return report(True, f"(1 + 0.02)^50 = {want:.3f}. A plain stack with the same dF/dx would give "
                      f"0.02^50 = {0.02 ** 50:.1e}.", "")
    hints = [(1 + 50 * 0.02, "the chain rule multiplies the 50 factors (1 + dF/dx); it does not add them."),
             (0.02 ** 50, "that is the plain stack, where each layer contributes dF/dx alone; "
                          "a residual block contributes 1 + dF/dx."),
             (1.02, "that is one block; there are 50.")]
    for val, hint in hints:
        if math.isclose(value, val, rel_tol=1e-3):
            return report(False, "", hint)
    return report(False, "", "each block multiplies the gradient by d(x + F(x))/dx = 1 + 0.02.")


# --- notebooks 03-04 (shape arithmetic, building blocks) ------------------
# Imports of this section (kept here so each section stays self-contained).
import math  # noqa: E402
from typing import Callable  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402

from course_utils import models  # noqa: E402


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


# --- notebooks 05-07 (training, Fig. 6, why it works) ---------------------


# notebooks 05-06 (training on CIFAR-10, Fig. 6): the paper's recipe in numbers
import math  # noqa: E402,F811  (section-local import)

_PAPER_TRAIN_IMAGES = 45_000  # the 45k/5k train/val split of He et al. 2015, sec. 4.2
_PAPER_MILESTONES = (32_000, 48_000)


def _float0506(answer: Any) -> float | None:
    """``float(answer)``, or ``None`` after printing a hint when it is not a number."""
    try:
        value = float(answer)
    except (TypeError, ValueError):
        report(False, "", f"answer with a number, got {answer!r}")
        return None
    if value != value:  # NaN
        report(False, "", "answer with a number, got NaN")
        return None
    return value


def check_epochs(answer: Any, iterations: int = 64_000, batch_size: int = 128,
                 train_images: int = _PAPER_TRAIN_IMAGES) -> bool:
    """Exercise 05.1: epochs (passes over the training split) in ``iterations`` minibatches."""
    if unanswered(answer):
        return False
    value = _float0506(answer)
    if value is None:
        return False
    want = iterations * batch_size / train_images
    if abs(value - want) <= 0.05 * max(1.0, want / 100):
        return report(True, f"{iterations:,} x {batch_size} = {iterations * batch_size:,} images seen = "
                      f"{want:.2f} passes over {train_images:,} images.", "")
    if abs(value - iterations * batch_size / 50_000) < 0.1:
        return report(False, "", "that divides by all 50,000 training images; the paper's schedule was "
                      f"set on the {train_images:,}-image training part of the 45k/5k split.")
    if abs(value - iterations / batch_size) < 0.1 or abs(value - iterations / train_images) < 0.01:
        return report(False, "", "one iteration processes one minibatch of images: images seen = "
                      "iterations x batch size; an epoch is one pass over the training images.")
    return report(False, "", "epochs = iterations x batch size / training images.")


def _paper_lr(iteration: int, depth: int) -> float:
    """The paper's lr at 0-based ``iteration``: warm-up 0.01 for 400 its at depth >= 110, then 0.1 / 10 per milestone."""
    if depth >= 110 and iteration < 400:
        return 0.01
    return 0.1 * 0.1 ** sum(iteration >= m for m in _PAPER_MILESTONES)


def check_lr(answer: Any, iteration: int, depth: int = 56) -> bool:
    """Exercise 05.2: the paper's learning rate at ``iteration`` for a CIFAR net of ``depth`` layers."""
    if unanswered(answer):
        return False
    value = _float0506(answer)
    if value is None:
        return False
    want = _paper_lr(iteration, depth)
    if math.isclose(value, want, rel_tol=1e-6):
        return report(True, f"lr = {want:g} at iteration {iteration:,} for a depth-{depth} net.", "")
    passed = sum(iteration >= m for m in _PAPER_MILESTONES)
    if depth >= 110 and iteration < 400 and math.isclose(value, 0.1, rel_tol=1e-6):
        hint = "a net of depth >= 110 first warms up at lr 0.01 for about 400 iterations, then goes back to 0.1."
    elif value > want:
        hint = (f"iteration {iteration:,} is past {passed} milestone(s) ({', '.join(f'{m:,}' for m in _PAPER_MILESTONES)}):"
                " divide 0.1 by 10 once per milestone passed.")
    else:
        hint = (f"only {passed} milestone(s) of {', '.join(f'{m:,}' for m in _PAPER_MILESTONES)} lie at or before "
                f"iteration {iteration:,}.")
    return report(False, "", hint)


def check_augmentation_views(answer: Any, pad: int = 4) -> bool:
    """Exercise 05.3: distinct training views of one image under pad-``pad`` crop + horizontal flip."""
    if unanswered(answer):
        return False
    value = _float0506(answer)
    if value is None:
        return False
    offsets = 2 * pad + 1
    want = offsets * offsets * 2
    hints = {offsets * offsets: "and each crop can also be mirrored: x2.",
             (2 * pad) ** 2 * 2: f"the offsets run from 0 to {2 * pad} *inclusive*: {offsets} values per axis.",
             (2 * pad) ** 2: f"the offsets run from 0 to {2 * pad} inclusive ({offsets} values), and mirroring doubles.",
             offsets * 2: "the crop moves along both axes independently: offsets x offsets.",
             offsets * offsets * 4: "only horizontal flips: x2, not x4."}
    return report(value == want, f"{offsets} x {offsets} crop offsets x 2 (mirrored or not) = {want}.",
                  hints.get(value, f"count the crop positions per axis in a {32 + 2 * pad}-pixel padded image, "
                            "then the flips."))


def check_mean_shape(answer: Any) -> bool:
    """Exercise 05.4: the shape of the paper's per-pixel mean of CIFAR-10 (PyTorch layout)."""
    if unanswered(answer):
        return False
    try:
        shape = tuple(int(s) for s in answer)
    except (TypeError, ValueError):
        return report(False, "", f"answer with a shape, e.g. (2, 5), got {answer!r}")
    hints = {(3,): "that is the per-channel mean; the per-pixel mean has one value per channel *and* position.",
             (32, 32, 3): "right numbers, but PyTorch stores images channels first: (C, H, W).",
             (32, 32): "each colour channel has its own mean at every position.",
             (50000, 3, 32, 32): "the mean is taken over the images: that axis disappears.",
             (45000, 3, 32, 32): "the mean is taken over the images: that axis disappears."}
    return report(shape == (3, 32, 32), "one mean for every channel and pixel: (3, 32, 32), the shape of one image.",
                  hints.get(shape, "average the training images (N, 3, 32, 32) over the image axis."))


def check_fig6_lines(thin: Any, bold: Any) -> bool:
    """Exercise 06.1: in Fig. 6, which error the thin (dashed) and the bold lines show: 'train' or 'test'."""
    if unanswered(thin) or unanswered(bold):
        return False
    words = {"train": "train", "training": "train", "test": "test", "testing": "test"}
    t, b = (words.get(str(a).strip().lower()) for a in (thin, bold))
    if t is None or b is None:
        return report(False, "", "answer each with 'train' or 'test'.")
    if (t, b) == ("train", "test"):
        return report(True, "thin/dashed = training error (a running mean over the last iterations), "
                      "bold = test error (the whole test set, at intervals).", "")
    if t == b:
        return report(False, "", "each model has one curve of each kind.")
    return report(False, "", "swapped: which curve sits *below* the other at the end of training, "
                  "and which error should be the lower one?")


def check_shortcut_params(answer: Any) -> bool:
    """Exercise 06.2: parameters of ResNet-20 minus those of plain-20 (option A shortcuts)."""
    if unanswered(answer):
        return False
    value = _float0506(answer)
    if value is None:
        return False
    from course_utils.models import count_params, plain_cifar, resnet_cifar

    want = count_params(resnet_cifar(20)) - count_params(plain_cifar(20))
    return report(value == want,
                  "option A shortcuts are identities (subsampled and zero-padded where the shape changes): "
                  "no parameters, so Fig. 6 compares nets of exactly the same size.",
                  "count the parameters of an option-A shortcut: it only subsamples and pads with zeros.")


def check_milestone_epoch(answer: Any) -> bool:
    """Exercise 06.3: the epoch (on the 45k split, batch 128) of the paper's first lr drop at 32k iterations."""
    if unanswered(answer):
        return False
    value = _float0506(answer)
    if value is None:
        return False
    want = _PAPER_MILESTONES[0] * 128 / _PAPER_TRAIN_IMAGES
    if abs(value - want) < 0.05:
        return report(True, f"32,000 x 128 / 45,000 = {want:.2f} epochs; the second drop comes at "
                      f"{_PAPER_MILESTONES[1] * 128 / _PAPER_TRAIN_IMAGES:.1f} and the end at 182.0.", "")
    if abs(value - _PAPER_MILESTONES[0] * 128 / 50_000) < 0.05:
        return report(False, "", "divide by the 45,000 images of the training split, not 50,000.")
    return report(False, "", "epochs = iterations x batch size / training images.")


def check_error_noise(se_2000: Any, se_10000: Any, error: float = 7.0) -> bool:
    """Exercise 06.4: standard error (percentage points) of a ``error`` % test error measured on 2,000 and
    on 10,000 test images (each image right or wrong independently: a binomial proportion)."""
    if unanswered(se_2000) or unanswered(se_10000):
        return False
    a, b = _float0506(se_2000), _float0506(se_10000)
    if a is None or b is None:
        return False
    p = error / 100
    want = [100 * math.sqrt(p * (1 - p) / n) for n in (2000, 10_000)]
    if all(abs(x - w) <= 0.02 for x, w in zip((a, b), want)):
        return report(True, f"+-{want[0]:.2f} and +-{want[1]:.2f} percentage points: differences of a few tenths "
                      "of a point between runs are within the noise of the measurement.", "")
    if all(abs(x - w / 100) <= 0.0002 for x, w in zip((a, b), want)):
        return report(False, "", "right, but as a fraction; give percentage points (multiply by 100).")
    if all(abs(x - 1e4 * p * (1 - p) / n) <= 0.002 for x, n in zip((a, b), (2000, 10_000))):  # pp^2
        return report(False, "", "that is the variance; take its square root.")
    return report(False, "", "standard error of a proportion p on n images: sqrt(p (1 - p) / n), with p = "
                  f"{p}; then x 100 for percentage points.")


# notebook 07 (why it works): layer responses, lesions, loss landscapes
def _cifar_blocks(depth: int) -> int:
    """Residual (or plain) blocks in a 6n+2 CIFAR net: 3 stages of n."""
    return 3 * ((depth - 2) // 6)


def check_response_count(answer: Any, depth: int = 56) -> bool:
    """Exercise 07.1: how many 3x3-layer responses Fig. 7 shows for a CIFAR net of ``depth`` layers."""
    if unanswered(answer):
        return False
    try:
        value = int(answer)
    except (TypeError, ValueError):
        return report(False, "", f"answer with a whole number, got {answer!r}")
    blocks = _cifar_blocks(depth)
    right = 2 * blocks + 1
    hints = {depth: "the last layer is the fully connected classifier, not a 3x3 conv.",
             2 * blocks: "the first (stem) conv is a 3x3 layer with its own BN too.",
             blocks: "each block holds two 3x3 convs, each followed by a BN."}
    return report(value == right,
                  f"{right} = 1 stem conv + {blocks} blocks x 2 convs; only the fc layer has no 3x3 response.",
                  hints.get(value, f"count the 3x3 convs: the stem, then 2 per block in {blocks} blocks."))


def check_deletable_blocks(answer: Any, depth: int = 56) -> bool:
    """Exercise 07.2: ``(plain, resnet)`` blocks the lesion study can delete in the depth-``depth`` nets."""
    if unanswered(answer):
        return False
    try:
        plain, resnet = (int(a) for a in answer)
    except (TypeError, ValueError):
        return report(False, "", f"answer with a pair of whole numbers (plain, resnet), got {answer!r}")
    blocks = _cifar_blocks(depth)
    if (plain, resnet) == (blocks - 2, blocks):
        return report(True, f"plain-{depth}: {blocks - 2} of {blocks} (two blocks change the shape and have "
                      f"no other path); ResNet-{depth}: all {blocks}, the two downsampling blocks fall "
                      f"back on their option-A shortcut.", "")
    if plain != blocks - 2:
        hint = (f"plain-{depth} has {blocks} blocks; a block can only be removed if its input and output "
                f"shapes match (which blocks halve the size and double the width?).")
    else:
        hint = (f"every residual block keeps a path when its residual branch is deleted: its shortcut "
                f"(identity, or option A's subsample + zero channels where the shape changes).")
    return report(False, "", hint)


def check_filter_normalization(fn: Any) -> bool:
    """Exercise 07.3: ``fn(direction, weight)`` rescales each filter of ``direction`` to the norm of
    the same filter of ``weight`` (Li et al. 2018); filter = slice along dim 0."""
    if unanswered(fn):
        return False
    if not callable(fn):
        return report(False, "", "pass your function itself: check_filter_normalization(normalize_filters)")
    import torch

    gen = torch.Generator().manual_seed(7)
    for shape in [(8, 4, 3, 3), (10, 16)]:  # a conv weight, a linear weight
        w = torch.randn(shape, generator=gen) * torch.rand(shape[0], *[1] * (len(shape) - 1), generator=gen) * 3
        d = torch.randn(shape, generator=gen)
        try:
            out = fn(d.clone(), w.clone())
        except Exception as err:  # noqa: BLE001  (a student's bug must not stop the notebook)
            return report(False, "", f"your function raised {type(err).__name__}: {err}")
        if not isinstance(out, torch.Tensor) or out.shape != d.shape:
            return report(False, "", f"return a tensor of the direction's shape {tuple(shape)}")
        w_n, o_n = w.flatten(1).norm(dim=1), out.flatten(1).norm(dim=1)
        if not torch.allclose(o_n, w_n, rtol=1e-4):
            if torch.allclose(out.norm(), w.norm(), rtol=1e-4):
                return report(False, "", "the whole tensor has the right norm, but each *filter* "
                              "(out[i] for every i) must match w[i]'s norm.")
            return report(False, "", "each filter out[i] should have the norm of w[i].")
        cos = torch.nn.functional.cosine_similarity(out.flatten(1), d.flatten(1), dim=1)
        if not torch.allclose(cos, torch.ones_like(cos), atol=1e-4):
            return report(False, "", "only rescale each filter of the direction; do not change where it points.")
    return report(True, "every filter of the direction now has the norm of its weight filter, "
                  "for conv (4-D) and linear (2-D) weights alike.", "")


def check_filter_norm_reason(answer: Any) -> bool:
    """Exercise 07.4: why random directions must be filter-normalised (multiple choice a-d)."""
    if unanswered(answer):
        return False
    choice = str(answer).strip().lower()[:1]
    hints = {
        "a": "speed is not the issue: a raw direction costs the same to evaluate.",
        "c": "the directions are random, not gradients; normalisation does not make them descend.",
        "d": "BN layers keep working with any direction; the issue is what a step of size alpha means.",
    }
    return report(choice == "b",
                  "BN makes a conv's output invariant to its filters' scale, so only a step relative to "
                  "each filter's norm means the same in every layer and every network.",
                  hints.get(choice, "choose one of 'a', 'b', 'c', 'd'."))
