"""Exercise checks of notebook 08 (transfer learning; what came after ResNet).

Every truth is measured on a real module (torchvision's ``resnet18``, ``nn.Conv2d``, the course's nets);
each known slip (a forgotten max-pool, a dense count for a grouped conv, a forgotten bias) gets its own hint.
"""

from __future__ import annotations

from typing import Any

import torch
import torchvision
from torch import nn

from course_utils import models, transfer
from course_utils.checks._verdict import checker, first_slip, numeric, report

__all__ = ["check_layer4_size", "check_grouped_conv_params", "check_frozen_trainable", "check_prediction"]


@checker
def check_layer4_size(answer: Any, size: int) -> bool:
    """Side of torchvision ``resnet18``'s ``layer4`` output for a ``size`` x ``size`` input (a forward pass)."""
    value = numeric(answer)
    if value is None:
        return False
    net, seen = torchvision.models.resnet18(weights=None).eval(), {}
    net.layer4.register_forward_hook(lambda m, i, o: seen.update(shape=o.shape))
    with torch.no_grad():
        net(torch.zeros(1, 3, size, size))
    truth = seen["shape"][-1]
    slips = [
        (size // 16, "the stem halves twice: the 7x7/2 conv *and* the 3x3/2 max-pool, then 3 more stride-2 stages."),
        (size // 8, "count every stride 2: conv1, maxpool, layer2, layer3 and layer4 each halve the side (32 in all)."),
        (size / 32, "sizes are whole numbers: each stride-2 layer rounds (here up, with padding 1), never a fraction."),
        (512, "that is the number of channels of layer4; the question asks for its spatial side."),
    ]
    hint = first_slip(value, truth, slips, f"divide {size} by 2 five times, rounding up at each step.")
    return report(value == truth, f"layer4 is {truth}x{truth} for a {size}x{size} input.", hint)


@checker
def check_grouped_conv_params(answer: Any, in_ch: int, out_ch: int, kernel: int, groups: int) -> bool:
    """Weights of a bias-free ``Conv2d(in_ch, out_ch, kernel, groups=groups)``, counted on ``nn.Conv2d``."""
    value = numeric(answer)
    if value is None:
        return False
    truth = nn.Conv2d(in_ch, out_ch, kernel, groups=groups, bias=False).weight.numel()
    dense = in_ch * out_ch * kernel * kernel
    slips = [
        (dense, "that is the dense conv: each output channel sees only in_ch / groups input channels."),
        (dense // groups**2, "divide by the number of groups once: out_ch filters, each of in_ch/groups x k x k."),
        (in_ch * out_ch // groups, f"each weight is a {kernel}x{kernel} kernel: multiply by {kernel * kernel}."),
    ]
    hint = first_slip(value, truth, slips, "count out_ch filters of (in_ch / groups) x k x k weights.")
    return report(value == truth, f"{truth:,} weights, 1/{groups} of the dense conv's {dense:,}.", hint)


@checker
def check_frozen_trainable(answer: Any, num_classes: int = 5, unfrozen: tuple[str, ...] = ()) -> bool:
    """Trainable parameters of the source ResNet-20 with a new ``num_classes`` head and a frozen backbone,
    except the parts named in ``unfrozen`` (e.g. ``("layer3",)``), which learn with the head.

    Counted on the module: ``requires_grad`` parameters after freezing; BN's running statistics are buffers."""
    value = numeric(answer)
    if value is None:
        return False
    net = transfer.replace_head(models.resnet_cifar(20, num_classes=5), num_classes)
    transfer.freeze_backbone(net)
    parts = [getattr(net, name) for name in unfrozen]
    for part in parts:
        part.requires_grad_(True)
    truth = sum(p.numel() for p in net.parameters() if p.requires_grad)
    head = 64 * num_classes + num_classes
    if not unfrozen:
        slips = [
            (64 * num_classes, "the new linear layer has a bias too: one per class."),
            (models.count_params(net), "that is every parameter; a frozen backbone trains only the head."),
            (64 * 10 + 10, f"the new head has {num_classes} outputs, not CIFAR-10's 10."),
            (512 * num_classes + num_classes, "ResNet-20 ends with 64 channels, not ResNet-18's 512."),
        ]
        hint = first_slip(value, truth, slips, "only fc learns: 64 inputs x classes weights + classes biases.")
        return report(value == truth, f"{truth} trainable parameters (64 x {num_classes} + {num_classes}).", hint)
    named = " and ".join(unfrozen)
    modules = [m for part in parts for m in part.modules()]
    convs = sum(m.weight.numel() for m in modules if isinstance(m, nn.Conv2d))
    bns = [m for m in modules if isinstance(m, nn.BatchNorm2d)]
    stats = sum(m.running_mean.numel() + m.running_var.numel() for m in bns)
    widen = [m for m in modules if isinstance(m, nn.Conv2d) and m.in_channels != m.out_channels]  # a stage's first conv
    projections = sum(c.in_channels * c.out_channels + 2 * c.out_channels for c in widen)  # option B: 1x1 conv + BN
    as_wide = sum(
        c.weight[0].numel() // c.in_channels * c.out_channels * (c.out_channels - c.in_channels) for c in widen
    )  # each widening conv counted as if it took its own width in
    slips = [
        (truth - head, f"the new head learns too: add its 64 x {num_classes} weights and {num_classes} biases."),
        (truth - num_classes, "the new linear layer has a bias too: one per class."),
        (convs + head, "BN's γ and β learn too: two per channel of every BN in the part that learns."),
        (
            truth + stats,
            "BN's running mean and variance are buffers, updated without gradients: the optimizer "
            "does not update them.",
        ),
        (head, f"that is the frozen backbone of section 2; here {named} learns too."),
        (models.count_params(net), "that is every parameter; only the head and the unfrozen part learn."),
        (truth + projections, "ResNet-20's shortcuts are option A: parameter-free, even where a stage widens."),
        (
            truth + as_wide,
            "the first conv of a stage takes the previous stage's channels in (half as many), not the stage's own.",
        ),
    ]
    hint = first_slip(value, truth, slips, f"count every weight and BN parameter of {named}, plus the head.")
    return report(
        value == truth,
        f"{truth:,} trainable parameters: {truth - head:,} in {named} (convs {convs:,}, BN γ and β "
        f"{truth - head - convs:,}) + the head's {head}, of {models.count_params(net):,}.",
        hint,
    )


@checker
def check_prediction(guess: Any, measured: float, what: str = "the value", tolerance: float = 5.0) -> bool:
    """Predict-then-run: ``guess`` against the ``measured`` number, within ``tolerance`` (same units)."""
    value = numeric(guess)
    if value is None:
        return False
    off = value - measured
    close = abs(off) <= tolerance
    side = "high" if off > 0 else "low"
    return report(
        close,
        f"you guessed {value:g}, the run measured {measured:.1f} for {what} ({off:+.1f}).",
        f"you guessed {value:g}; the run measured {measured:.1f} for {what}: {abs(off):.1f} too {side} "
        f"(within {tolerance:g} counts as right). What in the setup did your guess miss?",
    )
