"""course_utils.diagrams: the numbers drawn in the figures are the shapes torch computes."""

import inspect
import itertools
import subprocess
import sys

import matplotlib
import pytest
import torch
from torch import nn

matplotlib.use("Agg")
from matplotlib import pyplot as plt
from matplotlib.patches import Rectangle

from course_utils import diagrams, models, paths


def _texts(ax) -> str:
    return "\n".join(t.get_text() for t in ax.texts) + "\n" + ax.get_title()


def _conv_shapes(block: nn.Module, x: torch.Tensor) -> list[str]:
    """Output shape of every conv on the main path, as 'C×H×W', from a real forward pass."""
    seen = []
    hooks = [
        getattr(block, n).register_forward_hook(lambda m, a, o: seen.append("×".join(map(str, o.shape[1:]))))
        for n in ("conv1", "conv2", "conv3")
        if hasattr(block, n)
    ]
    with torch.no_grad():
        out = block(x)
    for h in hooks:
        h.remove()
    return seen + ["×".join(map(str, out.shape[1:]))]


@pytest.mark.parametrize(
    "size,kernel,stride,padding,dilation",
    [c for c in itertools.product([1, 4, 7, 8], [1, 2, 3, 5], [1, 2, 3], [0, 1, 2], [1, 2])],
)
def test_window_count_matches_conv2d(size, kernel, stride, padding, dilation):
    conv = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation)
    try:
        want = conv(torch.zeros(1, 1, size, size)).shape[-1]
    except RuntimeError:  # torch refuses a kernel larger than the padded input
        want = 0
    assert diagrams.window_count(size, kernel, stride, padding, dilation) == want


@pytest.mark.parametrize(
    "bad", [dict(size=0), dict(kernel=0), dict(stride=0), dict(padding=-1), dict(dilation=0), dict(size=2.5)]
)
def test_window_count_rejects_bad_input(bad):
    args = dict(size=8, kernel=3, stride=1, padding=1, dilation=1) | bad
    with pytest.raises(ValueError, match=next(iter(bad))):
        diagrams.window_count(**args)


@pytest.mark.parametrize("args", [(7, 3, 2, 1, 1), (8, 1, 2, 0, 1), (9, 3, 1, 0, 2), (3, 5, 1, 0, 1)])
def test_sliding_window_draws_the_output_grid(args):
    out = diagrams.window_count(*args)
    ax = diagrams.sliding_window(*args)
    full = args[0] + 2 * args[3]
    cells = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_x() >= full + 2]
    assert len(cells) == out * out
    if out == 0:  # the title must not claim "... + 1 = 0": the numerator is negative
        assert "does not fit" in _texts(ax) and "no window fits" in ax.get_title()
        assert not ax.get_title().endswith("= 0")
    else:
        assert ax.get_title().endswith(f"= {out}")
    plt.close("all")


@pytest.mark.parametrize("in_planes,planes,stride", [(64, 64, 1), (64, 128, 2), (16, 32, 2)])
def test_basic_block_diagram_shows_the_real_shapes(in_planes, planes, stride):
    down = (
        None
        if stride == 1 and in_planes == planes
        else nn.Sequential(models.conv1x1(in_planes, planes, stride), nn.BatchNorm2d(planes))
    )
    block = models.BasicBlock(in_planes, planes, stride, down).eval()
    text = _texts(diagrams.block_diagram("basic", in_planes, planes, 56, stride, "identity" if down is None else "B"))
    for shape in _conv_shapes(block, torch.zeros(1, in_planes, 56, 56)):
        assert shape in text
    if down is not None:  # the projection's parameter count, as drawn
        assert f"{models.count_params(down):,} params" in text
    plt.close("all")


@pytest.mark.parametrize("stride_on", ["1x1", "3x3"])
def test_bottleneck_diagram_puts_the_stride_where_the_model_does(stride_on):
    down = nn.Sequential(models.conv1x1(256, 512, 2), nn.BatchNorm2d(512))
    block = models.Bottleneck(256, 128, 2, down, stride_on=stride_on).eval()
    text = _texts(diagrams.block_diagram("bottleneck", 256, 128, 56, 2, "B", stride_on=stride_on))
    shapes = _conv_shapes(block, torch.zeros(1, 256, 56, 56))
    assert shapes[0] == ("128×28×28" if stride_on == "1x1" else "128×56×56")
    for shape in shapes:
        assert shape in text
    plt.close("all")


def test_option_a_diagram_counts_zero_channels():
    text = _texts(diagrams.block_diagram("basic", 16, 32, 32, 2, "A"))
    shortcut = models.ShortcutA(16, 32, 2)
    assert models.count_params(shortcut) == 0 and "0 params" in text
    assert shortcut(torch.zeros(1, 16, 32, 32)).shape[1] - 16 == 16 and "16 zero channels" in text
    plt.close("all")


@pytest.mark.parametrize(
    "bad", [dict(kind="wide"), dict(shortcut="D"), dict(stride_on="5x5"), dict(stride=2, shortcut="identity")]
)
def test_block_diagram_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        diagrams.block_diagram(**bad)


@pytest.mark.parametrize("n", [1, 3, 9])
def test_shape_flow_stages_match_the_cifar_resnet(n):
    model = models.resnet_cifar(6 * n + 2).eval()
    seen = {}
    for name in ("conv1", "layer1", "layer2", "layer3", "avgpool", "fc"):
        model.get_submodule(name).register_forward_hook(lambda m, a, o, k=name: seen.__setitem__(k, o.shape))
    with torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))
    stages = diagrams.resnet_cifar_stages(n)
    real = [(3, 32)] + [(seen[k][1], seen[k][-1] if len(seen[k]) == 4 else 1) for k in seen]
    assert [(c, s) for _, c, s in stages] == real
    assert f"{n} blocks" in stages[2][0]
    text = _texts(diagrams.shape_flow(stages))
    assert "32×16×16" in text and "64×8×8" in text
    plt.close("all")


def test_save_all_writes_every_png(tmp_path):
    written = diagrams.save_all(tmp_path, dpi=40)
    assert len(written) == 7
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_cli_writes_into_out(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "course_utils.diagrams", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "basic_block.png").exists() and "basic_block.png" in out.stdout


def test_default_folder_is_md_img_from_paths():
    # the folder comes from course_utils.paths, not from walking up this module's __file__
    assert diagrams.MD_IMG == paths.md_img_dir() == paths.repo_root() / "md_img"
    assert inspect.signature(diagrams.save_all).parameters["out"].default == paths.md_img_dir()
