"""Exercise checks of notebook 04 (building blocks) answered with numbers: the weighted layers of an
ImageNet ResNet (or its conv modules), the extra parameters of projection shortcuts, the shapes through
the first Bottleneck of a stage with the stride on its 1x1 or its 3x3.

Each truth is counted on the real network (``course_utils.models``), and each known slip gets its own
hint. ``checks.blocks`` re-exports these checks beside the code checks of the same notebook.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from course_utils import models
from course_utils.checks._reference import projections_everywhere, reference_block
from course_utils.checks._verdict import checker, first_slip, report, unanswered

__all__ = ["check_layer_count", "check_projection_params", "check_stride_shapes"]


@checker
def check_layer_count(answer: Any, blocks: tuple[int, ...], bottleneck: bool, convs: bool = False) -> bool:
    """Weighted layers of an ImageNet ResNet (main-path convs + stem conv + fc), the depth in its name;
    with ``convs``, its ``nn.Conv2d`` modules instead (stem, blocks and projections; the fc is a Linear)."""
    if unanswered(answer):
        return False
    per = 3 if bottleneck else 2
    depth = sum(blocks) * per + 2
    with torch.device("meta"):  # counted on the real network, built without storage
        net = models.ResNet(models.Bottleneck if bottleneck else models.BasicBlock, list(blocks))
    n_convs = sum(isinstance(m, nn.Conv2d) for m in net.modules())
    projections = n_convs - (depth - 1)  # one per stage where the shape changes
    truth = n_convs if convs else depth
    slips = [
        (depth + projections, "projection shortcuts sit beside the main path and are not counted."),
        (sum(blocks) * per, "add the stem conv (7x7) and the final fc layer: +2."),
        (sum(blocks) * (5 - per) + 2, f"a {'bottleneck' if bottleneck else 'basic'} block has {per} convs."),
    ]
    if convs:
        slips = [
            (depth, "the depth counts the fc (an nn.Linear) and leaves out the projection shortcuts."),
            (depth - 1, "the 1x1 projection shortcuts are nn.Conv2d modules too: one per stage that changes shape."),
            (n_convs + 1, "the final fc is an nn.Linear, not an nn.Conv2d."),
            (n_convs - 1, "layer1's first block changes the shape too (64 channels in, 256 out): it has a projection."),
        ]
    formula = f"({' + '.join(map(str, blocks))}) blocks x {per} convs + 2"
    hint = first_slip(answer, truth, slips, formula + (", then the fc out and the projections in." if convs else "."))
    extra = f" - 1 (the fc) + {projections} projections" if convs else ""
    right = f"{truth} = ({'+'.join(map(str, blocks))})·{per} + 2{extra}"
    return report(answer == truth, right + ".", f"{answer} is not it: {hint}")


@checker
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
        projections_everywhere(model)
    truth = models.count_params(model) - base
    proj = [b.downsample[0] for b in model.modules() if isinstance(b, models.BasicBlock) and b.downsample is not None]
    every_block = sum(c * c + 2 * c for c in (16, 32, 64)) * (depth - 2) // 6  # a C x C projection on all 3n blocks
    slips = [
        (sum(c.weight.numel() for c in proj), "each projection is a 1x1 conv *and* a BN (2 parameters per channel)."),
        (n_b - base, "option C puts a projection on every block, not only where the shape changes."),
    ]
    if option == "C":
        slips.append((truth - (n_b - base), "option C keeps option B's two projections and adds the others."))
        slips.append((every_block, "the first blocks of stages 2 and 3 keep option B's projections (16->32, 32->64)."))
    hint = first_slip(answer, truth, slips, "count the 1x1 conv + BN of each projection.")
    return report(
        answer == truth,
        f"{truth:,} extra parameters with option {option} (+{100 * truth / base:.1f}% over ResNet-{depth}'s {base:,}).",
        f"{answer} is not it: {hint}",
    )


def _first_block_shapes(stage: int, stride_on: str) -> list[tuple[int, ...]]:
    """(C, H, W) after conv1, conv2, conv3 of ResNet-50's ``layer<stage>[0]`` on a 224x224 image."""
    in_planes, side = 128 * 2 ** (stage - 1), 112 // 2 ** (stage - 1)  # layer2: 256 channels, 56x56
    block, seen = reference_block("bottleneck", in_planes, in_planes // 2, 2, stride_on=stride_on), []
    for c in (block.conv1, block.conv2, block.conv3):
        c.register_forward_hook(lambda m, a, o: seen.append(tuple(o.shape[1:])))
    with torch.no_grad():
        block(torch.zeros(1, in_planes, side, side))
    return seen


@checker
def check_stride_shapes(answer: Any, stride_on: str = "1x1", stage: int = 2) -> bool:
    """Output shapes (C, H, W) of conv1, conv2, conv3 in the first bottleneck of ResNet-50's ``layer<stage>``
    (stage 2, 3 or 4) on a 224x224 image, with the stride on the first 1x1 (v1) or on the 3x3 (v1.5)."""
    if unanswered(answer):
        return False
    truth = _first_block_shapes(stage, stride_on)
    other = _first_block_shapes(stage, "3x3" if stride_on == "1x1" else "1x1")
    planes, c_out, full = truth[1][0], truth[2][0], 2 * truth[1][1]
    try:
        got = [tuple(int(v) for v in s) for s in answer]
    except (TypeError, ValueError):  # not a list of (C, H, W) triples
        got = answer
    slips = [
        (other, f"those are the shapes with the stride on the {'3x3' if stride_on == '1x1' else 'first 1x1'}."),
        ([(planes, full, full)] * 2 + [(c_out, full, full)], "the first block of a stage halves H and W."),
    ]
    if stage > 2:
        slips.append((_first_block_shapes(stage - 1, stride_on), f"those are layer{stage - 1}'s shapes."))
    rule = f"conv1 reduces to {planes} channels, conv3 expands to 4·{planes} = {c_out}; the stride halves "
    hint = first_slip(got, truth, slips, rule + "H and W at the conv that carries it, and every later conv keeps them.")
    return report(got == truth, f"{truth} with the stride on the {stride_on}.", f"{answer} is not it: {hint}")
