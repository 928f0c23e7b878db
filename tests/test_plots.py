"""Plots and tables render from result files in the paper's style."""

import json

import matplotlib
import pytest

from course_utils import plots, results, schedule
from tests.fakes import fake_folder, fake_result

matplotlib.use("Agg")


@pytest.fixture
def folder(tmp_path):
    return fake_folder(tmp_path)


def test_fig6_panels_lines_and_styles(folder):
    fig = plots.plot_fig6(results.load_results(folder))
    axes = fig.axes
    assert [a.get_title() for a in axes] == ["plain networks", "ResNets", "CIFAR ResNet-18"]
    for ax, models in zip(axes, (["plain20", "plain56"], ["resnet20", "resnet56"], ["resnet18_cifar"]), strict=True):
        lines = ax.get_lines()
        assert len(lines) == 2 * len(models)  # a dashed training and a bold test curve per model
        dashed = [ln for ln in lines if ln.get_linestyle() == "--"]
        solid = [ln for ln in lines if ln.get_linestyle() == "-"]
        assert len(dashed) == len(solid) == len(models)
        assert all(s.get_linewidth() > 2 * d.get_linewidth() for s, d in zip(solid, dashed, strict=True))
        assert [s.get_label() for s in solid] == [plots.label(m) for m in models]
        assert ax.get_ylim() == (0, 20) and ax.get_xlim() == (0, 6.4)  # the paper's axes
        assert ax.get_xlabel() == "iter. (1e4)" and ax.get_ylabel() == "error (%)"
    test_line = axes[0].get_lines()[1]
    assert list(test_line.get_xdata()) == [1.6, 3.2, 4.8, 6.4]
    assert test_line.get_ydata()[-1] == 9.8
    assert "64,000 iterations" in fig.get_suptitle() and "50,000 training images" in fig.get_suptitle()


def test_fig6_without_resnet18_and_short_runs_rescale(tmp_path):
    for m in ("plain20", "plain56", "resnet20", "resnet56"):
        (tmp_path / f"{m}-s0.json").write_text(json.dumps(fake_result(m, 45.0, 50.0, its=1000, step=250)))
    fig = plots.plot_fig6(tmp_path)
    assert len(fig.axes) == 2
    assert fig.axes[0].get_ylim()[1] >= 60  # the curves stay visible above the paper's 20%
    assert fig.axes[0].get_xlim() == (0, 1000)  # a short run: plain iterations


def test_short_run_x_axis_is_in_plain_iterations(tmp_path):
    (tmp_path / "resnet20-s0.json").write_text(json.dumps(fake_result("resnet20", 30.0, 35.0, its=3000, step=1000)))
    ax = plots.plot_curves(tmp_path)
    assert ax.get_xlabel() == "iteration" and ax.get_xlim() == (0, 3000)
    assert [list(ln.get_xdata()) for ln in ax.get_lines()] == [[1000, 2000, 3000]] * 2


@pytest.mark.parametrize("its,xlabel,xmax", [(19_000, "iteration", 19_000), (20_000, "iter. (1e4)", 2.0)])
def test_x_unit_switches_at_20k_iterations(tmp_path, its, xlabel, xmax):
    (tmp_path / "resnet20-s0.json").write_text(json.dumps(fake_result("resnet20", 3.0, 8.0, its=its, step=its // 4)))
    ax = plots.plot_curves(tmp_path)
    assert ax.get_xlabel() == xlabel and ax.get_xlim() == (0, xmax)
    assert ax.get_lines()[1].get_xdata()[-1] == xmax  # the last record sits on the right edge


def test_lr_schedule_plot_has_the_steps():
    ax = plots.plot_lr_schedule(
        {"paper": schedule.paper_schedule("resnet56"), "resnet110": schedule.paper_schedule("resnet110")}
    )
    paper, warm = ax.get_lines()
    assert list(paper.get_xdata()) == [0, 32_000, 32_000, 48_000, 48_000, 64_000]
    assert list(paper.get_ydata())[::2] == pytest.approx([0.1, 0.01, 0.001])
    assert list(warm.get_xdata())[:2] == [0, 400] and warm.get_ydata()[0] == 0.01
    assert ax.get_yscale() == "log"


def test_save_fig6_writes_a_png(folder, tmp_path):
    path = plots.save_fig6(folder, tmp_path / "img" / "fig6.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_results_says_what_to_run(tmp_path):
    with pytest.raises(ValueError, match="experiments fig6"):
        plots.plot_fig6(tmp_path)


def test_command_line_writes_the_figure(folder, tmp_path):
    out = tmp_path / "fig.png"
    assert plots.main([str(folder), str(out), "--title", "fake run"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    over = tmp_path / "over.png"
    assert plots.main([str(folder), str(over), "--over-public"]) == 0
    assert over.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and over.stat().st_size > 10_000


def test_the_figure_title_says_what_it_shows(folder):
    fig = plots.plot_fig6(results.load_results(folder), title="GPU reproduction")
    text = fig._suptitle.get_text()
    assert text.startswith("GPU reproduction: CIFAR-10, 64,000 iterations on cpu, 50,000 training images")
    assert [a.get_title() for a in fig.axes] == ["plain networks", "ResNets", "CIFAR ResNet-18"]


def test_confusion_matrix_writes_every_count_readably():
    cm = [[5, 0, 1], [2, 1000, 0], [0, 3, 7]]  # row = true class, column = prediction
    ax = plots.plot_confusion_matrix(cm, ["cat", "dog", "ship"])
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t for t in ax.texts}  # (row, col)
    assert {k: int(t.get_text()) for k, t in texts.items()} == {(i, j): cm[i][j] for i in range(3) for j in range(3)}
    assert min(t.get_fontsize() for t in ax.texts) >= 9
    assert texts[(1, 1)].get_color() == "white" and texts[(0, 0)].get_color() == "black"  # dark cell, light cell
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "ship"]
    assert ax.get_images()[0].get_array().tolist() == cm


def test_our_run_is_drawn_over_the_public_run_at_the_same_iterations():
    from course_utils import public

    theirs = public.load_public(["plain20", "plain56", "resnet20", "resnet56"])
    ours = [fake_result(m, 20.0, 25.0, its=3128, step=391) for m in theirs]
    fig = plots.plot_over_public(ours, theirs)
    left, right = fig.axes
    assert (left.get_title(), right.get_title()) == ("plain networks", "ResNets") and left.get_xlim() == (0, 3128)
    faint = [ln for ln in left.get_lines() if ln.get_alpha() is not None]
    assert len(faint) == 4 and all(ln.get_xdata()[-1] == 3128 for ln in faint)  # 8 epochs of the public run
    assert [round(y, 1) for y in faint[1].get_ydata()][-1] == 22.2  # plain-20's public test error after 8 epochs
    ours_test = [ln for ln in left.get_lines() if ln.get_alpha() is None and ln.get_linestyle() == "-"]
    assert [ln.get_label() for ln in ours_test] == ["plain-20", "plain-56"] and ours_test[0].get_ydata()[-1] == 25.0
    assert "a-martyn/resnet" in fig.get_suptitle()


def test_a_run_in_progress_is_drawn_over_the_public_runs_whole_curves(tmp_path):
    from course_utils import public

    theirs = public.load_public(["plain20", "resnet20"])
    cpu = "cpu (AMD EPYC)"
    ours = {}
    for m, done in (("plain20", 2318), ("resnet20", 2204)):
        r = fake_result(m, 30.0, 35.0, its=1955, step=391)
        r["schedule"] = schedule.recipe_for(m).to_dict()  # the whole schedule, 64,000 iterations
        r["history"] |= {"device": [cpu] * 5, "variant": ["eager"] * 3 + ["bf16"] * 2}
        ours[m] = dict(r, finished=False, iteration=done, train_set="all")
    fig = plots.plot_over_public(ours, theirs, ymax=60, whole=True)
    left, _ = fig.axes
    assert left.get_xlim() == (0, 64_000) and left.get_ylim() == (0, 60)
    faint = [ln for ln in left.get_lines() if ln.get_alpha() is not None]
    last = max(i for i in theirs["plain20"]["history"]["iteration"] if i <= 64_000)
    assert faint[1].get_xdata()[-1] == last  # the public curve to the end of the schedule
    bold = [ln for ln in left.get_lines() if ln.get_alpha() is None and ln.get_linestyle() == "-"]
    assert [ln.get_label() for ln in bold] == ["plain-20 (2,318)"] and bold[0].get_xdata()[-1] == 1955
    title = fig.get_suptitle()
    assert (
        "in progress: 2,204 of 64,000 iterations, cpu (AMD EPYC) fp32, cpu (AMD EPYC) bf16" in title
    )  # furthest behind
    finished = dict(ours["plain20"], iteration=64_000)
    title = plots.plot_over_public({**ours, "plain20": finished}, theirs, whole=True).get_suptitle()
    assert "1 of 2 nets finished, the furthest behind: 2,204 of 64,000" in title
    for m, r in ours.items():  # the same through the command line, from the committed layout
        results.write_json(tmp_path / "fig6-state" / f"{m}-s0.json", r)
    (tmp_path / "fig6").mkdir()
    assert plots.main([str(tmp_path / "fig6"), str(tmp_path / "whole.png"), "--whole"]) == 0
    assert (tmp_path / "whole.png").stat().st_size > 10_000
