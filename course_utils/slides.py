"""Lecture decks: execute each notebook in a profile, drop the solutions, write one offline reveal.js deck.

    python -m course_utils.slides                              # every notebook, cpu/gpu profile, into slides/
    python -m course_utils.slides 01 04_building_blocks --profile smoke --out ../decks
    python -m course_utils.slides --strip-solutions --out handout/   # student copies, not executed, no solutions

A deck is one HTML file: the figures are embedded (code outputs and markdown pictures), reveal.js 4.6.1 is
inlined from ``course_utils/slides_assets/`` (MIT), and cells tagged ``solution`` are gone, inputs and
outputs. Math is typeset by MathJax 2 copied beside the decks (``<out>/_mathjax/``, from the pip package
``jupyter-server-mathjax``); without that package the TeX shows as written. Nothing is fetched at view time.
Cells with ``slide_type: skip`` (setup, plumbing) are left out by nbconvert's slides exporter.
Here: find, execute, strip and build; what a deck embeds (the template, reveal.js, pictures, MathJax) is in ``embed``.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import nbformat
from jinja2 import DictLoader
from nbclient import NotebookClient
from nbconvert import SlidesExporter
from nbconvert.preprocessors import TagRemovePreprocessor
from tqdm.auto import tqdm

from course_utils.embed import (
    _PLACEHOLDER,
    _TEMPLATE,
    MATHJAX_DIR,
    REVEAL_DIR,
    _copy_mathjax,
    _inline_reveal,
    embed_pictures,
)
from course_utils.paths import repo_root
from course_utils.profile import PROFILES, profile_name

__all__ = [
    "long_cells",
    "SOLUTION_TAG",
    "Deck",
    "REVEAL_DIR",
    "find_notebooks",
    "execute",
    "strip_solutions",
    "drop_noise",
    "embed_pictures",
    "to_deck",
    "build_decks",
    "write_handouts",
    "main",
]

SOLUTION_TAG = "solution"


def find_notebooks(names: list[str] | None = None) -> list[Path]:
    """The notebooks to build: all of ``notebooks/`` by default; else paths, file names or prefixes (``"01"``)."""
    nb_dir = repo_root() / "notebooks"
    every = sorted(nb_dir.glob("*.ipynb"))
    if not names:
        return every
    found = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and path.is_file():
            found.append(path.resolve())
            continue
        hits = [p for p in every if p.stem == path.stem or p.name.startswith(name)]
        if len(hits) != 1:
            known = ", ".join(p.stem for p in every)
            why = "no notebook matches" if not hits else f"{len(hits)} notebooks match"
            raise FileNotFoundError(f"{why} {name!r}; give a path or one of: {known}")
        found.append(hits[0])
    return found


def execute(nb: nbformat.NotebookNode, path: Path, profile: str, timeout: int = 600) -> float:
    """Run ``nb`` in place, top to bottom, in ``profile`` with the notebook's folder as cwd; return seconds.

    Figures come back as ``image/png`` outputs (the inline backend, whatever ``MPLBACKEND`` says here);
    progress bars are switched off (``TQDM_DISABLE``): a deck shows results, not progress.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
    env = dict(os.environ, COURSE_PROFILE=profile, TQDM_DISABLE="1")
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    t0 = time.perf_counter()
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute(env=env)
    return time.perf_counter() - t0


def long_cells(nb: nbformat.NotebookNode, seconds: float = 20.0) -> list[tuple[int, float]]:
    """``(index, seconds)`` of the cells of an executed ``nb`` that ran ``seconds`` or longer (0-based indices, from the
    kernel's own timestamps, which the execution records in each cell's ``metadata.execution``)."""
    found = []
    for i, cell in enumerate(nb.cells):
        t = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in t and "shell.execute_reply" in t:
            took = (_stamp(t["shell.execute_reply"]) - _stamp(t["iopub.execute_input"])).total_seconds()
            if took >= seconds:
                found.append((i, took))
    return found


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def strip_solutions(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without the cells tagged ``solution`` (their source and their outputs)."""
    pre = TagRemovePreprocessor(remove_cell_tags={SOLUTION_TAG}, enabled=True)
    out, _ = pre.preprocess(copy.deepcopy(nb), {})
    out.cells = [c for c in out.cells if SOLUTION_TAG not in c.get("metadata", {}).get("tags", [])]
    return out


def drop_noise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove what does not belong on a slide, in place: stderr streams, widget views, stored widget state."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = [
            o
            for o in cell.get("outputs", [])
            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            and "application/vnd.jupyter.widget-view+json" not in o.get("data", {})
        ]
    nb.metadata.pop("widgets", None)
    return nb


def to_deck(nb: nbformat.NotebookNode, path: Path, mathjax: bool = True, keep_solutions: bool = False) -> str:
    """The offline deck of an (executed) notebook: solutions removed, figures embedded, reveal.js inlined.

    ``keep_solutions=True`` gives the instructor's own deck, with the solutions.
    """
    exporter = SlidesExporter(
        extra_loaders=[DictLoader({"course_deck.html.j2": _TEMPLATE})],
        template_file="course_deck.html.j2",
        reveal_url_prefix=_PLACEHOLDER,
        reveal_theme="white",
        embed_images=True,  # attachments and pictures beside the notebook; md_img/ is done by embed_pictures
        mathjax_url=f"{MATHJAX_DIR}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe" if mathjax else "",
    )
    clean = drop_noise(copy.deepcopy(nb) if keep_solutions else strip_solutions(nb))
    embed_pictures(clean, path.parent)
    html, _ = exporter.from_notebook_node(clean, resources={"metadata": {"path": str(path.parent), "name": path.stem}})
    return _inline_reveal(html)


@dataclass
class Deck:
    """One built deck: the source notebook, the HTML file, the seconds its execution took, the executed notebook."""

    notebook: Path
    html: Path
    seconds: float
    executed: nbformat.NotebookNode


def build_decks(
    notebooks: list[Path],
    profile: str,
    out: Path,
    timeout: int = 600,
    progress: bool = True,
    keep_solutions: bool = False,
) -> list[Deck]:
    """Execute each notebook in ``profile`` and write ``<out>/<stem>.slides.html`` (one execution each)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
    out.mkdir(parents=True, exist_ok=True)
    mathjax = _copy_mathjax(out)
    decks = []
    bar = tqdm(notebooks, desc=f"decks ({profile})", unit="notebook", disable=not progress, file=sys.stderr)
    for path in bar:
        bar.set_postfix_str(path.stem)
        nb = nbformat.read(path, as_version=4)
        secs = execute(nb, path, profile, timeout)
        html = out / f"{path.stem}.slides.html"
        html.write_text(to_deck(nb, path, mathjax, keep_solutions), encoding="utf-8")
        decks.append(Deck(path, html, secs, nb))
    return decks


def write_handouts(notebooks: list[Path], out: Path) -> list[Path]:
    """Student copies: the notebooks as committed, without the cells tagged ``solution``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        target = out / path.name
        if target.resolve() == path.resolve():
            raise ValueError(f"--out must not be the notebooks' own folder ({path.parent})")
        nbformat.write(strip_solutions(nbformat.read(path, as_version=4)), target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m course_utils.slides", description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", help="paths, names or prefixes (01, 04_building_blocks); default: all")
    ap.add_argument("--profile", default=None, help=f"{' | '.join(PROFILES)} (default: $COURSE_PROFILE or hardware)")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: slides/, or handout/)")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    ap.add_argument("--strip-solutions", action="store_true", help="write student notebooks without solutions")
    ap.add_argument("--with-solutions", action="store_true", help="keep the solutions (the instructor's own deck)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    try:
        notebooks = find_notebooks(args.notebooks)
        if args.strip_solutions:
            for p in write_handouts(notebooks, args.out or repo_root() / "handout"):
                print(p)
            return 0
        profile = profile_name(args.profile)
        out = args.out or repo_root() / "slides"
        decks = build_decks(notebooks, profile, out, args.timeout, not args.no_progress, args.with_solutions)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for deck in decks:
        slow = ", ".join(f"c{i} {t:.0f} s" for i, t in long_cells(deck.executed))
        slow = f"; cells of 20 s or more: {slow}" if slow else ""
        print(f"{deck.html}  ({deck.seconds:.0f} s to execute, profile {profile}{slow})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
