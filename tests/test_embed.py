"""course_utils.embed: markdown pictures become data URIs, reveal.js is inlined or the build stops, MathJax is
copied once or its absence is said. (``test_slides`` checks whole decks built with these.)"""

import base64
import warnings

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils import embed, slides

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def test_slides_re_exports_the_assets():
    assert slides.REVEAL_DIR is embed.REVEAL_DIR and slides.embed_pictures is embed.embed_pictures
    assert (embed.REVEAL_DIR / "reveal.js").is_file() and embed.MATHJAX_DIR == "_mathjax"


def test_embed_pictures_markdown_and_html(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(PNG)
    uri = "data:image/png;base64," + base64.b64encode(PNG).decode("ascii")
    md = '![a block](img/a.png "title") and <img width="40" src="img/a.png"> and ![web](https://example.org/b.png)'
    nb = new_notebook(cells=[new_markdown_cell(md), new_code_cell("x = '![a](img/a.png)'")])
    assert embed.embed_pictures(nb, tmp_path) is nb  # in place
    assert nb.cells[0].source == (
        f'<img src="{uri}" alt="a block"> and <img width="40" src="{uri}"> and '
        '<img src="https://example.org/b.png" alt="web">'
    )
    assert nb.cells[1].source == "x = '![a](img/a.png)'"  # code cells are left alone
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        embed.embed_pictures(new_notebook(cells=[new_markdown_cell("![x](missing.png)")]), tmp_path)


def test_inline_reveal_needs_the_template_links():
    with pytest.raises(RuntimeError, match=r"cannot inline reveal\.js"):
        embed._inline_reveal("<html><body>no links to reveal.js here</body></html>")


def test_mathjax_copied_once_or_said_missing(tmp_path, monkeypatch):
    src = tmp_path / "static"
    src.mkdir()
    (src / "MathJax.js").write_text("// MathJax")
    monkeypatch.setattr(embed, "_mathjax_source", lambda: src)
    out = tmp_path / "decks"
    assert embed._copy_mathjax(out) and (out / "_mathjax" / "MathJax.js").read_text() == "// MathJax"
    (src / "MathJax.js").write_text("// changed")
    assert embed._copy_mathjax(out) and (out / "_mathjax" / "MathJax.js").read_text() == "// MathJax"  # kept
    monkeypatch.setattr(embed, "_mathjax_source", lambda: None)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert not embed._copy_mathjax(tmp_path / "other")
    assert any("jupyter-server-mathjax is not installed" in str(w.message) for w in seen)
