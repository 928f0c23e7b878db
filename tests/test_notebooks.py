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
        if cell["cell_type"] == "code" and (TAG not in _tags(cell) or "solution" in _tags(cell)):
            assert not cell.get("outputs"), f"cell {i} keeps outputs; run .ci/nbclean.py --no-execute {path.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_answer_shows_before_or_after_run_all(path):
    # JupyterLab's Run All renders every markdown cell (a collapsed one opens) and shows every code cell's
    # output (a collapsed output opens): answers hide in a closed <details> block, which running leaves shut
    solutions = [(i, c) for i, c in enumerate(_load(path)["cells"]) if "solution" in _tags(c)]
    assert solutions, "every notebook has solutions"
    for i, cell in solutions:
        src = _src(cell)
        assert TAG not in _tags(cell) and not cell.get("outputs"), f"cell {i}: a solution is committed without output"
        if cell["cell_type"] == "markdown":
            assert "jupyter" not in cell["metadata"], f"cell {i}: a collapsed markdown cell opens on Run All"
            body = re.sub(r"<details>.*?</details>", "", src, flags=re.S)
            assert len(body.strip()) < 200, f"cell {i}: the explanation goes inside <details>"
            continue
        assert cell["metadata"].get("jupyter", {}).get("source_hidden") is True, f"cell {i}: code collapsed"
        assert src.startswith("# solution: expand to read\n"), f"cell {i}: the line a collapsed cell shows"
        code = src.split("\n", 1)[1]
        if "print(" in code or "checks." in code:
            assert code.startswith("with checks.solution():"), f"cell {i}: what it prints is folded"
            assert "assert " in code, f"cell {i}: nbval fails when the solution stops passing its check"


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


@pytest.mark.slow
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_questionnaire_here_answers_in_the_instructor_guide(path):
    # fastbook's questionnaire: 8-12 conceptual questions after the exercises, answered for lecturers only
    md = [_src(c) for c in _load(path)["cells"] if c["cell_type"] == "markdown"]
    heads = [
        next((i for i, m in enumerate(md) if re.match(rf"##\s+{h}", m)), None)
        for h in ("Exercises", "Questionnaire", "References")
    ]
    assert None not in heads and heads == sorted(heads), f"Exercises, Questionnaire, References in order: {heads}"
    questions = re.findall(r"^(\d+)\. ", md[heads[1]], re.M)
    assert 8 <= len(questions) <= 12 and questions == [str(k) for k in range(1, len(questions) + 1)]
    guide = (NB_DIR.parent / "docs" / "teaching.md").read_text(encoding="utf-8")
    answers = guide.split("## Questionnaires: the answers", 1)[1].split("\n## ", 1)[0]
    mine = answers.split(f"### {path.stem[:2]} ·", 1)[1].split("\n### ", 1)[0]
    assert len(re.findall(r"^\d+\. \*\*", mine, re.M)) == len(questions), "one answer per question"
    for q in re.findall(r"^\d+\. (.+)$", md[heads[1]], re.M):
        assert f"**{q}**" in mine, f"the guide answers the question as the notebook asks it: {q[:60]}"
