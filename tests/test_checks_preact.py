"""course_utils.checks.preact (notebook 04's pre-activation exercise): the block check accepts a block written
from the paper's equations and names the symptom of each planted mistake; the ReLU count on the shortcut path
agrees with the autograd graph of the real networks; the notebook's exercise fails and its solution passes."""

from __future__ import annotations

import heapq
import itertools
import json

import pytest
import torch
from torch import nn

from course_utils import checks, models
from course_utils.paths import repo_root


def _said(capsys, text: str) -> bool:
    return text in capsys.readouterr().out


def _preact(final_relu=False, raw_projection=False, post_order=False):
    """x_{l+1} = x_l + W2 * relu(bn2(W1 * relu(bn1(x_l)))) (He et al. 2016, eq. 3 and Fig. 4e), one bug at a time."""

    class Block(nn.Module):
        def __init__(self, in_planes, planes, stride=1, downsample=None):
            super().__init__()
            self.bn1 = nn.BatchNorm2d(planes if post_order else in_planes)
            self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.downsample = downsample

        def forward(self, x):
            if post_order:  # the original block: conv-BN-ReLU, and a ReLU after the addition
                out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
                return torch.relu(out + (x if self.downsample is None else self.downsample(x)))
            pre = torch.relu(self.bn1(x))
            shortcut = x if self.downsample is None else self.downsample(x if raw_projection else pre)
            out = self.conv2(torch.relu(self.bn2(self.conv1(pre)))) + shortcut
            return torch.relu(out) if final_relu else out

    return Block


def test_a_block_from_the_paper_passes_and_returns_its_input_when_silenced(capsys):
    assert checks.check_preact_block(_preact())
    assert checks.check_preact_block(models.PreActBlock)
    assert "Correct" in capsys.readouterr().out
    block = _preact()(16, 16).eval()
    nn.init.zeros_(block.conv2.weight)  # F(x) = 0: the block is the identity, negative values included
    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(block(x), x)


@pytest.mark.parametrize(
    "bug,symptoms",
    [
        ({"final_relu": True}, ["negative values included", "no negative value"]),
        ({"raw_projection": True}, ["reads the raw input"]),
        ({"post_order": True}, ["negative values included", "bn1.weight has shape (32,), the reference's (16,)"]),
    ],
)
def test_check_preact_block_names_each_bug(bug, symptoms, capsys):
    assert not checks.check_preact_block(_preact(**bug))
    out = capsys.readouterr().out
    assert all(s in out for s in symptoms), out


@pytest.mark.parametrize("junk", [None, "PreActBlock", 3, lambda *a: 5, lambda *a: 1 / 0])
def test_check_preact_block_never_raises_on_junk(junk, capsys):
    assert not checks.check_preact_block(junk)
    assert "Not" in capsys.readouterr().out


def _relus_on_the_shortcut_path(net: nn.Module) -> int:
    """ReLUs on the path with the fewest convolutions from layer3's output back to layer1's input, read from the
    autograd graph: that path runs through every shortcut and through no residual branch."""
    x = torch.randn(1, 16, 8, 8, requires_grad=True)
    out = net.train().layer3(net.layer2(net.layer1(x)))
    tie = itertools.count()
    heap, done = [(0, int("Relu" in type(out.grad_fn).__name__), next(tie), out.grad_fn)], set()
    while heap:
        convs, relus, _, node = heapq.heappop(heap)
        if getattr(node, "variable", None) is x:
            return relus
        if node in done:
            continue
        done.add(node)
        for nxt, _ in node.next_functions:
            if nxt is not None:
                name = type(nxt).__name__
                heapq.heappush(heap, (convs + ("Convolution" in name), relus + ("Relu" in name), next(tie), nxt))
    raise AssertionError("the input is not in the graph")


@pytest.mark.parametrize("depth", [20, 56, 110])
def test_check_shortcut_relus_agrees_with_the_autograd_graph(depth, capsys):
    n_blocks = 3 * (depth - 2) // 6
    pre = _relus_on_the_shortcut_path(models.preact_resnet_cifar(depth))
    orig = _relus_on_the_shortcut_path(models.resnet_cifar(depth, shortcut="B"))
    assert (pre, orig) == (2, n_blocks)  # by hand: the two projections read relu(bn1(x)); one ReLU per block
    assert checks.check_shortcut_relus(pre, depth)
    assert checks.check_shortcut_relus(orig, depth, preact=False)
    assert not checks.check_shortcut_relus(0, depth)
    assert _said(capsys, "pre-activated input")
    assert not checks.check_shortcut_relus(n_blocks, depth)
    assert _said(capsys, "original block's")
    assert not checks.check_shortcut_relus(pre + 1, depth)
    assert _said(capsys, "final BN-ReLU")
    assert not checks.check_shortcut_relus(pre, depth, preact=False)
    assert _said(capsys, "not only the projection blocks")
    assert not checks.check_shortcut_relus(None, depth)
    assert _said(capsys, "Not answered yet")
    assert not checks.check_shortcut_relus("two", depth)
    assert _said(capsys, "answer with a number")


def _code_cells(text: str) -> list[str]:
    nb = json.loads((repo_root() / "notebooks" / "04_building_blocks.ipynb").read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code" and text in "".join(c["source"])]


def test_the_notebooks_exercise_fails_as_given_and_its_solution_passes(capsys):
    (exercise,) = _code_cells("checks.check_preact_block(MyPreActBlock)")
    ns = {"nn": nn, "torch": torch, "checks": checks, "models": models}
    exec(exercise, ns)  # the block as handed out: the original ordering
    assert "ReLU after the addition" in capsys.readouterr().out
    assert not checks.check_preact_block(ns["MyPreActBlock"])
    (solution,) = _code_cells("checks.check_preact_block(PreActBlockSolution)")
    exec(solution, ns)  # asserts that its block and its count pass their checks
    assert checks.check_preact_block(ns["PreActBlockSolution"])
