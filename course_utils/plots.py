"""Paper-style figures and tables from result files (``results/<experiment>/<model>-s<seed>.json``).

Plots read only the results contract, never a live model:

    >>> from course_utils import plots, results
    >>> fig = plots.plot_fig6(results.load_results("results/fig6"))   # doctest: +SKIP

Fig. 6 of He et al. 2015: plain nets left, ResNets right; thin dashed = training error,
bold = test error; iterations in units of 1e4 on x, error in % on y (0-20).
"""

from __future__ import annotations

import argparse
import itertools
import math
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from course_utils.fig6_set import FIG6_NETS
from course_utils.paths import md_img_dir
from course_utils.public import load_public
from course_utils.results import describe, done, in_progress, load_results, reached
from course_utils.schedule import Schedule, model_depth

__all__ = ["as_results", "label", "plot_curves", "plot_fig6", "plot_over_public", "plot_resnet18", "plot_lr_schedule"]
__all__ += ["plot_confusion_matrix", "save_fig6", "main"]
DEPTH_COLORS = {20: "#e8a317", 32: "#1f9bd1", 44: "#2ca02c", 56: "#d62728", 110: "black", 1202: "#8c564b"}
DEPTH_COLORS[18] = "#7b3fb5"  # the CIFAR ResNet-18
Results = Mapping[str, dict] | Iterable[dict] | str | Path


def as_results(results: Results) -> list[dict]:
    """A list of result dicts from a ``{name: result}`` dict, a list of them, or a results folder."""
    if isinstance(results, (str, Path)):
        results = load_results(results)
    items = list(results.values()) if isinstance(results, Mapping) else list(results)
    if not items:
        raise ValueError(
            "no results to plot: run `python -m course_utils.experiments fig6` first, "
            "or point to a folder that holds <model>-s<seed>.json files"
        )
    return items


def label(model: str) -> str:
    """``plain20`` -> ``plain-20``, ``resnet56`` -> ``ResNet-56``, ``resnet18_cifar`` -> ``ResNet-18 (CIFAR)``."""
    depth = re.search(r"\d+", model)
    d = depth.group(0) if depth else "?"
    if model.startswith("plain"):
        return f"plain-{d}"
    if model.startswith("preact"):
        return f"pre-act ResNet-{d}"
    return f"ResNet-{d}" + (" (CIFAR)" if model.endswith("_cifar") else "")


def _color(model: str) -> str:
    depth = re.search(r"\d+", model)
    return DEPTH_COLORS.get(int(depth.group(0)) if depth else -1, "grey")


def _auto_ymax(items: list[dict]) -> float:
    """20 (the paper's axis, early curves off the top as in the paper) when the curves end below it;
    else a round number above every point, so that a short run's curves are seen whole."""
    ends = [max(r["history"]["train_error"][-1], r["history"]["test_error"][-1]) for r in items]
    if max(ends, default=0.0) < 18:
        return 20.0
    top = max(max(r["history"]["train_error"] + r["history"]["test_error"]) for r in items)
    return min(100.0, 10.0 * math.ceil(top * 1.05 / 10))


def _depth(r: dict) -> int:  # the sort key of a result: its net's depth
    return model_depth(r["model"])


def plot_curves(
    results: Results,
    ax: Axes | None = None,
    *,
    ymax: float | str = "auto",
    title: str | None = None,
    legend: bool = True,
) -> Axes:
    """Training (thin dashed) and test (bold) error of every run on one axis, x in units of 1e4 iterations."""
    items = as_results(results)
    ax = ax or plt.subplots(figsize=(5, 4))[1]
    longest = max(r["schedule"]["iterations"] for r in items)
    unit = 1e4 if longest >= 20_000 else 1  # the paper's unit for its schedule; plain iterations for short runs
    for r in items:
        h, c = r["history"], _color(r["model"])
        x = [i / unit for i in h["iteration"]]
        ax.plot(x, h["train_error"], ls="--", lw=0.9, color=c)
        ax.plot(x, h["test_error"], ls="-", lw=2.2, color=c, label=label(r["model"]))
    ax.set_xlabel("iter. (1e4)" if unit == 1e4 else "iteration")
    ax.set_ylabel("error (%)")
    ax.set_ylim(0, _auto_ymax(items) if ymax == "auto" else ymax)
    ax.set_xlim(0, longest / unit)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    if legend:
        style = [
            Line2D([], [], color="k", ls="--", lw=0.9, label="train"),
            Line2D([], [], color="k", ls="-", lw=2.2, label="test"),
        ]
        ax.legend(
            handles=ax.get_legend_handles_labels()[0] + style, loc="lower left", fontsize=8
        )  # curves fall: empty there
    return ax


def plot_fig6(
    results: Results,
    axes: Iterable[Axes] | None = None,
    *,
    ymax: float | str = "auto",
    include_resnet18: bool = True,
    title: str | None = None,
) -> Figure:
    """Fig. 6 in the paper's style: plain nets (left), ResNets (right) and, when present, the CIFAR ResNet-18.

    The figure's title says what it shows (``results.describe``), after ``title`` when given.
    """
    items = as_results(results)
    plain = sorted((r for r in items if r["model"].startswith("plain")), key=_depth)
    res = sorted((r for r in items if re.fullmatch(r"(preact_)?resnet\d+", r["model"])), key=_depth)
    r18 = [r for r in items if r["model"] == "resnet18_cifar"] if include_resnet18 else []
    panels = [(p, t) for p, t in ((plain, "plain networks"), (res, "ResNets"), (r18, "CIFAR ResNet-18")) if p]
    if axes is None:
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.0), squeeze=False)
        axes = axes[0]
    axes = list(axes)
    if len(axes) < len(panels):
        raise ValueError(f"need {len(panels)} axes for {[t for _, t in panels]}, got {len(axes)}")
    top = _auto_ymax(items) if ymax == "auto" else ymax  # one y-scale for every panel, as in the paper
    for ax, (group, panel) in zip(axes[: len(panels)], panels, strict=True):
        plot_curves(group, ax, ymax=top, title=panel)
    fig = axes[0].figure
    what = textwrap.fill(f"CIFAR-10, {describe(items[0])}", 100) + ";\ndashed: training error, bold: test error"
    fig.suptitle(f"{title}: {what}" if title else what, fontsize=10)
    fig.tight_layout()
    return fig


def plot_over_public(ours: Results, public: Results, *, ymax: float = 100.0, whole: bool = False) -> Figure:
    """Our run drawn over the public full-schedule run at the same iterations: plain nets left, ResNets right.

    The x axis ends where our run ends; the public curves (faint, one dot per epoch) show what the same
    first iterations look like in a run of the whole schedule, ours (solid, with markers) are drawn over them.
    ``whole``: the x axis spans our runs' whole schedule, the public curves are drawn to their end, and the
    title says how far ours has reached (``results.reached``): a run in progress over the finished curves.
    """
    mine = as_results(ours)
    end = max(r["schedule"]["iterations"] if whole else r["history"]["iteration"][-1] for r in mine)
    theirs = {r["model"]: r for r in as_results(public)}
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 4.0), sharey=True)
    for ax, (title, kind) in zip(axes, (("plain networks", "plain"), ("ResNets", "resnet")), strict=True):
        for r in sorted((r for r in mine if re.fullmatch(kind + r"\d+", r["model"])), key=_depth):
            c, pub = _color(r["model"]), theirs.get(r["model"])
            if pub is not None:
                h = pub["history"]
                keep = [i for i, it in enumerate(h["iteration"]) if it <= end]
                x = [h["iteration"][i] for i in keep]
                ax.plot(x, [h["train_error"][i] for i in keep], ls="--", lw=0.9, color=c, alpha=0.35)
                ax.plot(x, [h["test_error"][i] for i in keep], ls="-", lw=2.5 if whole else 4, color=c, alpha=0.3,
                        marker="" if whole else ".")  # fmt: skip
            h, ms = r["history"], 0 if whole else 1
            name = f"{label(r['model'])} ({done(r):,})" if whole else label(r["model"])
            ax.plot(h["iteration"], h["train_error"], ls="--", lw=0.9, color=c, marker="o", ms=3 * ms)
            ax.plot(h["iteration"], h["test_error"], ls="-", lw=2, color=c, marker="o", ms=4 * ms, label=name)
        ax.set_title(title)
        ax.set_xlim(0, end)
        ax.set_ylim(0, ymax)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
        style = [
            Line2D([], [], color="grey", lw=4, alpha=0.3, label="public run"),
            Line2D([], [], color="grey", lw=2, marker="" if whole else "o", ms=4, label="ours"),
            Line2D([], [], color="k", ls="--", lw=0.9, label="train"),
        ]
        ax.legend(handles=ax.get_legend_handles_labels()[0] + style, loc="upper right", fontsize=8)
    axes[0].set_ylabel("error (%)")
    src = next(iter(theirs.values()), {}).get("label", "public run")
    if whole:
        behind, k = min(mine, key=done), sum(done(r) >= r["schedule"]["iterations"] for r in mine)
        ours = f"{k} of {len(mine)} nets finished, the furthest behind: " if k else "in progress: "  # legend: each
        fig.suptitle(f"ours (bold), {ours}{reached(behind)}\nfaint: {src}, the whole schedule", fontsize=9)
    else:
        fig.suptitle(
            f"ours: {describe(mine[0])};\nfaint: {src}, the same iterations of a full-schedule run", fontsize=10
        )
    fig.tight_layout()
    return fig


def plot_resnet18(results: Results, ax: Axes | None = None, *, compare: tuple[str, ...] = ("resnet56",)) -> Axes:
    """The CIFAR ResNet-18 curve, with ``compare`` runs (default ResNet-56) for scale."""
    items = [r for r in as_results(results) if r["model"] in ("resnet18_cifar", *compare)]
    if not any(r["model"] == "resnet18_cifar" for r in items):
        raise ValueError(
            "no resnet18_cifar result: run `python -m course_utils.experiments fig6 --models resnet18_cifar`"
        )
    return plot_curves(items, ax, title="CIFAR ResNet-18")


def plot_lr_schedule(schedules: Schedule | dict | Mapping[str, Schedule | dict], ax: Axes | None = None) -> Axes:
    """The learning rate against iterations (log scale) for one schedule (a Schedule, its dict, or a
    result) or a ``{name: schedule}`` mapping of them."""
    if isinstance(schedules, Schedule) or "lr" in schedules or "schedule" in schedules:
        schedules = {"schedule": schedules}
    ax = ax or plt.subplots(figsize=(5, 3))[1]
    for name, s in schedules.items():
        s = s if isinstance(s, Schedule) else Schedule.from_dict(s.get("schedule", s))
        edges = sorted({0, s.iterations, s.warmup_iterations, *s.milestones})
        xs, ys = [], []
        for a, b in itertools.pairwise(edges):  # piecewise constant: two points per segment
            xs += [a, b]
            ys += [s.lr_at(a)] * 2
        ax.plot(xs, ys, lw=2, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("learning rate")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return ax


def plot_confusion_matrix(cm: Any, classes: Sequence[str], ax: Axes | None = None, fontsize: float = 10) -> Axes:
    """A confusion matrix ``cm (C, C)`` (row = true class, column = prediction) with its counts written in.

    The counts use ``fontsize`` points (white on dark cells); at the default size each cell is about
    half an inch, so four-digit counts stay readable on a 1280x720 slide.
    """
    counts = [[int(v) for v in row] for row in cm]
    ax = ax or plt.subplots(figsize=(5.6, 5.2))[1]
    ax.imshow(counts, cmap="Blues")
    n, top = len(counts), max(max(row) for row in counts)
    ax.set_xticks(range(n), classes, rotation=60, ha="right", rotation_mode="anchor", fontsize=fontsize)
    ax.set_yticks(range(n), classes, fontsize=fontsize)
    for i, row in enumerate(counts):
        for j, v in enumerate(row):
            color = "white" if v > top / 2 else "black"
            ax.text(j, i, str(v), ha="center", va="center", fontsize=fontsize, color=color)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return ax


def save_fig6(results: Results, path: str | Path | None = None, dpi: int = 150) -> Path:
    """Render :func:`plot_fig6` to a PNG (default ``md_img/fig6_reproduction.png``) and return its path."""
    path = Path(path) if path is not None else md_img_dir() / "fig6_reproduction.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = plot_fig6(results)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m course_utils.plots RESULTS_DIR OUT.png``: Fig. 6 of a results folder as a PNG
    (``--over-public``: the runs drawn over the public full-schedule curves at the same iterations;
    ``--whole``: the whole-schedule run, finished nets and nets under way, over the public run's whole curves)."""
    p = argparse.ArgumentParser(prog="python -m course_utils.plots", description=main.__doc__)
    p.add_argument("folder", type=Path, help="a results folder, e.g. results/fig6-cpu")
    p.add_argument("png", type=Path, nargs="?", default=None, help="output (default md_img/fig6_reproduction.png)")
    p.add_argument("--title", default=None, help="a title before the one-line description of the run")
    p.add_argument("--over-public", action="store_true", help="draw the runs over the public full-schedule curves")
    p.add_argument(
        "--whole",
        action="store_true",
        help="the whole-schedule run (results/fig6 and the nets under way in results/fig6-state), drawn as far "
        "as it has reached over the public run's whole curves",
    )
    a = p.parse_args(argv)
    found = load_results(a.folder)
    if a.whole:
        found |= in_progress(FIG6_NETS, root=a.folder.parent)
        fig = plot_over_public(found, load_public(), ymax=60, whole=True)
    else:
        fig = plot_over_public(found, load_public()) if a.over_public else plot_fig6(found, title=a.title)
    out = a.png or md_img_dir() / "fig6_reproduction.png"
    fig.savefig(out, dpi=150, bbox_inches="tight")
    plt.close(fig)
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
