"""The CPU rehearsal of the GPU run: the very script the device machine runs, at smoke size.

``.ci/gpu_run.sh start`` then ``resume``, as on the GPU: extract the CIFAR-10 copy (when the
shared tarball is there), probe, train under a time budget, resume, bench, bundle. The bundle
must hold everything the README and notebooks need, within the limits of what comes back.
"""

import json
import os
import subprocess
import tarfile
from pathlib import Path

import torch

from course_utils.paths import repo_root

SCRIPT = repo_root() / ".ci" / "gpu_run.sh"
TARBALL = repo_root().parent / "shared" / "data" / "cifar10-jpeg.tar.gz"


def _stage(stage: str, out: Path, seconds: int, env: dict) -> str:
    done = subprocess.run(
        ["bash", str(SCRIPT), stage, str(out), str(seconds)],
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_rehearsal_start_then_resume_bundles_everything(tmp_path):
    env = os.environ | {
        "PROFILE": "smoke",
        "SEEDS": "0",
        "WORK": str(tmp_path / "work"),
        "OMP_NUM_THREADS": "1",
        "COURSE_DATA_DIR": str(tmp_path / "data"),
        "TARBALL": str(TARBALL),
        "EXTRA_ARGS": "--iterations 24 --eval-every 8",
        "COURSE_DEVICE": "cpu",
    }
    # generous: extracting the CIFAR-10 copy alone took ~30 s on a CI machine, and training stops when done
    first = _stage("start", tmp_path / "out1", 120, env)
    assert "fig6: time budget" in first and "bundle:" in first and "first loss" in first, first[-3000:]  # probe table
    if TARBALL.exists():
        assert (tmp_path / "data" / "cifar10" / "train" / "airplane").is_dir()
    second = _stage("resume", tmp_path / "out2", 150, env)
    assert "first loss" not in second  # the choice of the start is reused
    summary = json.loads((tmp_path / "work" / "fig6" / "summary.json").read_text())
    assert summary["complete"], second[-2000:]
    assert summary["total_wall_seconds"] == round(sum(summary["call_wall_seconds"]), 2)

    parts = sorted((tmp_path / "out2").glob("bundle-*.tar.gz"))
    files = list((tmp_path / "out2").iterdir())
    assert 1 <= len(parts) and len(files) <= 8 and all(f.stat().st_size <= 16 * 2**20 for f in files)
    names = {m.name: m for p in parts for m in tarfile.open(p).getmembers()}
    for stem in ("plain20-s0", "resnet20-s0"):
        assert f"fig6/{stem}.json" in names and f"fig6/weights/{stem}.pt" in names
        assert names[f"fig6/weights/{stem}.pt"].size <= 2_000_000
    assert "fig6/summary.json" in names and "bench/bench-cpu.json" in names
    assert {"fig6.log", "gpu_run.log"} <= set(names) and not any("checkpoints" in n for n in names)
    with tarfile.open(parts[0]) as tar:
        tar.extractall(tmp_path / "back", filter="data")
    w = torch.load(tmp_path / "back" / "fig6" / "weights" / "resnet20-s0.pt", weights_only=True)
    assert w["fc.weight"].dtype == torch.float16
    r = json.loads((tmp_path / "back" / "fig6" / "resnet20-s0.json").read_text())
    assert r["history"]["iteration"][-1] == 24 and r["n_train_images"] == 1024
