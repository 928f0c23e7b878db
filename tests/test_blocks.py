"""The residual blocks against torchvision's own blocks (same weights, same outputs) and their shortcuts."""

import pytest
import torch
import torchvision

from course_utils import blocks as B
from course_utils import models as M


@pytest.mark.parametrize(
    ("ours", "theirs", "in_planes", "planes", "stride"),
    [
        ("BasicBlock", "BasicBlock", 64, 64, 1),
        ("Bottleneck", "Bottleneck", 256, 64, 1),
        ("Bottleneck", "Bottleneck", 256, 128, 2),
    ],
)
def test_blocks_equal_torchvisions_with_the_same_weights(ours, theirs, in_planes, planes, stride):
    torch.manual_seed(0)
    tv = torchvision.models.resnet
    down = None
    if stride != 1 or in_planes != planes * getattr(tv, theirs).expansion:
        out = planes * getattr(tv, theirs).expansion
        down = torch.nn.Sequential(tv.conv1x1(in_planes, out, stride), torch.nn.BatchNorm2d(out))
    ref = getattr(tv, theirs)(in_planes, planes, stride, downsample=down).eval()
    mine_down = (
        None if down is None else torch.nn.Sequential(B.conv1x1(in_planes, out, stride), torch.nn.BatchNorm2d(out))
    )
    mine = getattr(B, ours)(in_planes, planes, stride, downsample=mine_down).eval()
    mine.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, in_planes, 14, 14)
    with torch.no_grad():
        torch.testing.assert_close(mine(x), ref(x), rtol=0, atol=0)


def test_models_reexports_the_blocks():
    assert M.BasicBlock is B.BasicBlock and M.conv3x3 is B.conv3x3 and M.ShortcutA is B.ShortcutA


def test_shortcut_a_subsamples_and_zero_pads():
    x = torch.randn(2, 16, 9, 9)
    sc = B.ShortcutA(16, 32, stride=2)
    out = sc(x)
    conv = M.conv3x3(16, 32, stride=2)
    assert out.shape == conv(x).shape == (2, 32, 5, 5)  # same positions as the 3x3/2 conv
    assert torch.equal(out[:, :16], x[:, :, ::2, ::2])
    assert torch.equal(out[:, 16:], torch.zeros(2, 16, 5, 5))
    assert M.count_params(sc) == 0


def test_block_misuse():
    with pytest.raises(ValueError, match="option A can only add channels"):
        B.ShortcutA(32, 16)
    with pytest.raises(ValueError, match="plain block"):
        B.BasicBlock(16, 32, 2, downsample=B.ShortcutA(16, 32, 2), residual=False)
