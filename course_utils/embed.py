"""What a deck carries inside it or beside it: reveal.js inlined, markdown pictures as data URIs, MathJax.

reveal.js 4.6.1 (MIT) ships in ``course_utils/slides_assets/``; the deck template (``_TEMPLATE``) links it
through a placeholder that ``_inline_reveal`` replaces by the files themselves. MathJax 2 comes from the pip
package ``jupyter-server-mathjax`` and is copied beside the decks (``<out>/_mathjax/``). ``slides`` builds
the decks with these; nothing is fetched at view time.
"""

from __future__ import annotations

import base64
import importlib.util
import re
import shutil
import warnings
from pathlib import Path

import nbformat

from course_utils.paths import package_dir

__all__ = ["REVEAL_DIR", "MATHJAX_DIR", "embed_pictures"]

REVEAL_DIR = package_dir("slides_assets") / "reveal.js-4.6.1"
MATHJAX_DIR = "_mathjax"  # beside the decks
_PLACEHOLDER = "course-reveal-inline"  # stands for reveal.js until the deck is inlined
_INLINE_JS = "/*@@REVEAL_JS@@*/"

# The reveal template without its CDN scripts (jQuery, require.js, mermaid, widgets): reveal.js is inlined.
# 1280x720 is the screen the slide metadata is sized for (see CONTRIBUTING.md).
_TEMPLATE = (
    """{%- extends 'index.html.j2' -%}
{% block html_head_js %}{% endblock html_head_js %}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{% block html_head_css %}
<style>
.reveal h1, .reveal h2, .reveal h3, .reveal h4 { text-transform: none !important; }
.reveal pre, .jp-OutputArea-output pre { white-space: pre-wrap; }  /* a long line wraps instead of vanishing */
</style>
<script type="text/x-mathjax-config">
MathJax.Hub.Config({"HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null}});
</script>
{% endblock html_head_css %}
{% block footer_js %}
<script>"""
    + _INLINE_JS
    + """</script>
<script>
Reveal.initialize({controls: true, progress: true, history: true, center: false, transition: "slide",
                   slideNumber: "c/t", width: 1280, height: 720, margin: 0.03});
function courseAfterSlide() {
  var s = Reveal.getCurrentSlide();
  if (window.MathJax && MathJax.Hub) { MathJax.Hub.Queue(["Rerender", MathJax.Hub, s]); }
  if (s && s.scrollHeight > 720) { s.style.height = "700px"; s.style.overflowY = "auto"; }  // rare: scroll
}
Reveal.on("ready", courseAfterSlide);
Reveal.on("slidechanged", courseAfterSlide);
</script>
{% endblock footer_js %}
"""
)


def _inline_reveal(html: str) -> str:
    """Replace the template's links to reveal.js by the files themselves, inlined."""
    css = (REVEAL_DIR / "reveal.css").read_text(encoding="utf-8")
    theme = (REVEAL_DIR / "white.css").read_text(encoding="utf-8")
    theme = re.sub(r"@import url\([^)]*\);", "", theme)  # the theme's web font: the system sans-serif instead
    js = (REVEAL_DIR / "reveal.js").read_text(encoding="utf-8").replace("</script", "<\\/script")
    link = r'<link[^>]*href="{}/dist/{}"[^>]*>'
    html, n_css = re.subn(link.format(_PLACEHOLDER, "reveal.css"), lambda _: f"<style>{css}</style>", html)
    theme_link = link.format(_PLACEHOLDER, "theme/white.css")
    html, n_theme = re.subn(theme_link, lambda _: f'<style id="theme">{theme}</style>', html)
    if (n_css, n_theme) != (1, 1) or _INLINE_JS not in html or _PLACEHOLDER in html:
        raise RuntimeError("nbconvert's reveal template changed: cannot inline reveal.js (see course_utils/embed.py)")
    return html.replace(_INLINE_JS, js, 1)


_MD_PICTURE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HTML_PICTURE = re.compile(r'(<img\b[^>]*\bsrc=")([^"]+)(")')
_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".svg": "image/svg+xml"}


def _data_uri(src: str, folder: Path) -> str:
    """``src`` (a picture path relative to ``folder``) as a data URI; a URI that is already one stays."""
    if src.startswith(("data:", "http://", "https://")):
        return src
    file = (folder / src).resolve()
    mime = _MIME.get(file.suffix.lower())
    if mime is None or not file.is_file():
        raise FileNotFoundError(f"{src}: the deck shows this picture, but {file} is not a picture file")
    return f"data:{mime};base64,{base64.b64encode(file.read_bytes()).decode('ascii')}"


def embed_pictures(nb: nbformat.NotebookNode, folder: Path) -> nbformat.NotebookNode:
    """Every markdown picture (``![alt](path)`` or ``<img src="path">``) as a data URI, in place.

    nbconvert embeds only pictures inside the notebook's own folder; the course's live in ``md_img/``
    beside ``notebooks/``, so without this a deck copied anywhere else would show broken images.
    """
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        src = _MD_PICTURE.sub(lambda m: f'<img src="{_data_uri(m.group(2), folder)}" alt="{m.group(1)}">', cell.source)
        cell.source = _HTML_PICTURE.sub(lambda m: m.group(1) + _data_uri(m.group(2), folder) + m.group(3), src)
    return nb


def _mathjax_source() -> Path | None:
    spec = importlib.util.find_spec("jupyter_server_mathjax")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "static"


def _copy_mathjax(out: Path) -> bool:
    src = _mathjax_source()
    if src is None or not (src / "MathJax.js").is_file():
        warnings.warn("jupyter-server-mathjax is not installed: the decks show TeX as written", stacklevel=2)
        return False
    if not (out / MATHJAX_DIR / "MathJax.js").is_file():
        shutil.copytree(src, out / MATHJAX_DIR, ignore=shutil.ignore_patterns("localization"), dirs_exist_ok=True)
    return True
