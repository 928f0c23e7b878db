"""The package's shape: one job per module, imports that flow one way, small files, one test module each."""

import ast
import importlib
import re
import sys
from pathlib import Path

import pytest

from course_utils.paths import repo_root

PKG = repo_root() / "course_utils"
# The layers, lowest first: a module imports only from its own layer or the ones below it
# (data flows data -> train -> experiments -> results files -> plots; the package imports follow it).
LAYERS = [
    {"paths", "profile", "shapes", "blocks", "checkpoint", "schedule", "transforms", "fig6_set", "cpu"}
    | {"estimate", "stopping", "notebook_save", "progress"},
    {"models", "data", "sources", "loader", "step"},
    {"budget", "results", "diagrams", "drawing", "windows", "evaluation", "public"},
    {"train"},
    {"engine", "graphs"},
    {"probe"},
    {"experiments", "bench", "pipelines", "plots", "analysis", "checks", "transfer", "slides", "embed"},
    {"tables"},
]
LAYER = {m: i for i, layer in enumerate(LAYERS) for m in layer}
# Over 300 lines, and why (none today: every module is split by job).
LONG_OK: dict[str, int] = {}
LONGEST_FUNCTION = 60  # lines from ``def`` to its last line, docstring included


def _modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def _top(path: Path) -> str:
    rel = path.relative_to(PKG).parts
    return rel[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(course_utils top-level module, imported inside a function?) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    inner = {id(n) for f in funcs for n in ast.walk(f) if n is not f}
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("course_utils"):
            parts = node.module.split(".")
            names = [parts[1]] if len(parts) > 1 else [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[1] for a in node.names if a.name.startswith("course_utils.")]
        found += [(n, id(node) in inner) for n in names]
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_imports_flow_one_way_and_sit_at_the_top(path):
    me = _top(path)
    if me in ("__init__", "__main__"):
        return
    assert me in LAYER, f"{me}: add it to a layer in tests/test_layout.py"
    for name, in_function in _imports(path):
        if name == me:
            continue
        assert not in_function, f"{path.name} imports course_utils.{name} inside a function: import it at the top"
        assert LAYER[name] <= LAYER[me], f"{me} (layer {LAYER[me]}) imports {name} (layer {LAYER[name]}), a layer above"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_files_stay_small(path):
    rel = path.relative_to(PKG).as_posix()
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= LONG_OK.get(rel, 300), f"{rel}: {lines} lines; split it by job"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_functions_stay_short(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    long = {
        f"{n.name} ({n.end_lineno - n.lineno + 1} lines)" for n in funcs if n.end_lineno - n.lineno >= LONGEST_FUNCTION
    }
    assert not long, f"{path.name}: {', '.join(sorted(long))}; split them into steps with names"


def test_every_module_has_a_test_module():
    tests = {p.name for p in (repo_root() / "tests").glob("test_*.py")}
    missing = []
    for path in _modules():
        rel = path.relative_to(PKG)
        if path.name.startswith("_") or rel.parts[0] == "experiments":  # experiments: test_experiments, test_provision
            continue
        stem = path.stem if len(rel.parts) == 1 else f"{rel.parts[0]}_{path.stem}"
        candidates = {f"test_{path.stem}.py", f"test_{stem}.py"}
        if not candidates & tests:
            missing.append(str(rel))
    assert missing == [], f"no test module for {missing}"


def test_the_package_needs_only_its_declared_dependencies():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    declared = tomllib.loads((repo_root() / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~ ]", d)[0].lower() for d in declared}
    names = {{"pillow": "PIL", "ipython": "IPython"}.get(n, n) for n in names}  # distribution -> import name
    used = set()
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                used |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                used.add(node.module.split(".")[0])
    third_party = {m for m in used if m not in sys.stdlib_module_names and m not in ("course_utils", "__future__")}
    assert third_party <= names, f"imported but not in pyproject's dependencies: {third_party - names}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(PKG).as_posix())
def test_every_public_name_resolves(path):
    # each name a module lists in __all__ exists, so `from course_utils.<module> import *` works
    rel = path.relative_to(PKG).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    if parts and parts[-1] == "__main__":
        return
    module = importlib.import_module(".".join(["course_utils", *parts]))
    assert hasattr(module, "__all__"), f"{module.__name__} has no __all__"
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert missing == [], f"{module.__name__}.__all__ lists names it does not define: {missing}"
    namespace: dict = {}
    exec(f"from {module.__name__} import *", namespace)  # the star import itself
