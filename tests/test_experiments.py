"""The fig6 command: SIGKILL-and-resume equality, skip, JSON schema, weights, errors, --help.

The command runs in subprocesses on the synthetic stand-in (an empty COURSE_DATA_DIR), in
the smoke profile (conftest.py), with one thread so both runs use the same kernels.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from course_utils import experiments, models

RUN = ["--models", "resnet20", "--iterations", "8", "--eval-every", "2", "--checkpoint-every", "2",
       "--no-progress"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    empty = tmp_path_factory.mktemp("no_data")
    return os.environ | {"COURSE_DATA_DIR": str(empty), "COURSE_PROFILE": "smoke", "OMP_NUM_THREADS": "1"}


def _cmd(out):
    return [sys.executable, "-m", "course_utils.experiments", "fig6", *RUN, "--out", str(out)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, env):
    out = tmp_path_factory.mktemp("full")
    subprocess.run(_cmd(out), env=env, check=True, capture_output=True, timeout=600)
    return out


def test_sigkill_then_rerun_equals_an_uninterrupted_run(uninterrupted, env, tmp_path):
    ck = tmp_path / "checkpoints" / "resnet20-s0.pt"
    proc = subprocess.Popen(_cmd(tmp_path), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not ck.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert ck.exists() and not (tmp_path / "resnet20-s0.json").exists(), "the run must die mid-way"
    assert torch.load(ck, weights_only=True)["iteration"] < 8

    done = subprocess.run(_cmd(tmp_path), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["runs"][0]["status"] == "resumed"
    a = json.loads((uninterrupted / "resnet20-s0.json").read_text())
    b = json.loads((tmp_path / "resnet20-s0.json").read_text())
    assert a["history"] == b["history"]  # bitwise: the same floats
    wa = torch.load(uninterrupted / "weights" / "resnet20-s0.pt", weights_only=True)
    wb = torch.load(tmp_path / "weights" / "resnet20-s0.pt", weights_only=True)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)

    # a finished run is skipped, its files untouched
    before = (tmp_path / "resnet20-s0.json").stat().st_mtime_ns
    again = subprocess.run(_cmd(tmp_path), env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "summary.json").read_text())["runs"][0]["status"] == "skipped"
    assert (tmp_path / "resnet20-s0.json").stat().st_mtime_ns == before


def test_result_json_schema(uninterrupted):
    r = json.loads((uninterrupted / "resnet20-s0.json").read_text())
    assert r["model"] == "resnet20" and r["depth"] == 20 and r["seed"] == 0 and r["profile"] == "smoke"
    assert r["params"] == models.count_params(models.get_model("resnet20")) == 269_722
    assert r["schedule"] == {"batch_size": 128, "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4,
                             "milestones": [4, 6], "iterations": 8, "warmup_iterations": 0, "warmup_lr": 0.01}
    assert r["data_source"] == "synthetic stand-in" and r["device"] == "cpu"
    assert r["torch_version"] == torch.__version__ and r["wall_seconds"] > 0 and r["date"][:2] == "20"
    h = r["history"]
    assert h["iteration"] == [2, 4, 6, 8] and len(h["train_error"]) == len(h["test_error"]) == len(h["lr"]) == 4
    s = json.loads((uninterrupted / "summary.json").read_text())
    assert s["total_wall_seconds"] > 0 and [e["file"] for e in s["runs"]] == ["resnet20-s0.json"]


def test_load_results_and_weights(uninterrupted):
    res = experiments.load_results(uninterrupted)
    assert list(res) == ["resnet20"] and res["resnet20"]["history"]["iteration"][-1] == 8
    assert list(experiments.load_results(uninterrupted, seed=None)) == ["resnet20-s0"]
    net = experiments.load_weights("resnet20", folder=uninterrupted)
    saved = torch.load(uninterrupted / "weights" / "resnet20-s0.pt", weights_only=True)
    assert not net.training and all(torch.equal(v, saved[k]) for k, v in net.state_dict().items())
    assert experiments.load_weights("resnet56", folder=uninterrupted) is None


def test_finished_run_with_another_schedule_is_not_overwritten(uninterrupted):
    with pytest.raises(ValueError, match="Delete it"):
        experiments.fig6(["resnet20"], iterations=10, out=uninterrupted, progress=False)


def test_unknown_model_lists_the_choices(tmp_path):
    with pytest.raises(ValueError, match="resnet56"):
        experiments.fig6(["resnet57"], out=tmp_path)


def test_parallel_jobs_write_the_same_files(env, tmp_path):
    cmd = [sys.executable, "-m", "course_utils.experiments", "fig6", "--models", "plain20,resnet20",
           "--iterations", "2", "--jobs", "2", "--no-progress", "--out", str(tmp_path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["jobs"] == 2 and [e["model"] for e in s["runs"]] == ["plain20", "resnet20"]
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == ["plain20-s0.pt", "resnet20-s0.pt"]


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        experiments.main(["fig6", "--help"])
    text = capsys.readouterr().out
    for opt in ("--models", "--seeds", "--iterations", "--eval-every", "--checkpoint-every", "--out",
                "--device", "--profile", "--jobs", "--deterministic", "--compile", "--no-progress"):
        assert opt in text, opt
    assert "milestones scale" in text
