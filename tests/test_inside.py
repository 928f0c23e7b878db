"""course_utils.analysis.inside (notebook 07): layer responses and lesions, each checked
against a hand walk through the network."""

from __future__ import annotations

import copy

import pytest
import torch

from course_utils import analysis, evaluation, models
from tests.fakes import small_data, small_net

BLOCKS14 = ["layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1"]


def _manual_responses(net, x) -> dict[str, torch.Tensor]:
    """Walk the CIFAR net by hand, keeping every BN output that follows a 3x3 conv."""
    out = {}
    with torch.no_grad():
        h = net.bn1(net.conv1(x))
        out["bn1"] = h.clone()
        h = torch.relu(h)
        for name in BLOCKS14:
            b = net.get_submodule(name)
            r1 = b.bn1(b.conv1(h))
            r2 = b.bn2(b.conv2(torch.relu(r1)))
            out[f"{name}.bn1"], out[f"{name}.bn2"] = r1.clone(), r2.clone()
            h = b(h)
    return out


@pytest.mark.parametrize("kind", ["resnet", "plain", "resnet_B"])
def test_response_layers_are_the_3x3_bns_in_order(kind):
    net = small_net("plain" if kind == "plain" else "resnet", shortcut="B" if kind == "resnet_B" else "A")
    expected = ["bn1"] + [f"{b}.bn{k}" for b in BLOCKS14 for k in (1, 2)]
    assert analysis.response_layers(net) == expected  # 13 = 14 layers - fc; no 1x1 projection BN


@pytest.mark.parametrize("kind", ["resnet", "plain"])
def test_layer_responses_match_a_hand_walk(kind):
    net = small_net(kind)
    x, _ = small_data(10)
    net.train()  # must be evaluated in eval mode anyway, and the flag restored
    before = copy.deepcopy(net.state_dict())
    got = analysis.layer_responses(net, x, batch_size=4)  # 4 + 4 + 2: statistics accumulate
    net.eval()
    ref = {k: v.double().std(correction=0).item() for k, v in _manual_responses(net, x).items()}
    assert list(got) == list(ref)
    assert got == pytest.approx(ref, rel=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(before.values(), net.state_dict().values(), strict=True))
    net.train()
    analysis.layer_responses(net, x)
    assert net.training


def test_layer_responses_uint8_needs_the_normalizer():
    net = small_net("resnet")
    imgs = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    with pytest.raises(ValueError, match="normalizer"):
        analysis.layer_responses(net, imgs)
    norm = lambda u: (u.float() - 128) / 64
    assert analysis.layer_responses(net, imgs, normalizer=norm) == pytest.approx(
        analysis.layer_responses(net, norm(imgs))
    )


def _error_without(net, x, y, skip: str) -> float:
    """Error % with block ``skip`` removed, walking the net by hand (shortcut path kept)."""
    with torch.no_grad():
        h = torch.relu(net.bn1(net.conv1(x)))
        for name in BLOCKS14:
            b = net.get_submodule(name)
            if name != skip:
                h = b(h)
            elif b.downsample is not None:
                h = torch.relu(b.downsample(h))
        logits = net.fc(torch.flatten(net.avgpool(h), 1))
    return 100.0 * (logits.argmax(1) != y).float().mean().item()


def test_lesion_study_matches_hand_deletion_and_restores():
    net = small_net("resnet")
    x, y = small_data(40)
    with torch.no_grad():
        before = net(x)
    res = analysis.lesion_study(net, x, y, batch_size=16)
    assert [n for n, _ in res] == BLOCKS14  # option A shortcut: downsampling blocks too
    for name, err in res:
        assert err == pytest.approx(_error_without(net, x, y, name))
    skipped = analysis.lesion_study(net, x, y, downsampling="skip")
    assert [n for n, _ in skipped] == ["layer1.0", "layer1.1", "layer2.1", "layer3.1"]
    with torch.no_grad():
        assert torch.equal(net(x), before)
    assert all(isinstance(net.get_submodule(n), models.BasicBlock) for n in BLOCKS14)


def test_lesion_study_plain_only_deletes_shape_preserving_blocks():
    net = small_net("plain")
    x, y = small_data(20)
    res = analysis.lesion_study(net, x, y)
    assert [n for n, _ in res] == ["layer1.0", "layer1.1", "layer2.1", "layer3.1"]
    for name, err in res:
        assert err == pytest.approx(_error_without(net, x, y, name))


def test_lesion_of_a_zero_residual_branch_changes_nothing():
    # zero_init_residual: bn2 weight 0 and bias 0, so every block IS relu(shortcut(x)):
    # deleting it must leave the error exactly where it was
    torch.manual_seed(0)
    net = models.resnet_cifar(14, zero_init_residual=True).eval()
    x, y = small_data(30)
    base = evaluation.error_percent(net, x, y)
    assert [e for _, e in analysis.lesion_study(net, x, y)] == [base] * 6


def test_lesion_bad_mode():
    with pytest.raises(ValueError, match="shortcut"):
        analysis.lesion_study(small_net("resnet"), *small_data(4), downsampling="drop")


def test_lesion_of_preact_blocks_keeps_exactly_the_shortcut_path():
    # pre-activation (He et al. 2016): out = x + F(x), the projection shortcut takes relu(bn1(x))
    torch.manual_seed(0)
    net = models.preact_resnet_cifar(14).eval()
    x, y = small_data(20)
    res = dict(analysis.lesion_study(net, x, y))
    assert list(res) == BLOCKS14
    with torch.no_grad():
        h = net.conv1(x)
        for name in BLOCKS14:
            b = net.get_submodule(name)
            if name == "layer2.0":  # deleted: only its shortcut path remains
                h = b.downsample(torch.relu(b.bn1(h)))
            else:
                h = b(h)
        logits = net.fc(torch.flatten(net.avgpool(torch.relu(net.bn(h))), 1))
    assert res["layer2.0"] == pytest.approx(100.0 * (logits.argmax(1) != y).float().mean().item())
    name, _, _, rep = analysis.lesion_plan(net, (1, 3, 16, 16))[2]
    with analysis.lesioned(net, name, rep), torch.no_grad():
        assert torch.allclose(net(x), logits, atol=1e-5)  # the logits themselves, not only the error
