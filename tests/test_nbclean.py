"""The clean filter (.ci/nbclean.py --filter): a notebook a student ran is, for git, the committed notebook.

The fixture ``03_jupyterlab_run_all.json`` is a real save: notebook 03 opened in JupyterLab 4.6 in a
browser, Run All, File > Save; ``03_committed.json`` is the committed notebook it started from.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
FIXTURES = Path(__file__).resolve().parent / "fixtures"
NBCLEAN = [sys.executable, str(ROOT / ".ci" / "nbclean.py"), "--filter"]
TAG = "nbval-check-output"
pytestmark = pytest.mark.slow  # every test runs .ci/nbclean.py (or git with it) in a subprocess


def _filter(text: str) -> str:
    return subprocess.run(NBCLEAN, input=text.encode(), capture_output=True, check=True).stdout.decode()


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebooks_pass_the_clean_filter_unchanged(path):
    # git's clean filter must be a no-op on what is committed, or every clone would show changes
    assert _filter(path.read_text(encoding="utf-8")) == path.read_text(encoding="utf-8"), (
        f"run python3 .ci/nbclean.py --no-execute notebooks/{path.name}"
    )


def test_a_real_jupyterlab_save_after_run_all_cleans_to_the_committed_bytes():
    saved = (FIXTURES / "03_jupyterlab_run_all.json").read_text(encoding="utf-8")
    committed = (FIXTURES / "03_committed.json").read_text(encoding="utf-8")
    nb = json.loads(saved)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    # what makes the fixture a real test: every code cell ran, JupyterLab merged the streams of checked cells
    # that nbclient wrote apart, the solution cell printed its (folded) answers and lost its collapsed flag
    assert all(c["execution_count"] for c in code) and len({c["execution_count"] for c in code}) == len(code)
    checked = [c for c in code if TAG in _tags(c)]
    assert any(len(c["outputs"]) == 1 and "".join(c["outputs"][0]["text"]).count("\n") > 1 for c in checked)
    (sol,) = [c for c in code if "solution" in _tags(c)]
    assert sol["outputs"][0]["data"]["text/html"][0].startswith("<details>")  # ran: its answers folded away
    assert saved != committed
    assert _filter(saved) == committed


def _as_a_front_end_saves_it(nb: dict) -> dict:
    """What JupyterLab and nbclient change in a notebook they run and save, on the committed form."""
    nb = json.loads(json.dumps(nb))
    for n, cell in enumerate(nb["cells"]):
        meta = cell["metadata"]
        if cell["cell_type"] == "markdown":
            meta.pop("jupyter", None)  # Run All renders every markdown cell
            continue
        cell["execution_count"] = 40 + n
        meta["execution"] = {"iopub.execute_input": "2026-12-07T10:00:00Z"}
        meta["scrolled"] = True
        meta.get("jupyter", {}).pop("source_hidden", None)  # running a collapsed cell expands it
        if TAG in _tags(cell):  # nbclient writes one output per print
            lines = "".join("".join(o.get("text", "")) for o in cell["outputs"]).splitlines(keepends=True)
            if lines and all(o["output_type"] == "stream" for o in cell["outputs"]):
                cell["outputs"] = [{"name": "stdout", "output_type": "stream", "text": [ln]} for ln in lines]
        else:
            cell["outputs"] = [
                {"name": "stdout", "output_type": "stream", "text": [f"output of cell {n}\n"]},
                {
                    "data": {"text/plain": ["42"]},
                    "execution_count": 40 + n,
                    "metadata": {},
                    "output_type": "execute_result",
                },
            ]
    nb["metadata"]["language_info"]["version"] = "3.12.4"
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_run_and_saved_cleans_to_its_committed_bytes(path):
    committed = path.read_text(encoding="utf-8")
    ran = json.dumps(_as_a_front_end_saves_it(json.loads(committed)), indent=1)
    assert ran != committed and _filter(ran) == committed


def _repo(tmp_path: Path) -> Path:
    """A scratch clone of the course's filter setup, with the filter enabled as the README says."""
    repo = tmp_path / "course"
    for rel in (
        ".gitattributes",
        ".gitconfig",
        ".ci/nbclean.py",
        ".ci/nbfilter.sh",
        "notebooks/03_shape_arithmetic.ipynb",
    ):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes((ROOT / rel).read_bytes())
    (repo / "notebooks/03_shape_arithmetic.ipynb").write_bytes((FIXTURES / "03_committed.json").read_bytes())
    return repo


def _git(repo: Path, *args: str, path: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = path
    cmd = [shutil.which("git") or "git", "-c", "user.name=student", "-c", "user.email=s@example.org", *args]
    return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, check=check, env=env)


def _bin(tmp_path: Path, **links: str) -> str:
    """A PATH holding only the given commands (name -> target)."""
    b = tmp_path / "bin"
    b.mkdir(exist_ok=True)
    for name, target in links.items():
        (b / name).symlink_to(target)
    return str(b)


@pytest.mark.parametrize("name", ["python3", "python"])
def test_after_run_all_in_jupyterlab_git_sees_no_change(tmp_path, name):
    # the Python 3 that exists: python3 (Linux, macOS) or only python (a Windows venv)
    repo = _repo(tmp_path)
    path = _bin(tmp_path, git=shutil.which("git"), sh=shutil.which("sh"), **{name: sys.executable})
    _git(repo, "init", "-q")
    _git(repo, "config", "--local", "include.path", "../.gitconfig")
    _git(repo, "add", "-A", path=path)
    _git(repo, "commit", "-qm", "course", path=path)
    nb_path = repo / "notebooks" / "03_shape_arithmetic.ipynb"
    nb_path.write_bytes((FIXTURES / "03_jupyterlab_run_all.json").read_bytes())  # Run All, Save
    assert _git(repo, "diff", path=path).stdout == ""
    _git(repo, "add", "-A", path=path)  # stages nothing; refreshes git's view before a pull
    assert _git(repo, "status", "--porcelain", path=path).stdout == ""
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    nb["cells"][0]["source"] = ["# 03 · edited by the student\n"]
    nb_path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    assert "03_shape_arithmetic.ipynb" in _git(repo, "status", "--porcelain", path=path).stdout  # a real edit


def test_without_python_git_add_stops_instead_of_staging_outputs(tmp_path):
    repo = _repo(tmp_path)
    _git(repo, "init", "-q")
    _git(repo, "config", "--local", "include.path", "../.gitconfig")
    _git(repo, "config", "--local", "filter.course-notebook.clean", " ".join(NBCLEAN))  # this interpreter
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "course")
    _git(repo, "config", "--local", "--unset", "filter.course-notebook.clean")  # back to .gitconfig's filter
    saved = (FIXTURES / "03_jupyterlab_run_all.json").read_bytes()
    (repo / "notebooks" / "03_shape_arithmetic.ipynb").write_bytes(saved)
    _git(repo, "update-index", "--really-refresh", check=False)
    no_python = _bin(tmp_path, git=shutil.which("git"), sh=shutil.which("sh"))  # no python3, python or py
    added = _git(repo, "add", "notebooks", path=no_python, check=False)
    assert added.returncode != 0 and "clean filter" in added.stderr and "no Python 3" in added.stderr
    staged = _git(repo, "diff", "--cached", "--stat").stdout
    assert staged == ""  # nothing staged: the executed outputs stay out
    blob = _git(repo, "show", ":notebooks/03_shape_arithmetic.ipynb").stdout
    assert blob == (FIXTURES / "03_committed.json").read_text(encoding="utf-8")


def test_the_filter_refuses_what_is_not_a_notebook():
    out = subprocess.run(NBCLEAN, input=b"{not json", capture_output=True)
    assert out.returncode != 0 and b"nbclean" in out.stderr and out.stdout == b""


def test_solution_cells_never_keep_outputs_even_when_tagged_checked():
    nb = json.loads((FIXTURES / "03_committed.json").read_text(encoding="utf-8"))
    (sol,) = [c for c in nb["cells"] if c["cell_type"] == "code" and "solution" in _tags(c)]
    sol["metadata"]["tags"].append(TAG)
    sol["outputs"] = [{"name": "stdout", "output_type": "stream", "text": ["114\n"]}]
    sol["execution_count"] = 3
    cleaned = json.loads(_filter(json.dumps(nb)))
    (sol,) = [c for c in cleaned["cells"] if c["cell_type"] == "code" and "solution" in _tags(c)]
    assert sol["outputs"] == [] and sol["execution_count"] is None
    assert sol["metadata"]["jupyter"] == {"source_hidden": True}


def test_execute_runs_a_notebook_and_commits_only_checked_outputs(tmp_path):
    cells = [
        {
            "cell_type": "code",
            "id": "a1",
            "metadata": {"tags": [TAG]},
            "execution_count": None,
            "outputs": [],
            "source": ["import sys\n", "print('one')\n", "sys.stdout.flush()\n", "print('two')"],
        },
        {
            "cell_type": "code",
            "id": "a2",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": ["print('not kept')"],
        },
        {
            "cell_type": "code",
            "id": "a3",
            "metadata": {"tags": ["solution"]},
            "execution_count": None,
            "outputs": [],
            "source": ["# solution: expand to read\n", "print(114)"],
        },
    ]
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "tiny.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    out = subprocess.run([sys.executable, str(ROOT / ".ci" / "nbclean.py"), str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(path.read_text(encoding="utf-8"))
    checked, plain, sol = got["cells"]
    assert checked["outputs"] == [{"name": "stdout", "output_type": "stream", "text": ["one\n", "two\n"]}]
    assert checked["execution_count"] == 1
    assert plain["outputs"] == [] and sol["outputs"] == [] and sol["metadata"]["jupyter"] == {"source_hidden": True}
    assert _filter(path.read_text(encoding="utf-8")) == path.read_text(encoding="utf-8")  # already committed form
