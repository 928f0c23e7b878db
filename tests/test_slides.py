"""Lecture decks (course_utils.slides): solutions absent, figures present, reveal.js offline.

The smoke decks of every notebook are built once per session (one execution each); the unit tests use
tiny synthetic notebooks and no kernel.
"""

import base64
import html as html_lib
import io
import re
from html.parser import HTMLParser

import matplotlib
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_utils import slides
from course_utils.paths import repo_root

matplotlib.use("Agg")
import matplotlib.pyplot as plt

NOTEBOOKS = sorted((repo_root() / "notebooks").glob("*.ipynb"))
# what a deck may load from a server: nothing (a <script src>, a stylesheet <link> or an @import with a host)
IMG = re.compile(r"""<img[^>]*\ssrc=["']data:image/png;base64,""")
NETWORK = re.compile(r"""(<script[^>]*\ssrc=|<link[^>]*\shref=|@import\s+url\()\s*["']?(https?:)?//""", re.I)


class _Text(HTMLParser):
    """The text a viewer reads: tags dropped, scripts and styles ignored, entities decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style") and self._skip > 0

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def _norm(text: str) -> str:
    """Letters and digits only, single-spaced: markdown and HTML markup alike fall away."""
    return " ".join(re.sub(r"[^0-9A-Za-z]+", " ", text).split())


def _visible(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return _norm(" ".join(parser.parts))


def _src(cell) -> str:
    return "".join(cell.source) if isinstance(cell.source, list) else cell.source


def _is_solution(cell) -> bool:
    return slides.SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def _slide_type(cell) -> str:
    return cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-")


def _distinctive_lines(nb) -> list[str]:
    """Lines of the solution cells (normalised, >= 4 words) that no other cell's source or output contains."""
    others = " ".join(_norm(_src(c)) + " " + _norm(str(c.get("outputs", ""))) for c in nb.cells if not _is_solution(c))
    lines = []
    for cell in filter(_is_solution, nb.cells):
        for line in _src(cell).splitlines():
            n = _norm(line)
            if len(n.split()) >= 4 and n not in others:
                lines.append(n)
    return lines


def _figures(nb) -> int:
    """Figures that the kept cells of an executed notebook made (image/png outputs)."""
    return sum(
        "image/png" in o.get("data", {})
        for c in nb.cells
        if c.cell_type == "code" and not _is_solution(c) and _slide_type(c) != "skip"
        for o in c.get("outputs", [])
    )


def _png() -> str:
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [1, 0])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _tiny() -> nbformat.NotebookNode:
    """Title, a skipped setup cell, an exercise, its markdown and code solutions, a figure."""
    setup = new_code_cell("SETUP_CELL_MARKER = 1", metadata={"slideshow": {"slide_type": "skip"}})
    lead = new_markdown_cell(
        "**Solutions.** The next cell is collapsed: the widening factor is seventeen",
        metadata={"tags": ["solution"], "slideshow": {"slide_type": "subslide"}},
    )
    answer = new_code_cell(
        "answer = compute_the_hidden_widening_factor(17)  # secret",
        metadata={"tags": ["solution"], "jupyter": {"source_hidden": True}},
    )
    answer.outputs = [new_output("stream", name="stdout", text="solution output line seventeen\n")]
    plot = new_code_cell("plt.plot(x)")
    plot.outputs = [
        new_output("display_data", data={"image/png": _png(), "text/plain": "<Figure>"}),
        new_output("stream", name="stderr", text="a noisy warning on stderr\n"),
        new_output("stream", name="stdout", text="kept stdout line\n"),
    ]
    cells = [
        new_markdown_cell("# Tiny deck", metadata={"slideshow": {"slide_type": "slide"}}),
        setup,
        new_markdown_cell(
            "## Exercise 1\nGuess the widening factor.", metadata={"slideshow": {"slide_type": "subslide"}}
        ),
        lead,
        answer,
        plot,
    ]
    return new_notebook(cells=cells)


# ---- unit tests: no kernel ---------------------------------------------------------------------------------------


def test_strip_solutions_removes_tagged_cells_only_and_leaves_the_input_alone():
    nb = _tiny()
    out = slides.strip_solutions(nb)
    assert [_src(c) for c in out.cells] == [_src(c) for c in nb.cells if not _is_solution(c)]
    assert len(out.cells) == len(nb.cells) - 2 and len(nb.cells) == 6


def test_drop_noise_keeps_figures_and_stdout_drops_stderr_and_widgets():
    nb = _tiny()
    nb.cells[-1].outputs.append(new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {}}))
    nb.metadata["widgets"] = {"state": {}}
    kinds = [(o.output_type, o.get("name")) for o in slides.drop_noise(nb).cells[-1].outputs]
    assert kinds == [("display_data", None), ("stream", "stdout")]
    assert "widgets" not in nb.metadata


def test_deck_of_a_tiny_notebook(tmp_path):
    nb = _tiny()
    deck = slides.to_deck(nb, tmp_path / "tiny.ipynb", mathjax=False)
    text = _visible(deck)
    assert len(IMG.findall(deck)) == 1
    assert "kept stdout line" in text and "noisy warning" not in text
    assert "SETUP CELL MARKER" not in text, "skip cells stay out of the deck"
    assert "Guess the widening factor" in text
    leaks = [ln for ln in _distinctive_lines(nb) if ln in text]
    assert leaks == [] and len(_distinctive_lines(nb)) == 2
    assert "solution output line seventeen" not in text
    assert not NETWORK.search(deck), NETWORK.search(deck)
    assert "Reveal.initialize" in deck and "* reveal.js 4.6." in deck  # reveal.js inlined
    assert "<section" in deck


def test_the_leak_detector_sees_solutions_when_they_are_kept(tmp_path):
    # the negative control: the same checks fail on the instructor's deck, which keeps the solutions
    nb = _tiny()
    text = _visible(slides.to_deck(nb, tmp_path / "tiny.ipynb", mathjax=False, keep_solutions=True))
    assert all(ln in text for ln in _distinctive_lines(nb))
    assert "solution output line seventeen" in text


def test_network_pattern_catches_a_cdn_reveal():
    assert NETWORK.search('<script src="https://unpkg.com/reveal.js@4.0.2/dist/reveal.js"></script>')
    assert NETWORK.search('<link rel="stylesheet" href="//cdn.jsdelivr.net/npm/reveal.js/dist/reveal.css">')
    assert not NETWORK.search('<a href="https://arxiv.org/abs/1512.03385">He et al.</a>')  # a reference, not a load
    assert not NETWORK.search('<script src="_mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"></script>')


def test_find_notebooks_by_prefix_path_or_name_and_clear_errors():
    assert slides.find_notebooks([]) == NOTEBOOKS
    first = NOTEBOOKS[0]
    assert slides.find_notebooks([first.name[:2]]) == [first]
    assert slides.find_notebooks([first.stem, str(first)]) == [first, first.resolve()]
    with pytest.raises(FileNotFoundError, match=r"no notebook matches 'nope'.*01_"):
        slides.find_notebooks(["nope"])
    with pytest.raises(FileNotFoundError, match="notebooks match '0'"):
        slides.find_notebooks(["0"])


def test_wrong_profile_or_notebook_fails_before_any_execution(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"unknown profile 'fast'.*smoke"):
        slides.build_decks(NOTEBOOKS[:1], "fast", tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert slides.main(["nope", "--out", str(tmp_path)]) == 2
    assert slides.main(["01", "--profile", "fast", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no notebook matches 'nope'" in err and "unknown profile 'fast'" in err


def test_handouts_have_no_solution_cells(tmp_path):
    src = tmp_path / "nb.ipynb"
    nbformat.write(_tiny(), src)
    (out,) = slides.write_handouts([src], tmp_path / "handout")
    got = nbformat.read(out, as_version=4)
    assert [_src(c) for c in got.cells] == [_src(c) for c in _tiny().cells if not _is_solution(c)]
    with pytest.raises(ValueError, match="must not be the notebooks' own folder"):
        slides.write_handouts([src], tmp_path)


def test_vendored_reveal_is_the_mit_release():
    # npm's reveal.js 4.6.1 ships dist files whose banner still says 4.6.0
    assert "* reveal.js 4.6.0\n* https://revealjs.com\n* MIT licensed" in (slides.REVEAL_DIR / "reveal.js").read_text()
    assert "MIT" in (slides.REVEAL_DIR / "LICENSE").read_text(encoding="utf-8")


# ---- the smoke decks of every notebook, built once ---------------------------------------------------------------


# nbval executes every notebook already; a deck build executes again, so only one quick notebook
# that makes figures and shows markdown pictures is executed here; the others' decks are built from the
# committed notebooks (no outputs), which still proves the template, the stripping and the offline deck.
EXECUTED = ("03_shape_arithmetic",)  # code figures and markdown pictures, executed in seconds


@pytest.fixture(scope="module")
def decks(tmp_path_factory):
    """{stem: Deck}, or the error that stopped it: a notebook that fails fails its own deck test only."""
    out = tmp_path_factory.mktemp("slides")
    built: dict[str, slides.Deck | Exception] = {}
    for path in sorted(NOTEBOOKS, key=lambda p: p.stem not in EXECUTED):  # executed first: MathJax copied
        try:
            if path.stem in EXECUTED:
                (built[path.stem],) = slides.build_decks([path], "smoke", out, progress=False)
            else:
                nb = nbformat.read(path, as_version=4)
                html = out / f"{path.stem}.slides.html"
                html.write_text(slides.to_deck(nb, path), encoding="utf-8")
                built[path.stem] = slides.Deck(path, html, 0.0, nb)
        except Exception as err:
            built[path.stem] = err
    return built


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_smoke_deck(decks, path):
    deck = decks[path.stem]
    if isinstance(deck, Exception):
        pytest.fail(f"{path.stem}: the smoke deck did not build: {str(deck)[-1500:]}")
    html = deck.html.read_text(encoding="utf-8")
    text = _visible(html)
    made = _figures(deck.executed)
    shown = len(IMG.findall(html))
    assert shown >= made, f"{path.stem}: the notebook made {made} figures, the deck shows {shown}"
    leaks = [ln for ln in _distinctive_lines(nbformat.read(path, as_version=4)) if ln in text]
    assert leaks == [], f"{path.stem}: solution text in the deck: {leaks[:3]}"
    assert not NETWORK.search(html), f"{path.stem}: loads {NETWORK.search(html).group(0)!r} from the network"
    assert "Reveal.initialize" in html and "* reveal.js 4.6." in html
    for src in re.findall(r'<script[^>]*\ssrc="([^"]+)"', html):  # local scripts (MathJax) exist beside the deck
        assert (deck.html.parent / html_lib.unescape(src).split("?")[0]).is_file(), src


@pytest.mark.slow
def test_executed_decks_show_their_figures(decks):
    # a lecturer's deck is not a deck without figures: the executed notebooks make some, and show them
    assert sorted(decks) == sorted(p.stem for p in NOTEBOOKS)
    for stem in EXECUTED:
        deck = decks[stem]
        assert not isinstance(deck, Exception) and _figures(deck.executed) > 0, stem


@pytest.mark.slow
def test_cell_times_come_from_the_kernel_and_add_up_to_at_most_the_execution(decks):
    # the per-cell minutes in docs/teaching.md come from long_cells: every code cell that ran has a time, the times
    # are the kernel's own, they add up to no more than the wall time of the whole execution, and the threshold cuts
    for stem in EXECUTED:
        deck = decks[stem]
        every = slides.long_cells(deck.executed, 0.0)
        code = [i for i, c in enumerate(deck.executed.cells) if c.cell_type == "code" and c.source.strip()]
        assert [i for i, _ in every] == code, stem
        assert all(t >= 0 for _, t in every) and 0 < sum(t for _, t in every) <= deck.seconds, stem
        longest = max(t for _, t in every)
        assert slides.long_cells(deck.executed, longest) == [(i, t) for i, t in every if t >= longest]


def test_a_deck_copied_anywhere_still_shows_its_markdown_pictures(tmp_path):
    # the course's pictures live in md_img/ beside notebooks/, outside the notebook's folder, which
    # nbconvert alone does not embed: built with --out elsewhere and copied into an empty folder, the
    # deck must still carry every picture itself
    (tmp_path / "course" / "md_img").mkdir(parents=True)
    (tmp_path / "course" / "notebooks").mkdir()
    png = base64.b64decode(_png())
    (tmp_path / "course" / "md_img" / "diagram.png").write_bytes(png)
    nb = new_notebook(
        cells=[
            new_markdown_cell(
                "# Pictures\n\n![a diagram](../md_img/diagram.png)", metadata={"slideshow": {"slide_type": "slide"}}
            ),
            new_markdown_cell(
                '<img src="../md_img/diagram.png" width="300">', metadata={"slideshow": {"slide_type": "slide"}}
            ),
        ]
    )
    deck = slides.to_deck(nb, tmp_path / "course" / "notebooks" / "pictures.ipynb", mathjax=False)
    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    (elsewhere / "pictures.slides.html").write_text(deck, encoding="utf-8")
    html = (elsewhere / "pictures.slides.html").read_text(encoding="utf-8")
    srcs = re.findall(r'<img[^>]*\ssrc="([^"]+)"', html)
    assert len(srcs) == 2 and all(s.startswith("data:image/png;base64,") for s in srcs), [s[:40] for s in srcs]
    assert all(base64.b64decode(s.split(",", 1)[1]) == png for s in srcs)  # the picture itself, whole
    assert 'alt="a diagram"' in html and 'width="300"' in html
    missing = new_notebook(cells=[new_markdown_cell("![gone](../md_img/nothing.png)")])
    with pytest.raises(FileNotFoundError, match=r"nothing\.png"):
        slides.to_deck(missing, tmp_path / "course" / "notebooks" / "x.ipynb", mathjax=False)
