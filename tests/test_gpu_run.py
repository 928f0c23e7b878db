"""The CPU rehearsal of a GPU lease: the very script the device machine runs, at smoke size.

Two leases, each in a fresh copy of the repository (a new machine every time): the first stops at
its time limit and bundles the full state of its unfinished runs; ``bundle.py land`` puts that
state into the second copy's ``results/fig6-state/`` (what a commit carries to the next lease); the
second lease resumes and finishes. The runs must then equal an uninterrupted run bit for bit, and
every bundle must fit what comes back from a device (at most 8 files of at most 16 MiB).
"""

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch

from course_utils.paths import repo_root

pytestmark = pytest.mark.slow  # the GPU run's own scripts, in subprocesses
ROOT = repo_root()
TARBALL = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
ARGS = ["--iterations", "80", "--eval-every", "20", "--variant", "eager"]  # auto: a timing could pick apart
STEMS = ("plain20-s0", "resnet20-s0")


def _fresh_copy(dest: Path) -> Path:
    """The tracked files of the working tree, without any committed GPU results or state."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        if f.startswith(("results/fig6/", "results/fig6-state/")) or not (ROOT / f).is_file():
            continue
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, dest / f)
    return dest


def _small_copy(dest: Path, train: int = 120, test: int = 30) -> Path:
    """The first images of each class of the offline CIFAR-10 copy, as a tarball of the same layout
    (real JPEGs, seconds to extract and decode, enough for the smoke profile's subsets)."""
    with tarfile.open(TARBALL, "r|gz") as src, tarfile.open(dest, "w:gz") as out:
        for m in src:
            parts = m.name.split("/")  # cifar10/<split>/<class>/<NNNN>.jpg
            if m.isfile() and int(parts[-1].split(".")[0]) >= (train if parts[1] == "train" else test):
                continue
            out.addfile(m, src.extractfile(m) if m.isfile() else None)
    return dest


def _lease(clone: Path, out: Path, env: dict, seconds: int) -> str:
    done = subprocess.run(
        ["bash", str(clone / ".ci" / "gpu_run.sh"), str(out), str(seconds)],
        env=env | {"PYTHONPATH": str(clone)},
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    files = list(out.iterdir())
    assert len(files) <= 8 and all(f.stat().st_size <= 16 * 2**20 for f in files), files  # what can come back
    return done.stdout


def _bundled(out: Path) -> dict[str, tarfile.TarInfo]:
    return {m.name: m for p in sorted(out.glob("bundle-*.tar.gz")) for m in tarfile.open(p).getmembers()}


def _land(out: Path, clone: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / ".ci" / "bundle.py"), "land", str(out), str(clone)], check=True)


def test_two_leases_in_fresh_copies_add_up_to_an_uninterrupted_run(tmp_path):
    env = os.environ | {
        "PROFILE": "smoke",
        "SEEDS": "0",
        "MODELS": "plain20,resnet20",
        "END_S": "5",
        "BENCH": "off",
        "OMP_NUM_THREADS": "1",
        "COURSE_DATA_DIR": str(tmp_path / "data"),
        "TARBALL": str(_small_copy(tmp_path / "small.tar.gz") if TARBALL.exists() else TARBALL),
        "EXTRA_ARGS": " ".join([*ARGS, "--checkpoint-every", "2"]),  # a start needs time for 2 steps, not 60 s
        "WORK": str(tmp_path / "work1"),
        # a lease far too short for the set, on idle or busy cores: decoding the JPEGs and timing each net's step
        # take some of it, then the group starts (it has time for 2 steps) and is cut after a few dozen iterations
        "TRAIN_S": "30",
    }
    first = _lease(_fresh_copy(tmp_path / "copy1"), tmp_path / "out1", env, 240)
    assert "gpu tests exited" in first and "fig6: time limit 30 s" in first, first[-3000:]
    if TARBALL.exists():
        assert (tmp_path / "data" / "cifar10" / "train" / "airplane").is_dir()
    names = _bundled(tmp_path / "out1")
    assert {"summary.json", "fig6.log", "gpu_run.log", "gpu_tests.log"} <= set(names)
    assert all(f"checkpoints/{s}.pt" in names for s in STEMS), first[-3000:]  # the state of both unfinished runs
    assert json.loads((tmp_path / "work1" / "fig6" / "summary.json").read_text())["unfinished"] == list(STEMS)

    clone = _fresh_copy(tmp_path / "copy2")
    _land(tmp_path / "out1", clone)
    state = sorted(p.name for p in (clone / "results" / "fig6-state").iterdir())
    assert state == sorted(f"{s}{x}" for s in STEMS for x in (".pt", ".json"))  # state and readable sidecar
    env2 = env | {"WORK": str(tmp_path / "work2"), "TRAIN_S": "600", "GPU_TESTS": "off"}  # run once above
    # the uninterrupted run, beside the second lease (the first has its short time limit to itself)
    ref, ref_data = tmp_path / "ref", tmp_path / "ref_data"
    ref_data.mkdir()
    if TARBALL.exists():
        with tarfile.open(env["TARBALL"]) as small:
            small.extractall(ref_data, filter="data")
    ref_log = (tmp_path / "ref.log").open("w")
    reference = subprocess.Popen(
        [sys.executable, "-m", "course_utils.experiments", "fig6", "--models", "plain20,resnet20", *ARGS,
         "--out", str(ref), "--no-progress"],
        env=env | {"COURSE_PROFILE": "smoke", "COURSE_DATA_DIR": str(ref_data)},
        stdout=subprocess.DEVNULL, stderr=ref_log,
    )  # fmt: skip
    second = _lease(clone, tmp_path / "out2", env2, 300)
    assert "state carried in" in second and "resumed" in second, second[-3000:]
    _land(tmp_path / "out2", clone)
    assert not list((clone / "results" / "fig6-state").iterdir())  # finished: the state is dropped
    summary = json.loads((clone / "results" / "fig6" / "summary.json").read_text())
    assert summary["complete"] and len(summary["call_wall_seconds"]) == 2  # the two leases add up

    done = reference.wait(timeout=600)
    ref_log.close()
    assert done == 0, (tmp_path / "ref.log").read_text()[-3000:]
    for stem in STEMS:
        got = json.loads((clone / "results" / "fig6" / f"{stem}.json").read_text())
        want = json.loads((ref / f"{stem}.json").read_text())
        assert got["history"] == want["history"]  # bit for bit, across two machines' worth of leases
        a = torch.load(clone / "results" / "fig6" / "weights" / f"{stem}.pt", weights_only=True)
        b = torch.load(ref / "weights" / f"{stem}.pt", weights_only=True)
        assert a["fc.weight"].dtype == torch.float16 and all(torch.equal(a[k], b[k]) for k in b)


def test_land_sorts_what_came_back_even_into_a_repository_without_those_folders(tmp_path):
    work, out, repo = tmp_path / "work", tmp_path / "out", tmp_path / "repo"
    (work / "checkpoints").mkdir(parents=True)
    (work / "plain20-s0.json").write_text("{}")  # finished
    (work / "summary.json").write_text('{"complete": false}')
    (work / "checkpoints" / "probe.json").write_text("{}")
    (work / "checkpoints" / "plain20-s0.pt").write_bytes(b"old state")  # of a finished run: not bundled
    (work / "checkpoints" / "plain20-s0.json").write_text('{"finished": false}')  # nor its sidecar
    (work / "checkpoints" / "resnet20-s0.pt").write_bytes(b"state")  # unfinished
    (work / "checkpoints" / "resnet20-s0.json").write_text('{"finished": false}')  # its sidecar, readable
    subprocess.run([sys.executable, str(ROOT / ".ci" / "bundle.py"), "pack", str(work), str(out)], check=True)
    (out / "bench-cuda.json").write_text('{"device": "a GPU"}')  # the bench writes beside the bundle
    repo.mkdir()
    _land(out, repo)
    assert sorted(p.name for p in (repo / "results" / "fig6").iterdir()) == ["plain20-s0.json", "summary.json"]
    state = sorted(p.name for p in (repo / "results" / "fig6-state").iterdir())
    assert state == ["probe.json", "resnet20-s0.json", "resnet20-s0.pt"]
    assert (repo / "results" / "fig6-state" / "resnet20-s0.pt").read_bytes() == b"state"
    assert (repo / "results" / "bench" / "bench-cuda.json").read_text() == '{"device": "a GPU"}'
