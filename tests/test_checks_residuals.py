"""course_utils.checks.residuals (notebook 02): every checker accepts the right answer,
rejects wrong ones with the hint for that slip, never raises."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils import checks, models


def _says(capsys, text: str) -> bool:
    return text in capsys.readouterr().out


def test_preact_block_is_the_identity_once_its_last_conv_is_zero():
    # the independent truth behind the answer: F(x) = conv2(...) has no bias, so a zero conv2 gives x + 0
    torch.manual_seed(0)
    block = models.PreActBlock(8, 8)
    with torch.no_grad():
        for bn in (block.bn1, block.bn2):
            bn.bias.uniform_(-0.5, 0.5)
            bn.running_mean.uniform_(-0.5, 0.5)
        block.conv2.weight.zero_()
        x = 3 * torch.randn(4, 8, 6, 6)  # either sign
        for mode in (False, True):
            assert torch.equal(block.train(mode)(x), x)


def test_check_preact_identity(capsys):
    state = torch.random.get_rng_state()

    def right(block):
        block.conv2.weight.zero_()

    assert checks.check_preact_identity(right)
    assert _says(capsys, "Correct")
    assert torch.equal(state, torch.random.get_rng_state())  # the notebook's RNG is left alone
    assert checks.check_preact_identity(lambda b: torch.nn.init.zeros_(b.conv2.weight))
    for name, text in [
        ("bn2.weight", "not the last layer of F"),  # section 2's recipe copied: the learned shift still passes
        ("conv1.weight", "layers after the one you changed"),
        ("bn1.weight", "layers after the one you changed"),
        ("bn2.bias", "which layer of this block comes last"),
    ]:
        assert not checks.check_preact_identity(lambda b, name=name: dict(b.named_parameters())[name].zero_())
        assert _says(capsys, text), name

    def two_tensors(block):  # works, but is not one tensor
        block.bn2.weight.zero_()
        block.bn2.bias.zero_()

    assert not checks.check_preact_identity(two_tensors)
    assert _says(capsys, "one is enough")

    def training_mode_only(block):  # a batch-standardised BN2 stays far below zero, so ReLU kills it: F = 0 ...
        block.bn2.bias.fill_(-100.0)  # ... but in eval mode a large input gets through

    assert not checks.check_preact_identity(training_mode_only)
    assert _says(capsys, "training mode only")
    assert not checks.check_preact_identity(lambda b: models.PreActBlock(8, 8))
    assert _says(capsys, "in place")
    assert not checks.check_preact_identity(lambda b: b.nope)
    assert _says(capsys, "AttributeError")
    assert not checks.check_preact_identity("conv2")
    assert _says(capsys, "pass your function")
    assert not checks.check_preact_identity(None)
    assert _says(capsys, "Not answered yet")


def _toy_end_mse(block, target, x, steps):
    # the notebook's SGD on one two-layer block: lr 0.05, momentum 0.9, MSE; returns every step's loss
    opt = torch.optim.SGD(block.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(block(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _two_layers(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8))


class _Residual(torch.nn.Module):
    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x):
        return x + self.f(x)


def test_check_near_zero_target(capsys):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 8, generator=g)
    correction = 0.1 * torch.tanh(x @ (torch.randn(8, 8, generator=g) / 3))
    # the solution's reasoning: a plain block fitting T is the residual block fitting x + T, step by step
    plain_zero = _toy_end_mse(_two_layers(1), correction, x, 100)
    residual_identity = _toy_end_mse(_Residual(_two_layers(1)), x + correction, x, 100)
    assert plain_zero == pytest.approx(residual_identity, rel=1e-4)
    residual_zero = _toy_end_mse(_Residual(_two_layers(1)), correction, x, 100)
    plain_identity = _toy_end_mse(_two_layers(1), x + correction, x, 100)
    measured = plain_zero[-1] / residual_zero[-1]
    assert measured < 1  # near zero, the plain block ends lower
    predicted = residual_identity[-1] / plain_identity[-1]  # from the near-identity runs alone
    assert checks.check_near_zero_target(predicted, measured)
    assert _says(capsys, "Correct")
    for right in (measured, measured / 1.9, 1.9 * measured):
        assert checks.check_near_zero_target(right, measured)
    assert not checks.check_near_zero_target(1.5 * measured, measured, factor=1.2)
    for wrong, text in [
        (2.0, "still ends lower"),
        (1.0, "still ends lower"),
        (3 * measured, "above the measured"),
        (measured / 3, "below the measured"),
        (-0.5, "positive"),
    ]:
        assert not checks.check_near_zero_target(wrong, measured), wrong
        assert _says(capsys, text), text
    assert not checks.check_near_zero_target(0.5, 2.0)
    assert _says(capsys, "plain block ends lower")
    assert not checks.check_near_zero_target(0.1, None)
    assert _says(capsys, "record your guess first")
    assert not checks.check_near_zero_target(None, measured)
    assert _says(capsys, "Not answered yet")
    assert not checks.check_near_zero_target("small", measured)


def test_check_path_share_against_enumerated_paths(capsys):
    from itertools import product

    def enumerated(n, d, k_max):  # the independent truth: every path of the unrolled stack, one by one
        total = sum(d ** sum(p) for p in product((0, 1), repeat=n))
        return sum(d ** sum(p) for p in product((0, 1), repeat=n) if sum(p) <= k_max) / total

    def closed_form(n, d, k_max):
        return sum(math.comb(n, j) * d**j for j in range(k_max + 1)) / (1 + d) ** n

    for n, d, k in [(10, 0.5, 2), (3, 1.0, 1), (12, 0.1, 3)]:
        assert closed_form(n, d, k) == pytest.approx(enumerated(n, d, k), rel=1e-12)
    assert checks.check_path_share(closed_form)
    assert _says(capsys, "99.9")
    slips = {
        "C(n, j)": lambda n, d, k: sum(d**j for j in range(k + 1)) / (1 + d) ** n,
        "exactly k_max": lambda n, d, k: closed_form(n, d, k - 1),
        "a share": lambda n, d, k: sum(math.comb(n, j) * d**j for j in range(k + 1)),
        "contributes d^j": lambda n, d, k: 0.5,
    }
    for said, wrong in slips.items():
        assert not checks.check_path_share(wrong)
        assert _says(capsys, said)
    assert not checks.check_path_share(None) and not checks.check_path_share(0.99)
    assert not checks.check_path_share(lambda n, d, k: [][0])


def test_check_block_factors(capsys):
    # stacks of 12 scalar blocks: plain x -> 1.3 x, residual x -> x + 0.05 x; norms by autograd
    def flow(factor):
        xs = [torch.tensor(1.0, requires_grad=True)]
        for _ in range(12):
            xs.append(factor * xs[-1])
        grads = torch.autograd.grad(xs[-1], xs)
        return [g.abs().item() for g in grads]

    flows = {"plain": flow(1.3), "residual": flow(1.05)}
    assert checks.check_block_factors(1.3, 1.05, flows)
    assert _says(capsys, "Correct")
    assert checks.check_block_factors(1.31, 1.04, flows)  # within 2%
    for (p, r), text in [
        ((1.05, 1.3), "swapped"),
        ((1.3**12, 1.05), "12th root"),
        ((1 / 1.3, 1 / 1.05), "upside down"),
        ((2.0, 1.0), "** (1 / 12)"),
    ]:
        assert not checks.check_block_factors(p, r, flows)
        assert _says(capsys, text), text
    assert not checks.check_block_factors(1.3, 1.05, None)
    assert _says(capsys, "pass the measured norms")
    assert not checks.check_block_factors(None, 1.05, flows)
    assert not checks.check_block_factors(1.3, "x", flows)
