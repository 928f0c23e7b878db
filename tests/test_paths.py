"""course_utils.paths is the one place that computes the course's folders."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import course_utils
from course_utils import paths

PACKAGE = Path(course_utils.__file__).resolve().parent


def test_repo_root_holds_the_course():
    root = paths.repo_root()
    assert root.is_absolute()
    assert (root / "course_utils").is_dir() and (root / "notebooks").is_dir() and (root / "pyproject.toml").is_file()
    assert root / "course_utils" == PACKAGE  # the package that is imported, not some other copy


def test_package_dir_is_the_imported_package():
    assert paths.package_dir() == Path(course_utils.__file__).resolve().parent
    assert (paths.package_dir("slides_assets") / "reveal.js-4.6.1" / "reveal.js").is_file()  # shipped with it


def test_data_dir_honours_course_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cifar"))
    assert paths.data_dir() == tmp_path / "cifar"
    monkeypatch.setenv("COURSE_DATA_DIR", "~/somewhere")
    assert paths.data_dir() == Path.home() / "somewhere"  # ~ expanded
    for unset in ("", "  "):
        monkeypatch.setenv("COURSE_DATA_DIR", unset)
        assert paths.data_dir() == paths.repo_root() / "data"
    monkeypatch.delenv("COURSE_DATA_DIR")
    assert paths.data_dir() == paths.repo_root() / "data"


def test_output_folders_are_under_the_repo_root():
    root = paths.repo_root()
    assert paths.results_dir("fig6") == root / "results" / "fig6"
    assert paths.results_dir() == root / "results"
    assert paths.runs_dir("07") == root / "runs" / "07"
    assert paths.runs_dir() == root / "runs"
    assert paths.md_img_dir() == root / "md_img"


_FOLDER_ATTRS = {"parent", "parents"}


def folder_from_file(source: str) -> list[int]:
    """Line numbers where a folder is computed from ``__file__``: ``.parent``/``.parents`` or
    ``os.path.dirname`` applied to an expression that holds ``__file__`` or a name assigned from one."""
    tree = ast.parse(source)

    def mentions(node: ast.AST, tainted: set[str]) -> bool:
        return any(isinstance(n, ast.Name) and (n.id == "__file__" or n.id in tainted) for n in ast.walk(node))

    tainted: set[str] = set()
    changed = True
    while changed:  # names assigned (directly or through other names) from __file__
        changed = False
        for node in ast.walk(tree):
            if (
                isinstance(node, (ast.Assign, ast.AnnAssign))
                and node.value is not None
                and mentions(node.value, tainted)
            ):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name) and n.id not in tainted:
                            tainted.add(n.id)
                            changed = True
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in _FOLDER_ATTRS and mentions(node.value, tainted):
            hits.append(node.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "dirname"
            and any(mentions(a, tainted) for a in node.args)
        ):
            hits.append(node.lineno)
    return sorted(set(hits))


@pytest.mark.parametrize(
    "source,bad",
    [
        ("from pathlib import Path\nROOT = Path(__file__).resolve().parents[1]\n", True),  # the old bug
        ("from pathlib import Path\nMD_IMG = Path(__file__).resolve().parent.parent / 'md_img'\n", True),
        ("from pathlib import Path\nHERE = Path(__file__).resolve()\nROOT = HERE.parents[1]\n", True),  # two steps
        ("import os\nROOT = os.path.dirname(os.path.abspath(__file__))\n", True),
        ("from course_utils.paths import md_img_dir\nMD_IMG = md_img_dir()\nX = MD_IMG.parent\n", False),
        ("'''Never walk up from __file__.parents.'''\n# Path(__file__).parents[1]\n", False),  # docs, comments
    ],
)
def test_the_check_catches_folders_from_file(source, bad):
    assert bool(folder_from_file(source)) is bad


def test_no_module_but_paths_computes_a_folder_from_file():
    modules = sorted(PACKAGE.rglob("*.py"))
    assert PACKAGE / "paths.py" in modules and PACKAGE / "analysis" / "__init__.py" in modules  # subpackages too
    offenders = {
        str(p.relative_to(PACKAGE)): folder_from_file(p.read_text(encoding="utf-8"))
        for p in modules
        if p != PACKAGE / "paths.py"
    }
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"compute folders with course_utils.paths instead (module: lines): {offenders}"


def test_results_dir_can_be_pointed_elsewhere(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(tmp_path))
    assert paths.results_dir("fig6") == tmp_path / "fig6" and paths.results_dir() == tmp_path
    monkeypatch.delenv("COURSE_RESULTS_DIR")
    assert paths.results_dir() == paths.repo_root() / "results"
