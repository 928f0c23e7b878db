"""The post-save hook (course_utils.notebook_save): after a save, `git status` agrees with `git diff`.

Against git itself, in a scratch repository with the course's clean filter enabled as the README says,
and through jupyter_server's own FileContentsManager (what JupyterLab saves with). The executed notebook
is ``03_jupyterlab_run_all.json``, a real JupyterLab save after Run All of ``03_committed.json``.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from jupyter_server.extension.config import ExtensionConfigManager
from jupyter_server.extension.manager import ExtensionPackage
from jupyter_server.services.contents.filemanager import FileContentsManager

from course_utils import notebook_save
from course_utils.notebook_save import refresh_index

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CONFIG = ROOT / "jupyter-config" / "course-notebook-save.json"
NB = "notebooks/03_shape_arithmetic.ipynb"
CONFIG_D = "etc/jupyter/jupyter_server_config.d"


@pytest.fixture
def env(tmp_path, monkeypatch):
    """python3 (for the filter) is this interpreter; Jupyter's signature store stays in tmp_path."""
    b = tmp_path / "bin"
    b.mkdir()
    (b / "python3").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", f"{b}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    return tmp_path


def _git(repo: Path, *args: str) -> str:
    cmd = ["git", "-c", "user.name=student", "-c", "user.email=s@example.org", *args]
    return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, check=True).stdout


def _course(tmp: Path, *, filter_on: bool = True) -> Path:
    """A scratch clone: the filter setup and notebook 03 as committed, the filter enabled per clone."""
    repo = tmp / "course"
    for rel in (".gitattributes", ".gitconfig", ".gitignore", ".ci/nbclean.py", ".ci/nbfilter.sh"):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes((ROOT / rel).read_bytes())
    (repo / "notebooks").mkdir()
    (repo / NB).write_bytes((FIXTURES / "03_committed.json").read_bytes())
    _git(repo, "init", "-q")
    if filter_on:
        _git(repo, "config", "--local", "include.path", "../.gitconfig")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "course")
    return repo


def _run_all() -> dict:
    return json.loads((FIXTURES / "03_jupyterlab_run_all.json").read_text(encoding="utf-8"))


def _save(root: Path, path: str, nb: dict, hook=None) -> None:
    """Save as JupyterLab does: a notebook model through the server's contents manager."""
    cm = FileContentsManager(root_dir=str(root))
    if hook is not None:
        cm.register_post_save_hook(hook)  # as the extension does
    cm.save({"type": "notebook", "format": "json", "content": nb}, path)


def _status(repo: Path) -> str:
    return _git(repo, "status", "--porcelain")


def _stat(repo: Path) -> str:
    """The index entry's stat data (size, times), as git keeps it."""
    return _git(repo, "ls-files", "--debug", "--", NB)


@pytest.mark.slow
def test_a_notebook_run_and_saved_is_unchanged_for_git_status(env):
    repo = _course(env)
    blob = _git(repo, "rev-parse", f":{NB}")
    _save(repo, NB, _run_all())  # no hook: the problem
    assert _git(repo, "diff") == ""  # the filter: no change in content
    assert _status(repo) == f" M {NB}\n"  # but a larger file: listed without running the filter
    _save(repo, NB, _run_all(), hook=refresh_index)
    assert _status(repo) == ""
    assert _git(repo, "rev-parse", f":{NB}") == blob and _git(repo, "diff", "--cached") == ""  # nothing staged
    saved = json.loads((repo / NB).read_text(encoding="utf-8"))
    assert any(c.get("outputs") for c in saved["cells"])  # the outputs stay in the file


@pytest.mark.slow
def test_an_edited_cell_stays_modified_and_is_never_staged(env):
    repo = _course(env)
    blob, before = _git(repo, "rev-parse", f":{NB}"), _stat(repo)
    nb = _run_all()
    nb["cells"][0]["source"] = ["# 03 · edited by the student\n"]
    _save(repo, NB, nb, hook=refresh_index)
    assert _status(repo) == f" M {NB}\n"  # modified in the work tree, not staged
    assert _git(repo, "rev-parse", f":{NB}") == blob and _git(repo, "diff", "--cached") == ""
    assert _stat(repo) == before  # the entry untouched: git status needs no filter run to list it
    assert "edited by the student" in _git(repo, "diff")
    _save(repo, NB, _run_all(), hook=refresh_index)  # the edit undone: unchanged again
    assert _status(repo) == ""


@pytest.mark.slow
def test_an_edit_saved_while_the_hook_runs_is_never_staged(env, monkeypatch):
    repo = _course(env)
    blob = _git(repo, "rev-parse", f":{NB}")
    git = notebook_save._git
    edited = _run_all()
    edited["cells"][0]["source"] = ["# 03 · saved again meanwhile\n"]

    def racing(*args):  # the file changes after the content check, before the refresh
        if "update-index" in args:
            (repo / NB).write_text(json.dumps(edited, indent=1), encoding="utf-8")
        return git(*args)

    monkeypatch.setattr(notebook_save, "_git", racing)
    _save(repo, NB, _run_all(), hook=refresh_index)
    assert _status(repo) == f" M {NB}\n" and _git(repo, "rev-parse", f":{NB}") == blob
    assert _git(repo, "diff", "--cached") == "" and "saved again meanwhile" in _git(repo, "diff")


def test_without_the_filter_the_index_is_left_alone(env):
    repo = _course(env, filter_on=False)
    _save(repo, NB, _run_all())
    before = _stat(repo)
    _save(repo, NB, _run_all(), hook=refresh_index)
    assert _stat(repo) == before and _status(repo) == f" M {NB}\n"  # raw outputs are a change here


def test_nothing_happens_outside_git_for_an_untracked_notebook_or_another_file(env, caplog):
    plain = env / "plain"
    plain.mkdir()
    _save(plain, "run.ipynb", _run_all(), hook=refresh_index)  # no git work tree: saved, no error
    assert (plain / "run.ipynb").is_file() and not (plain / ".git").exists()
    repo = env / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "--local", "include.path", str(ROOT / ".gitconfig"))
    (repo / ".git" / "info" / "exclude").write_text(".ipynb_checkpoints/\n")  # where the server keeps its copies
    _save(repo, "new.ipynb", _run_all(), hook=refresh_index)  # untracked: stays untracked
    (repo / "notes.txt").write_text("not a notebook\n")
    refresh_index(model={"type": "file"}, os_path=str(repo / "notes.txt"), contents_manager=None)
    refresh_index(model=None, os_path=str(repo / "gone.ipynb"), contents_manager=None)  # no such file
    assert _status(repo) == "?? new.ipynb\n?? notes.txt\n" and _git(repo, "ls-files") == ""
    assert _ours(caplog) == []  # all quiet


def _ours(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "notebook_save" in r.getMessage()]


def test_without_git_or_with_a_hanging_git_it_returns_quietly(env, monkeypatch, caplog):
    nb = env / "run.ipynb"
    nb.write_text(json.dumps(_run_all()))
    path = os.environ["PATH"]
    monkeypatch.setenv("PATH", str(env / "bin"))  # python3 only, no git
    refresh_index(model={"type": "notebook"}, os_path=str(nb), contents_manager=None)
    fake = env / "fake" / "git"  # a git that hangs, its child (a clean filter, say) holding git's output
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\nsleep 30 &\necho $! > {env / 'child'}\nwait\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{path}")
    monkeypatch.setattr(notebook_save, "TIMEOUT_S", 0.5)
    t0 = time.perf_counter()
    refresh_index(model={"type": "notebook"}, os_path=str(nb), contents_manager=None)
    assert 0.5 <= time.perf_counter() - t0 < 5 and _ours(caplog) == []  # one call timed out, then nothing
    assert not _alive(int((env / "child").read_text()))  # git's child went with it


def _alive(pid: int) -> bool:
    for _ in range(20):  # a killed orphan is reaped by init within moments
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
        except (OSError, IndexError):
            return False
        if state in "ZX":
            return False
        time.sleep(0.1)
    return True


def test_an_error_is_logged_by_the_contents_manager_never_raised(env, monkeypatch, caplog):
    repo = _course(env)
    monkeypatch.setattr(notebook_save, "_tracked_entry", lambda *a: 1 / 0)
    cm = FileContentsManager(root_dir=str(repo))
    with caplog.at_level(logging.WARNING):
        refresh_index(model={"type": "notebook"}, os_path=str(repo / NB), contents_manager=cm)
    assert [r.levelname for r in caplog.records] == ["WARNING"] and "division by zero" in caplog.text


def test_the_installed_config_enables_an_extension_that_registers_the_hook(tmp_path):
    # jupyter_server reads jupyter_server_config.d only for jpserver_extensions: the config names the module
    (tmp_path / "jupyter_server_config.d").mkdir()
    shutil.copy(CONFIG, tmp_path / "jupyter_server_config.d" / CONFIG.name)
    enabled = ExtensionConfigManager(read_config_path=[str(tmp_path)]).get_jpserver_extensions()
    assert enabled == {"course_utils.notebook_save": True}
    package = ExtensionPackage(name="course_utils.notebook_save", enabled=True)  # imports and validates it
    cm = FileContentsManager(root_dir=str(tmp_path))
    package.load_all_points(SimpleNamespace(contents_manager=cm, log=logging.getLogger("test")))
    assert cm._post_save_hooks == [refresh_index]
    inspect.signature(refresh_index).bind(model={}, os_path="x.ipynb", contents_manager=cm)  # how the server calls


def test_the_package_install_puts_the_config_where_jupyter_reads_it():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    data_files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    assert data_files[CONFIG_D] == [CONFIG.relative_to(ROOT).as_posix()]
