"""Notebook hygiene: the course map, the one template, clean outputs, slides.

nbval executes the notebooks themselves (pytest collects notebooks/); these
tests check what a reviewer would check by eye before a notebook lands.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
COURSE_MAP = [
    "01_degradation",
    "02_residual_learning",
    "03_shape_arithmetic",
    "04_building_blocks",
    "05_training_cifar10",
    "06_figure6_reproduction",
    "07_why_it_works",
    "08_transfer_and_after",
]
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))
TAG = "nbval-check-output"  # nbval reads cell tags; a comment would clutter the student's view


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _src(cell: dict) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def test_course_map_complete():
    assert [p.stem for p in NOTEBOOKS] == COURSE_MAP


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_only_in_checked_cells(path):
    for i, cell in enumerate(_load(path)["cells"]):
        if cell["cell_type"] == "code" and TAG not in _tags(cell):
            assert not cell.get("outputs"), f"cell {i} keeps outputs; run .ci/nbclean.py --no-execute {path.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_template(path):
    cells = _load(path)["cells"]
    md = "\n".join(_src(c) for c in cells if c["cell_type"] == "markdown")
    code = [_src(c) for c in cells if c["cell_type"] == "code"]
    assert re.match(r"#\s+\S", _src(cells[0])), "first cell is the title"
    for heading in ("Learning goals", "Recap", "Exercises", "References"):
        assert re.search(rf"^##\s.*{heading}", md, re.M | re.I), f"missing section '{heading}'"
    goals = md.split("Learning goals", 1)[1].split("\n#", 1)[0]
    assert 3 <= len(re.findall(r"^\s*[-*]\s", goals, re.M)) <= 5, "3-5 learning goals"
    setup = next(c for c in code if "course_utils" in c)
    assert "get_profile" in setup and "seed" in setup, "setup cell: profile, seed, device"
    assert any("checks." in c for c in code), "exercises are checked by course_utils.checks"
    assert any(TAG in _tags(c) for c in cells), "at least one nbval-checked deterministic cell"
    for c in code:
        assert "sys.path" not in c, "notebooks import course_utils as installed, no sys.path edits"
        assert "NBVAL_" not in c, "mark checked cells with the nbval-check-output tag, not a comment"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_slide_metadata(path):
    for i, cell in enumerate(_load(path)["cells"]):
        assert "slide_type" in cell.get("metadata", {}).get("slideshow", {}), f"cell {i} has no slide type"


def test_slides_handouts_build(tmp_path):
    # The decks themselves are built and checked in tests/test_slides.py (one smoke execution per notebook);
    # here the student copies: the command line, on every notebook, without a kernel.
    cmd = [sys.executable, "-m", "course_utils.slides", "--strip-solutions", "--out", str(tmp_path)]
    out = subprocess.run([*cmd, *map(str, NOTEBOOKS)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    for path in NOTEBOOKS:
        kept = [c for c in _load(path)["cells"] if "solution" not in _tags(c)]
        got = _load(tmp_path / path.name)["cells"]
        assert [_src(c) for c in got] == [_src(c) for c in kept], path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_pictures_exist_where_jupyterlab_serves_them(path):
    # The README starts JupyterLab at the repository root, which serves only files below it: every
    # picture a notebook's markdown shows must exist and lie inside the repository.
    root = path.parents[1]
    starts = [ln.split("#")[0] for ln in (root / "README.md").read_text().splitlines() if "jupyter lab" in ln]
    assert starts and all(ln.split("jupyter lab")[1].strip() == "" for ln in starts), starts  # at the root
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for link in re.findall(r"!\[[^\]]*\]\(([^)\s]+)", "".join(cell["source"])):
            target = (path.parent / link).resolve()
            assert target.is_file(), f"{path.name}: missing picture {link}"
            assert target.is_relative_to(root), f"{path.name}: {link} lies outside what JupyterLab serves"


ROOT = NB_DIR.parent
NBCLEAN = [sys.executable, str(ROOT / ".ci" / "nbclean.py"), "--filter"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebooks_pass_the_clean_filter_unchanged(path):
    # git's clean filter must be a no-op on what is committed, or every clone would show changes
    out = subprocess.run(NBCLEAN, input=path.read_text(encoding="utf-8"), capture_output=True, text=True, check=True)
    assert out.stdout == path.read_text(encoding="utf-8"), f"run .ci/nbclean.py --no-execute {path.name}"


def test_a_students_outputs_never_show_in_git_diff(tmp_path):
    # a clone with the filter enabled as the README says; a notebook executed by "another Python"
    for rel in (".gitattributes", ".gitconfig", ".ci/nbclean.py", "notebooks/03_shape_arithmetic.ipynb"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes((ROOT / rel).read_bytes())

    def git(*args: str) -> str:
        cmd = ["git", "-c", "user.name=student", "-c", "user.email=s@example.org", *args]
        return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=True).stdout

    git("init", "-q")
    git("config", "--local", "include.path", "../.gitconfig")
    git("config", "--local", "filter.course-notebook.clean", " ".join(NBCLEAN))  # this interpreter, not PATH's
    git("add", "-A")
    git("commit", "-qm", "course")
    nb_path = tmp_path / "notebooks" / "03_shape_arithmetic.ipynb"
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    for n, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        if TAG not in _tags(cell):
            cell["execution_count"] = n + 7
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["student output\n"]}]
    nb["metadata"]["language_info"]["version"] = "3.12.4"
    nb["metadata"]["kernelspec"]["display_name"] = "Python 3"
    nb_path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    assert git("diff") == ""  # executed and saved: no difference to the course
    git("add", "-A")  # stages nothing (the filter strips the outputs); refreshes git's view of the file
    assert git("status", "--porcelain") == ""  # nothing to commit, nothing for `git pull` to refuse
    nb["cells"][0]["source"] = ["# 03 · edited by the student\n"]
    nb_path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    assert "03_shape_arithmetic.ipynb" in git("status", "--porcelain")  # a real edit still shows
