"""ResNet-A/B/C/D against torchvision, a hand count and autograd (which input positions reach the output)."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from course_utils.models import resnet as R
from course_utils.models import tricks as T

RESNET50 = 25_557_032  # torchvision.models.resnet50
# ResNet-C/D: the 7x7x3x64 stem conv (9,408) becomes 3x3 convs 3->32->32->64 plus two BNs of 32
DEEP_STEM_EXTRA = (3 * 32 + 32 * 32 + 32 * 64) * 9 + 2 * 2 * 32 - 7 * 7 * 3 * 64


@pytest.mark.slow
def test_counts_by_hand_and_against_torchvision():
    assert sum(p.numel() for p in torchvision.models.resnet50().parameters()) == RESNET50
    assert R.count_params(T.resnet50_tweaked("A")) == R.count_params(T.resnet50_tweaked("b")) == RESNET50
    assert DEEP_STEM_EXTRA == 19_232
    # timm's resnet50c / resnet50d report 25.58M: the avg pool adds no parameters
    assert R.count_params(T.resnet50_tweaked("C")) == R.count_params(T.resnet50_tweaked("D")) == 25_576_264


def test_variant_b_loads_torchvision_weights_and_matches():
    tv, ours = torchvision.models.resnet50().eval(), T.resnet50_tweaked("B").eval()
    ours.load_state_dict(tv.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv(x))


@pytest.mark.slow
def test_shapes_agree_between_variants():
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        outs = {v: T.resnet50_tweaked(v, num_classes=7).eval()(x) for v in T.VARIANTS}
    assert all(o.shape == (1, 7) for o in outs.values())
    d = T.resnet50_tweaked("D")
    pools = [m for m in d.modules() if isinstance(m, T.AvgPoolShortcut)]
    assert len(pools) == 3  # the stride-2 projections of layers 2-4 (layer1's projection has stride 1)


def _reached(shortcut: nn.Module, c: int = 4) -> torch.Tensor:
    """Which input positions of an (1, c, 8, 8) map get a gradient from the shortcut's output."""
    x = torch.randn(1, c, 8, 8, requires_grad=True)
    shortcut.eval()(x).sum().backward()
    return (x.grad.abs().sum(1)[0] > 0).float()


def test_strided_1x1_throws_away_three_of_four_positions_and_avgpool_keeps_all():
    torch.manual_seed(0)
    strided = nn.Sequential(nn.Conv2d(4, 8, 1, stride=2, bias=False), nn.BatchNorm2d(8))
    assert _reached(strided).mean().item() == pytest.approx(0.25)
    assert _reached(T.AvgPoolShortcut(4, 8, 2)).mean().item() == 1.0
    assert _reached(R.ShortcutA(4, 8, 2)).mean().item() == pytest.approx(0.25)  # option A subsamples alike
    torch.testing.assert_close(T.AvgPoolShortcut(4, 8, 2)(torch.randn(2, 4, 7, 7)).shape, torch.Size([2, 8, 4, 4]))


def test_use_avgpool_shortcuts_on_a_cifar_option_b_net():
    net = R.resnet_cifar(20, shortcut="B")
    before = R.count_params(net)
    T.use_avgpool_shortcuts(net)
    assert sum(isinstance(m, T.AvgPoolShortcut) for m in net.modules()) == 2
    assert R.count_params(net) == before and net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="variant"):
        T.resnet50_tweaked("E")
