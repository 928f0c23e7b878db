"""The README's Quick start, tested as written.

The commands are read from the fenced ``bash`` blocks under ``## Quick start`` in README.md, never
retyped here. Each one is run as a student runs it, in a scratch clone of this repository, or in the
nearest form CI affords (2 cores, no GPU, network only to package registries): a venv without pip, a
``pip install --dry-run``, the data command with the download replaced, ``jupyter lab --version``,
``pytest --collect-only``. A command that no check below knows fails the test, so a README edit cannot
add an untested command; a path the README names that is renamed breaks it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
import torchvision
from packaging.requirements import Requirement

from course_utils.paths import data_dir, repo_root

ROOT = repo_root()
README = ROOT / "README.md"
URL_MARK = "@URL@"  # stands for the README's placeholder "<this repository's URL>"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
ORDER = ("clone", "cd", "venv", "activate", "pip-cpu", "pip-requirements", "git-config")  # in this order
REQUIRED = {*ORDER, "fetch-data", "mkdir", "untar", "jupyter", "pytest"}


def section(path: Path, title: str) -> str:
    """The text of the markdown section ``## title``, up to the next ``## ``."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


QUICK = section(README, "Quick start")


@dataclass
class Command:
    line: str  # as written in the README (without its comment)
    argv: list[str]
    step: str | None = field(default=None)


def commands(text: str = QUICK) -> list[Command]:
    """Every command of the section's bash blocks; ``a && b`` gives two."""
    out = []
    for block in re.findall(r"^[ \t]*```bash\n(.*?)^[ \t]*```", text, flags=re.S | re.M):
        for line in textwrap.dedent(block).replace("\\\n", " ").splitlines():
            marked = re.sub(r"<[^<>\n]*>", URL_MARK, line)  # shlex would trip on the placeholder's spaces
            lex = shlex.shlex(marked, posix=True, punctuation_chars=True)
            lex.whitespace_split = True
            argv: list[str] = []
            for tok in [*lex, "&&"]:
                if tok != "&&":
                    argv.append(tok)
                elif argv:
                    out.append(Command(line.split("  #")[0].strip(), argv))
                    argv = []
    for cmd in out:
        cmd.step = classify(cmd.argv)
    return out


def classify(a: list[str]) -> str | None:
    """The check a command gets, by its exact shape; ``None``: no check knows it (the test fails)."""
    if any(re.fullmatch(r"[;&|<>()]+", t) for t in a):
        return None  # pipes, redirections, ;: not a shape checked here
    shapes = {
        "clone": a[:2] == ["git", "clone"] and len(a) == 4 and a[2] == URL_MARK,
        "cd": a[0] == "cd" and len(a) == 2,
        "venv": a[:3] == ["python3", "-m", "venv"] and len(a) == 4,
        "activate": a[0] in ("source", ".") and len(a) == 2 and a[1].endswith("/bin/activate"),
        "pip-cpu": a[:2] == ["pip", "install"] and "--index-url" in a,
        "pip-requirements": a[:3] == ["pip", "install", "-r"] and len(a) == 4,
        "git-config": a[:4] == ["git", "config", "--local", "include.path"] and len(a) == 5,
        "fetch-data": a[0] in ("python", "python3") and a[1:2] == ["-c"] and len(a) == 3,
        "mkdir": a[:2] == ["mkdir", "-p"] and len(a) == 3,
        "untar": a[:2] == ["tar", "-xzf"] and len(a) == 5 and a[3] == "-C",
        "jupyter": a == ["jupyter", "lab"],
        "pytest": a == ["pytest"],
        "pytest-fast": a == ["pytest", "-m", "not slow"],
    }
    found = [name for name, hit in shapes.items() if hit]
    return found[0] if len(found) == 1 else None


def pins(path: Path) -> dict[str, Requirement]:
    """The requirements of a requirements file by name (options such as ``-e .`` left out)."""
    reqs = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #")[0].strip()
        if line and not line.startswith(("#", "-")):
            req = Requirement(line)
            reqs[req.name.lower()] = req
    return reqs


def run(cmd: list[str], cwd: Path, env: dict | None = None, ok: bool = True, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, **kw)
    if ok:
        assert out.returncode == 0, f"{shlex.join(cmd)} in {cwd}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def test_every_quickstart_command_is_known_and_in_order():
    fences = re.findall(r"^[ \t]*```(\S*)", QUICK, flags=re.M)
    assert set(fences[::2]) == {"bash"}, f"commands go in ```bash blocks, which this test reads: {fences[::2]}"
    cmds = commands()
    unknown = [c.line for c in cmds if c.step is None]
    assert not unknown, f"README Quick start: commands no check in {Path(__file__).name} knows: {unknown}"
    steps = [c.step for c in cmds]
    assert REQUIRED <= set(steps), f"the Quick start lost a step: {sorted(REQUIRED - set(steps))}"
    assert len(steps) == len(set(steps)), f"a step twice: {steps}"
    # the CPU-only PyTorch goes in before `pip install -r`: afterwards `torch==2.14.1` is already satisfied
    assert [s for s in steps if s in ORDER] == list(ORDER), steps
    assert steps.index("mkdir") == steps.index("untar") - 1, steps


def test_quickstart_prose_matches_the_repository():
    # the paths it names exist (a renamed notebook breaks this), and the minutes it quotes are the guide's
    named = re.findall(r"(?<![\w./-])((?:notebooks|docs|md_img|\.ci)/[\w./-]*[\w/])", QUICK)
    assert any(p.startswith("notebooks/") and p.endswith(".ipynb") for p in named), "name the first notebook"
    for path in named:
        assert (ROOT / path).exists(), f"README Quick start names {path}, which does not exist"
    for target, anchor in re.findall(r"\]\(([\w./-]+\.md)#([\w-]+)\)", QUICK):
        headings = re.findall(r"^#+ (.+)$", (ROOT / target).read_text(encoding="utf-8"), flags=re.M)
        assert anchor in {re.sub(r"[^\w -]", "", h).strip().lower().replace(" ", "-") for h in headings}, anchor
    table = section(ROOT / "docs" / "teaching.md", "Time per notebook")
    minutes = [float(m) for m in re.findall(r"^\| \d\d_\w+ \| (\d+\.\d) min", table, flags=re.M)]
    assert len(minutes) == len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))), table
    quoted = re.search(r"(\d+\.\d) to (\d+\.\d) minutes each .*?about (\d+) minutes for all", QUICK, flags=re.S)
    assert quoted, "the Quick start quotes the minutes per notebook from docs/teaching.md"
    assert (float(quoted[1]), float(quoted[2])) == (min(minutes), max(minutes)), quoted[0]
    total_s = sum(int(s) for s in re.findall(r"^\| \d\d_\w+ \| [\d.]+ min \((\d+) s", table, flags=re.M))
    assert int(quoted[3]) == round(total_s / 60), f"docs/teaching.md: {total_s} s in all"


# ----------------------------------------------------------------------------- the walk
FETCH = r"""
import json, sys
from pathlib import Path
import course_utils, course_utils.data as d
from PIL import Image
code, clone = sys.argv[1], Path(sys.argv[2]).resolve()
assert Path(course_utils.__file__).resolve().is_relative_to(clone), course_utils.__file__  # never the real data/
root, out = d.data_dir(), {"calls": []}
out["root"] = str(root)

def offline(r, *a, **k):
    out["calls"].append(str(r))
    raise ConnectionError("offline (test)")

def download(r, *a, **k):  # stands in for torchvision's download: a 20-image tree where it was asked to put it
    out["calls"].append(str(r))
    for split in ("train", "test"):
        for name in d.CLASSES:
            (Path(r) / "cifar10" / split / name).mkdir(parents=True)
            Image.new("RGB", (32, 32), (9, 9, 9)).save(Path(r) / "cifar10" / split / name / "0.png")

def present(r, *a, **k):
    raise AssertionError("downloaded although the data was there")

for case, fake in (("offline", offline), ("online", download), ("present", present)):
    d._download_official = fake
    try:
        exec(code, {"__name__": "__main__"})
        out[case] = "ok"
    except d.DataNotFoundError as err:
        out[case] = f"DataNotFoundError: {err}"
print("RESULT " + json.dumps(out))
"""


class Walk:
    """Runs the Quick start's commands in order, in ``tmp``: cwd and the environment carry over."""

    def __init__(self, tmp: Path):
        self.tmp, self.cwd, self.clone, self.venv = tmp, tmp, tmp, tmp
        env = {k: v for k, v in os.environ.items() if k not in ("COURSE_PROFILE", "COURSE_DATA_DIR")}
        # the installed environment: this interpreter's (a venv made with --without-pip has no packages)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        self.env = env

    def step_clone(self, a: list[str]) -> None:
        if not (ROOT / ".git").exists():
            pytest.skip("not a git checkout: nothing to clone")
        self.clone = self.tmp / a[3]
        run(["git", "clone", "--quiet", str(ROOT), str(self.clone)], self.tmp)
        # the working tree, not only HEAD: uncommitted and new files too (results/ and data/ left alone)
        ex = [":(exclude)results", ":(exclude)data"]
        changed = run(["git", "diff-index", "--name-only", "HEAD", "--", ".", *ex], ROOT).stdout.split()
        new = run(["git", "ls-files", "--others", "--exclude-standard", "--", ".", *ex], ROOT).stdout.split()
        for rel in changed + new:
            src, dst = ROOT / rel, self.clone / rel
            if src.is_file():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
            elif dst.exists():
                dst.unlink()

    def step_cd(self, a: list[str]) -> None:
        self.cwd = (self.cwd / a[1]).resolve()
        assert self.cwd == self.clone.resolve(), f"`cd {a[1]}` must enter the clone {self.clone.name}"

    def step_venv(self, a: list[str]) -> None:
        run([sys.executable, "-m", "venv", "--without-pip", a[3]], self.cwd)
        self.venv = self.cwd / a[3]
        assert (self.venv / "pyvenv.cfg").is_file()
        run(["git", "check-ignore", "-q", a[3]], self.cwd)  # the student's venv never shows in git status
        assert f"{a[3]}\\Scripts\\activate" in QUICK, "the Windows line: .venv\\Scripts\\activate"

    def step_activate(self, a: list[str]) -> None:
        assert (self.cwd / a[1]).resolve() == (self.venv / "bin" / "activate").resolve(), a[1]
        out = run(["bash", "-c", f'{a[0]} {shlex.quote(a[1])} && printf %s "$VIRTUAL_ENV"'], self.cwd)
        assert Path(out.stdout).resolve() == self.venv.resolve(), out.stdout

    def step_pip_cpu(self, a: list[str]) -> None:
        # download.pytorch.org is out of CI's reach: the line is checked against requirements.txt instead
        url = a[a.index("--index-url") + 1]
        assert url == CPU_INDEX, url
        wanted = {r.name.lower(): r for r in map(Requirement, (t for t in a[2:] if t not in ("--index-url", url)))}
        pinned = pins(self.cwd / "requirements.txt")
        assert set(wanted) == {"torch", "torchvision"}, wanted
        for name, req in wanted.items():
            assert req.specifier == pinned[name].specifier, f"{name}: {req} here, {pinned[name]} in requirements.txt"
            (version,) = (s.version for s in req.specifier)
            # PEP 440: `==2.14.1` accepts 2.14.1+cpu, so `pip install -r requirements.txt` keeps the CPU build
            assert pinned[name].specifier.contains(f"{version}+cpu"), pinned[name]

    def step_pip_requirements(self, a: list[str]) -> None:
        assert (self.cwd / a[3]).is_file(), a[3]
        assert {"torch", "torchvision", "jupyterlab", "pytest"} <= set(pins(self.cwd / a[3]))
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--disable-pip-version-check"]
        run([*cmd, "-r", a[3]], self.cwd, self.env)

    def step_git_config(self, a: list[str]) -> None:
        (nb,) = set(re.findall(r"notebooks/\w+\.ipynb", QUICK))
        run(["git", "checkout", "--", nb], self.cwd)
        book = nbformat.read(self.cwd / nb, as_version=4)
        ran, edited = self.tmp / "ran.ipynb", self.tmp / "edited.ipynb"
        for cell in book.cells:
            if cell.cell_type == "code" and "nbval-check-output" not in cell.metadata.get("tags", []):
                cell.execution_count = 3
                cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="a student's output\n")]
        nbformat.write(book, ran)
        book.cells[0].source = "# edited by a student"
        nbformat.write(book, edited)

        def blob(path: Path) -> str:  # what `git add` would store for `nb` with this content (filters applied)
            return run(["git", "hash-object", f"--path={nb}", str(path)], self.cwd, self.env).stdout

        assert blob(ran) != blob(self.cwd / nb)  # before the line: a student's outputs would reach git
        run(a, self.cwd, self.env)  # as written; the filter then runs with PATH's python3, as a student's would
        clean = run(["git", "config", "--get", "filter.course-notebook.clean"], self.cwd, self.env).stdout
        assert ".ci/nbfilter.sh" in clean, clean
        assert blob(ran) == blob(self.cwd / nb), "executed outputs must stay out of git"
        assert blob(edited) != blob(self.cwd / nb), "an edited cell must still reach git"

    def step_fetch_data(self, a: list[str]) -> None:
        env = {**self.env, "PYTHONPATH": str(self.clone)}  # course_utils of the clone, so data/ is the clone's
        out = run([sys.executable, "-c", FETCH, a[2], str(self.clone)], self.cwd, env)
        (line,) = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
        got = json.loads(line[len("RESULT ") :])
        assert Path(got["root"]).resolve() == (self.clone / default_data_dir()).resolve(), got["root"]
        offline = got["offline"]  # what the Quick start tells offline students must be what the error says
        assert offline.startswith("DataNotFoundError") and "cifar-10-python.tar.gz" in offline, offline
        assert "cifar-10-batches-py" in offline, offline
        assert got["online"] == got["present"] == "ok", got
        assert got["calls"] == [got["root"]] * 2, got["calls"]  # downloads when missing, into data/; not after
        shutil.rmtree(got["root"])

    def step_mkdir(self, a: list[str]) -> None:
        assert Path(a[2]) == default_data_dir(), f"{a[2]}: course_utils.data looks in {default_data_dir()}"
        run(a, self.cwd)
        run(["git", "check-ignore", "-q", a[2]], self.cwd)  # data is never committed

    def step_untar(self, a: list[str]) -> None:
        cifar = torchvision.datasets.CIFAR10
        assert a[2] == cifar.filename, f"{a[2]}: torchvision's (and the host's) file is {cifar.filename}"
        assert cifar.url.split("/")[2] in QUICK, f"the Quick start names the host, {cifar.url}"
        names = [n for n, _ in cifar.train_list + cifar.test_list] + [cifar.meta["filename"]]
        with tarfile.open(self.cwd / a[2], "w:gz") as tar:  # the official archive's layout, tiny files
            for name in names:
                (self.tmp / name).write_bytes(b"x")
                tar.add(self.tmp / name, arcname=f"{cifar.base_folder}/{name}")
        run(a, self.cwd)
        for name in names:  # where course_utils.data looks first
            assert (self.cwd / a[4] / cifar.base_folder / name).is_file(), name

    def step_jupyter(self, a: list[str]) -> None:
        assert self.cwd == self.clone.resolve(), "start JupyterLab from the repository root"
        run([*a, "--version"], self.cwd, self.env)

    def step_pytest(self, a: list[str]) -> None:
        env = {**self.env, "PYTHONPATH": str(self.clone)}
        out = run([sys.executable, "-m", "pytest", "--collect-only", "-q"], self.cwd, env).stdout
        for nb in sorted((self.clone / "notebooks").glob("*.ipynb")):
            assert f"notebooks/{nb.name}::" in out, f"`pytest` does not collect {nb.name}"
        assert "tests/test_quickstart.py::" in out

    def step_pytest_fast(self, a: list[str]) -> None:
        env = {**self.env, "PYTHONPATH": str(self.clone)}
        out = run([sys.executable, "-m", *a, "--collect-only", "-q"], self.cwd, env).stdout
        assert "tests/test_quickstart.py::" in out and "deselected" in out, out[-2000:]
        assert "notebooks/" not in out, "the inner loop executes no notebook"


def default_data_dir() -> Path:
    """Where course_utils.data looks without ``COURSE_DATA_DIR``, relative to the repository root."""
    saved = os.environ.pop("COURSE_DATA_DIR", None)
    try:
        return data_dir().relative_to(ROOT)
    finally:
        if saved is not None:
            os.environ["COURSE_DATA_DIR"] = saved


@pytest.mark.slow
def test_quickstart_runs_as_written(tmp_path):
    walk = Walk(tmp_path)
    for cmd in commands():
        assert cmd.step is not None, f"unknown Quick start command: {cmd.line}"
        getattr(walk, "step_" + cmd.step.replace("-", "_"))(cmd.argv)
