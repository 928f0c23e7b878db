"""Exercise checks of notebook 02 (residual learning: the identity, a near-zero target, paths, block factors)."""

from __future__ import annotations

import math
from typing import Any

import torch

from course_utils.checks._verdict import Verdict, as_number, checker, ratio_and_truth, report, unanswered
from course_utils.models import PreActBlock

__all__ = ["check_preact_identity", "check_near_zero_target", "check_path_share", "check_block_factors"]


def _trained_preact_block() -> PreActBlock:
    """A ``PreActBlock(8, 8)`` as after training: learned BN scales and shifts, running statistics."""
    gen = torch.Generator().manual_seed(5)
    with torch.random.fork_rng(devices=[]):  # leave the notebook's random state alone
        torch.manual_seed(5)
        block = PreActBlock(8, 8)
    with torch.no_grad():
        for bn in (block.bn1, block.bn2):
            bn.weight.copy_(torch.rand(8, generator=gen) + 0.5)
            bn.bias.copy_(torch.rand(8, generator=gen) - 0.3)  # some shifts positive: ReLU passes them
            bn.running_mean.copy_(torch.rand(8, generator=gen) - 0.5)
            bn.running_var.copy_(torch.rand(8, generator=gen) + 0.5)
    return block


def _identity_verdict(changed: list[str], diffs: dict[str, float]) -> Verdict:
    """Judge the block after the student's change: ``changed`` names the parameter tensors that differ,
    ``diffs`` holds max |block(x) - x| in "train" and "eval" mode."""
    if diffs["train"] == 0 and diffs["eval"] == 0:
        if len(changed) > 1:
            return report(
                False,
                "",
                f"the block is the identity, but you changed {len(changed)} tensors ({', '.join(changed)}); "
                "one is enough: which layer produces F's output?",
            )
        return report(
            True,
            "conv2 is the last layer of F and has no bias: with its weights at zero, F(x) = 0 whatever the BNs "
            "have learned, and with no ReLU after the addition the block returns x for inputs of either sign.",
            "",
        )
    if "bn2.weight" in changed and set(changed) <= {"bn2.weight", "bn2.bias"}:
        return report(
            False,
            "",
            f"max |block(x) - x| = {max(diffs.values()):.3g}. BN2 is not the last layer of F here: what it outputs "
            "goes through a ReLU and conv2, and with a zero scale it outputs its learned shift, which a ReLU "
            "lets through where it is positive.",
        )
    if changed and set(changed) <= {"conv1.weight", "bn1.weight", "bn1.bias"}:
        return report(
            False,
            "",
            f"max |block(x) - x| = {max(diffs.values()):.3g}. F has layers after the one you changed: BN2 adds its "
            "learned shift (in eval mode it also subtracts its running mean), and ReLU and conv2 pass that on. "
            "Change the layer that produces F's output.",
        )
    if diffs["train"] == 0:
        return report(
            False,
            "",
            f"identity in training mode only (eval-mode difference {diffs['eval']:.3g}): in eval mode each BN "
            "uses its fixed running statistics instead of the batch's, so what reaches F's last layer grows with "
            "the input again. Make F zero whatever reaches its last layer.",
        )
    return report(
        False,
        "",
        f"max |block(x) - x| = {max(diffs['train'], diffs['eval']):.3g} (training mode {diffs['train']:.3g}, "
        f"eval mode {diffs['eval']:.3g}). Make the branch F output exactly zero, whatever the BNs have learned: "
        "which layer of this block comes last in F?",
    )


@checker
def check_preact_identity(fn: Any) -> bool:
    """Exercise 02.1: ``fn(block)`` changes *one* parameter tensor of a trained ``models.PreActBlock``
    (``x + conv2(relu(bn2(conv1(relu(bn1(x))))))``) in place so that the block computes the identity,
    on inputs of either sign, in training and in eval mode."""
    if unanswered(fn):
        return False
    if not callable(fn):
        return report(False, "", "pass your function itself: check_preact_identity(make_identity)")

    block = _trained_preact_block()
    before = {k: v.clone() for k, v in block.state_dict().items()}
    x = torch.randn(4, 8, 6, 6, generator=torch.Generator().manual_seed(6))  # no ReLU after the addition: any sign
    x = x * torch.tensor([1.0, 10.0, 100.0, 1000.0]).view(4, 1, 1, 1)  # and any size
    try:
        with torch.no_grad():
            returned = fn(block)
    except Exception as err:
        return report(False, "", f"your function raised {type(err).__name__}: {err}")
    changed = [k for k, v in block.state_dict().items() if k in before and not torch.equal(v, before[k])]
    if not changed and isinstance(returned, torch.nn.Module) and returned is not block:
        return report(False, "", "change the block you are given in place; the check tests that block, not a new one.")
    diffs = {}
    with torch.no_grad():
        for mode in ("eval", "train"):  # eval first: a forward pass in training mode updates the running statistics
            block.train(mode == "train")
            diffs[mode] = (block(x) - x).abs().max().item()
    return _identity_verdict(changed, diffs)


@checker
def check_near_zero_target(guess: Any, measured: Any, factor: float = 2.0) -> bool:
    """Exercise 02.2 (predict, then run): the guessed ratio ``guess`` of the final MSE of a plain block to
    that of a residual block (PyTorch's random initialisation, the same 300 SGD steps) on a target close to
    zero, ``0.1 tanh(Ax)``, against the ``measured`` ratio. Right within ``factor`` either way."""
    pair = ratio_and_truth(guess, measured, "mean squared errors")
    if pair is None:
        return False
    value, truth = pair
    off = value / truth
    if 1 / factor <= off <= factor:
        return report(
            True,
            f"you guessed {value:.3g}, the measurement is {truth:.3g}. On a target near zero the plain block starts "
            "near it, and the residual block's F must first learn to cancel x: section 3's comparison, turned around.",
            "",
        )
    if value >= 1 > truth:
        return report(
            False,
            "",
            f"your guess {value:.3g} says the residual block still ends lower; it ends higher (ratio {truth:.3g}). "
            "Write the residual block as x + F(x): which target must F fit here, and which of section 3's runs "
            "had a task like that?",
        )
    if value <= 1 <= truth:
        return report(
            False, "", f"your guess {value:.3g} says the plain block ends lower; here it does not ({truth:.3g})."
        )
    return report(
        False,
        "",
        f"right direction, but your guess {value:.3g} is {max(off, 1 / off):.1f} times "
        f"{'above' if off > 1 else 'below'} the measured {truth:.3g}. The plain block fitting a target T is "
        "the residual block fitting x + T, with the same weights: find each block's task among section 3's runs.",
    )


def _path_share(n_blocks: int, d: float, k_max: int) -> float:
    """Share of ``prod (1 + d)`` over ``n_blocks`` carried by the paths through at most ``k_max`` branches."""
    return sum(math.comb(n_blocks, k) * d**k for k in range(k_max + 1)) / (1 + d) ** n_blocks


@checker
def check_path_share(fn: Any) -> bool:
    """Exercise 02.3a: ``fn(n_blocks, d, k_max)``, the share of the input gradient ``prod (1 + d)`` of
    ``n_blocks`` residual blocks (each branch derivative ``d``) carried by paths through at most
    ``k_max`` branches (Veit et al. 2016's unrolled view); compared with exact sums at five settings."""
    if unanswered(fn):
        return False
    if not callable(fn):
        return report(False, "", "pass your function itself: check_path_share(path_share)")
    cases = [(50, 0.02, 5), (10, 0.5, 2), (54, 0.1, 3), (3, 1.0, 1), (20, 0.3, 20)]
    for n, d, k in cases:
        want = _path_share(n, d, k)
        try:
            got = as_number(fn(n, d, k))
        except Exception as err:
            return report(False, "", f"path_share({n}, {d}, {k}) raised {type(err).__name__}: {err}")
        if got is not None and math.isclose(got, want, rel_tol=1e-6):
            continue
        where = f"path_share({n}, {d}, {k}) = {got!r}, want {want:.6g}"
        slips = [
            (sum(d**j for j in range(k + 1)) / (1 + d) ** n, "count the paths: C(n, j) ways to pick j branches."),
            (_path_share(n, d, k - 1) if k else -1.0, "'at most k_max' includes paths through exactly k_max branches."),
            (sum(math.comb(n, j) * d**j for j in range(k + 1)), "divide by the whole product (1 + d)^n: a share."),
        ]
        hint = "a path through j branches contributes d^j; sum over j <= k_max."
        hint = next((h for v, h in slips if got is not None and math.isclose(got, v, rel_tol=1e-6)), hint)
        return report(False, "", f"{where}: {hint}")
    share = f"{_path_share(50, 0.02, 5):.2%}"
    return report(True, f"with d = 0.02, paths through at most 5 of 50 branches carry {share} of the gradient.", "")


@checker
def check_block_factors(plain: Any, residual: Any, flows: Any) -> bool:
    """Exercise 02.3b: the mean factor per block, the geometric mean of ``||dL/dx_l|| / ||dL/dx_(l+1)||``,
    of the plain and the residual stack; ``flows`` maps ``"plain"``/``"residual"`` to the measured norms
    ``[||dL/dx_0||, ..., ||dL/dx_L||]`` (``analysis.gradient_flow``). Right within 2%."""
    if unanswered(plain) or unanswered(residual):
        return False
    p, r = as_number(plain), as_number(residual)
    if p is None or r is None:
        return False
    try:
        norms = {k: [float(v) for v in flows[k]] for k in ("plain", "residual")}
    except (TypeError, KeyError, ValueError):
        return report(False, "", "pass the measured norms: check_block_factors(p, r, flows), flows from section 4.")
    n_blocks = len(norms["plain"]) - 1
    total = {k: v[0] / v[-1] for k, v in norms.items()}
    want = {k: t ** (1 / (len(norms[k]) - 1)) for k, t in total.items()}

    def near(a: float, b: float) -> bool:
        return math.isclose(a, b, rel_tol=0.02)

    if near(p, want["plain"]) and near(r, want["residual"]):
        return report(
            True,
            f"plain {want['plain']:.3f} and residual {want['residual']:.3f} per block: at initialisation a "
            f"plain block's Jacobian stretches the gradient by {100 * (want['plain'] - 1):.0f}% each time "
            f"({total['plain']:,.0f}x over {n_blocks} blocks), a residual block's Jacobian by "
            f"{100 * (want['residual'] - 1):.1f}% ({total['residual']:.1f}x).",
            "",
        )
    if near(p, want["residual"]) and near(r, want["plain"]):
        return report(False, "", "the two are swapped.")
    if near(p, total["plain"]) or near(r, total["residual"]):
        return report(
            False, "", f"that is the product over all {n_blocks} blocks; one block's factor is its {n_blocks}th root."
        )
    if near(p, 1 / want["plain"]) or near(r, 1 / want["residual"]):
        return report(False, "", "upside down: divide the norm nearer the input by the norm one block further up.")
    return report(
        False,
        "",
        f"factor per block = (||dL/dx_0|| / ||dL/dx_{n_blocks}||) ** (1 / {n_blocks}), for each stack.",
    )
