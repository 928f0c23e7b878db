"""The fig6 command: SIGKILL-and-resume equality, skip, result schema, order of work, time limit, --help.

The command runs in subprocesses on the synthetic stand-in (an empty COURSE_DATA_DIR), in
the smoke profile (conftest.py), with one thread so both runs use the same kernels.
"""

import json
import os
import subprocess
import sys

import pytest
import torch

from course_utils import cpu, experiments, models, probe, results
from course_utils.experiments import cli, figure6, runset

RUN = ["--models", "resnet20", "--iterations", "8", "--eval-every", "2", "--checkpoint-every", "2", "--no-progress"]
RUN += ["--variant", "eager"]  # auto probes, and a timing could pick bf16 in one run and fp32 in the other
# The real command, killed by a real SIGKILL at a deterministic point: right after its second checkpoint.
KILLED = """
import os, signal, sys
from course_utils import checkpoint, train
from course_utils.experiments.cli import main
saves = []
def save_then_die(path, state, _save=checkpoint.save_checkpoint):
    _save(path, state)
    saves.append(path)
    if len(saves) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
train.save_checkpoint = save_then_die
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    empty = tmp_path_factory.mktemp("no_data")
    return os.environ | {"COURSE_DATA_DIR": str(empty), "COURSE_PROFILE": "smoke", "OMP_NUM_THREADS": "1"}


def _args(out, *extra):
    return ["fig6", *RUN, "--out", str(out), *extra]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, env):
    out = tmp_path_factory.mktemp("full")
    subprocess.run(
        [sys.executable, "-m", "course_utils.experiments", *_args(out)],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out


@pytest.mark.slow
def test_sigkill_then_rerun_equals_an_uninterrupted_run(uninterrupted, env, tmp_path):
    killed = subprocess.run([sys.executable, "-c", KILLED, *_args(tmp_path)], env=env, capture_output=True, timeout=600)
    assert killed.returncode == -9, killed.stderr  # died by SIGKILL
    ck = tmp_path / "checkpoints" / "resnet20-s0.pt"
    assert torch.load(ck, weights_only=True)["iteration"] == 4 and not (tmp_path / "resnet20-s0.json").exists()

    done = subprocess.run(
        [sys.executable, "-m", "course_utils.experiments", *_args(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert results.read_json(tmp_path / "summary.json")["runs"][0]["status"] == "resumed"
    a, b = results.read_json(uninterrupted / "resnet20-s0.json"), results.read_json(tmp_path / "resnet20-s0.json")
    assert a["history"] == b["history"]  # bitwise: the same floats
    wa = torch.load(uninterrupted / "weights" / "resnet20-s0.pt", weights_only=True)
    wb = torch.load(tmp_path / "weights" / "resnet20-s0.pt", weights_only=True)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)

    before = (tmp_path / "resnet20-s0.json").stat().st_mtime_ns  # a finished run is skipped, untouched
    assert cli.main(_args(tmp_path)) == 0
    assert results.read_json(tmp_path / "summary.json")["runs"][0]["status"] == "skipped"
    assert (tmp_path / "resnet20-s0.json").stat().st_mtime_ns == before


@pytest.mark.slow
def test_result_json_schema(uninterrupted):
    r = results.read_json(uninterrupted / "resnet20-s0.json")
    assert results.missing_fields(r) == []
    assert r["model"] == "resnet20" and r["depth"] == 20 and r["seed"] == 0 and r["profile"] == "smoke"
    assert r["params"] == models.count_params(models.get_model("resnet20")) == 269_722
    assert r["schedule"] == {
        "batch_size": 128,
        "lr": 0.1,
        "momentum": 0.9,
        "weight_decay": 1e-4,
        "milestones": [4, 6],
        "iterations": 8,
        "warmup_iterations": 0,
        "warmup_lr": 0.01,
    }
    assert r["data_source"] == "synthetic stand-in" and r["device"] == "cpu"
    assert r["variant"] == "eager" and r["history"]["variant"] == ["eager"] * 4
    assert r["history"]["device"] == [cpu.label()] * 4 and list(r["wall_by_device"]) == [cpu.label()]
    assert not (uninterrupted / "checkpoints" / "probe.json").exists()  # asked for by name: nothing to probe
    assert not (uninterrupted / "checkpoints" / "resnet20-s0.pt").exists()  # finished: its state is deleted
    assert not (uninterrupted / "checkpoints" / "resnet20-s0.json").exists()
    assert r["train_set"] == "split" and r["n_train_images"] == 1024 and r["n_test_images"] == 256
    assert r["torch_version"] == torch.__version__ and r["wall_seconds"] > 0 and r["date"][:2] == "20"
    assert r["history"]["iteration"] == [2, 4, 6, 8]
    assert r["history"]["lr"] == pytest.approx([0.1, 0.1, 0.01, 0.001], rel=1e-12)
    s = results.read_json(uninterrupted / "summary.json")
    assert s["total_wall_seconds"] > 0 and s["complete"] and [e["file"] for e in s["runs"]] == ["resnet20-s0.json"]
    assert (
        torch.load(uninterrupted / "weights" / "resnet20-s0.pt", weights_only=True)["fc.weight"].dtype == torch.float16
    )


def test_names_are_accepted_as_get_model_accepts_them(tmp_path):
    assert [models.canonical_name(n) for n in ("ResNet-20", "plain56", "resnet18_CIFAR")] == [
        "resnet20",
        "plain56",
        "resnet18_cifar",
    ]
    with pytest.raises(ValueError, match="resnet56"):
        experiments.fig6(["resnet57"], out=tmp_path)


@pytest.mark.slow
def test_finished_run_with_another_schedule_is_not_overwritten(uninterrupted):
    with pytest.raises(ValueError, match="Delete it"):
        experiments.fig6(["resnet20"], iterations=10, out=uninterrupted, progress=False)


@pytest.mark.slow
def test_the_time_limit_pauses_and_the_same_command_resumes(env, tmp_path):
    # a limit that ends before the first step: nothing trains, the set is reported unfinished
    cmd = [sys.executable, "-m", "course_utils.experiments", *_args(tmp_path, "--time-limit", "0.01")]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    s = results.read_json(tmp_path / "summary.json")
    assert not s["complete"] and s["unfinished"] == ["resnet20-s0"] and "run the same command" in first.stdout
    again = subprocess.run(cmd[:-2], env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    s = results.read_json(tmp_path / "summary.json")
    assert s["complete"] and len(s["call_wall_seconds"]) == 2
    assert s["total_wall_seconds"] == pytest.approx(sum(s["call_wall_seconds"]), abs=0.02)


@pytest.mark.slow
def test_parallel_jobs_write_the_same_files(env, tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "course_utils.experiments",
        "fig6",
        "--models",
        "plain20,resnet20",
        "--iterations",
        "2",
        "--jobs",
        "2",
        "--no-progress",
        "--out",
        str(tmp_path),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    s = results.read_json(tmp_path / "summary.json")
    assert s["jobs"] == 2 and [e["model"] for e in s["runs"]] == ["plain20", "resnet20"]
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == ["plain20-s0.pt", "resnet20-s0.pt"]


def test_processes_by_default_only_where_they_pay(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert figure6.auto_jobs(cpu, 4, 800) == 2  # the cpu profile's set: two one-thread processes
    assert figure6.auto_jobs(cpu, 1, 800) == 1 and figure6.auto_jobs(cpu, 4, 30) == 1  # one run; seconds of work
    assert figure6.auto_jobs(cuda, 4, 64_000) == 1  # a GPU trains its groups in one process
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert figure6.auto_jobs(cpu, 4, 800) == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setitem(sys.modules, "ipykernel", object())
    assert figure6.auto_jobs(cpu, 4, 800) == 1  # in a notebook the processes' progress bars would not show


def test_bad_input_gets_a_clear_error(capsys, tmp_path):
    assert cli.main(["fig6", "--models", "resnet57", "--out", str(tmp_path)]) == 2
    assert "unknown model 'resnet57'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["fig6", "--variant", "turbo"])
    assert cli.main(["evaluate", str(tmp_path / "nowhere"), "--profile", "smoke"]) == 2
    assert "is not a results folder" in capsys.readouterr().err


def test_nonsense_numbers_are_refused_with_what_to_do(capsys, tmp_path):
    for flag, value, says in (
        ("--time-limit", "-5", "time limit must be a positive number of seconds"),
        ("--time-budget", "0", "time limit must be a positive number of seconds"),  # the flag's older name
        ("--iterations", "0", "iterations must be a positive whole number"),
        ("--eval-every", "0", "eval_every must be a positive whole number"),
        ("--test-images", "0", "test_images must be a positive count or 'all'"),
        ("--jobs", "0", "jobs must be a positive whole number"),
        ("--at-once", "0", "at_once must be a positive whole number"),
    ):
        assert cli.main(["fig6", flag, value, "--out", str(tmp_path)]) == 2, flag
        assert says in capsys.readouterr().err, flag
    assert not any(tmp_path.iterdir())  # refused before anything was written


def _fake_train(seen, monkeypatch):
    def fake_train(rs, units, data, deadline, stop):
        seen.update(budget=rs.budget, specs=[s for u in units for s in u], out=rs.out, lanes=rs.lanes)
        return [], []

    monkeypatch.setattr(runset, "measure", lambda rs, data, deadline, stop: False)  # nothing is built
    monkeypatch.setattr(figure6, "train", fake_train)


def test_a_profile_writes_into_its_own_ignored_folder(monkeypatch, tmp_path):
    seen = {}
    _fake_train(seen, monkeypatch)
    monkeypatch.setattr(figure6, "runs_dir", lambda name: tmp_path / "runs" / name)
    experiments.fig6(["resnet20"], profile="cpu", device="cpu", progress=False, data=object())
    assert seen["out"] == tmp_path / "runs" / "fig6-cpu" and (seen["out"] / "summary.json").is_file()
    assert figure6.default_out("gpu").relative_to(figure6.runs_dir("")).as_posix() == "fig6-gpu"
    ignored = subprocess.run(["git", "check-ignore", "-q", "runs/fig6-cpu/x.json"], cwd=results.repo_root())
    assert ignored.returncode == 0  # a student's run never shows up in git status


def test_prefix_keeps_the_paper_milestones_and_sizes_can_be_named(monkeypatch, tmp_path):
    seen = {}
    _fake_train(seen, monkeypatch)
    experiments.fig6(
        ["resnet56"], profile="cpu", device="cpu", iterations=3128, prefix=True, train_set="all",
        test_images="all", out=tmp_path, progress=False, data=object(),
    )  # fmt: skip
    sched = seen["specs"][0].schedule
    assert (sched.iterations, sched.milestones, sched.lr_at(3127)) == (3128, (32_000, 48_000), 0.1)
    assert (seen["budget"].train_set, seen["budget"].test_subset) == ("all", None)


def test_the_gpu_profile_trains_on_all_50k(monkeypatch, tmp_path):
    seen = {}
    _fake_train(seen, monkeypatch)
    experiments.fig6(["resnet20"], profile="gpu", device="cpu", out=tmp_path, progress=False, data=object())
    assert seen["budget"].train_set == "all" and seen["specs"][0].schedule.iterations == 64_000
    assert json.loads((tmp_path / "summary.json").read_text())["train_set"] == "all"


@pytest.mark.slow
def test_evaluate_adds_the_whole_test_set_error(uninterrupted, env, tmp_path, monkeypatch):
    import shutil

    from course_utils import data as cdata

    folder = tmp_path / "copy"
    shutil.copytree(uninterrupted, folder)
    monkeypatch.setenv("COURSE_DATA_DIR", env["COURSE_DATA_DIR"])  # the synthetic stand-in, as in training
    assert cli.main(["evaluate", str(folder), "--profile", "smoke"]) == 0
    r = results.read_json(folder / "resnet20-s0.json")
    d = cdata.synthetic_cifar10()
    net = results.load_weights("resnet20", folder=folder)
    norm = experiments.normalizer_for(r, d)
    with torch.no_grad():
        wrong = (net(norm(d.test_images)).argmax(1) != d.test_labels).sum().item()
    assert r["test_error_full"] == pytest.approx(100.0 * wrong / len(d.test_labels), abs=1e-9)
    assert r["history"] == results.read_json(uninterrupted / "resnet20-s0.json")["history"]  # untouched


@pytest.mark.slow
def test_auto_probes_once_per_device_and_the_history_says_which_variant_trained(tmp_path, monkeypatch):
    monkeypatch.setattr(cpu, "native_bf16", lambda: True)
    probed = []

    def timed(runs, variants, seconds=0.5, graphs=None):  # bf16 correct and faster, as measured on AVX512-BF16
        probed.extend(r.name for r in runs)
        return [probe.ProbeRow(r.name, v, 4.0 if v == "bf16" else 2.6, ok=True) for r in runs for v in variants]

    monkeypatch.setattr(probe, "probe", timed)
    kw = dict(iterations=4, eval_every=2, out=tmp_path, profile="smoke", progress=False, jobs=1)
    experiments.fig6(["resnet20"], **kw)
    r = results.read_json(tmp_path / "resnet20-s0.json")
    assert r["variant"] == "bf16" and r["history"]["variant"] == ["bf16", "bf16"] and probed == ["resnet20"]
    monkeypatch.setattr(cpu, "label", lambda: "cpu (another processor)")  # the set carried to another machine
    experiments.fig6(["resnet20", "plain20"], **kw)  # resnet20: finished, skipped; plain20: probed here
    assert probed == ["resnet20", "plain20"]
    saved = results.read_json(tmp_path / "checkpoints" / "probe.json")
    assert saved == {r["history"]["device"][0]: {"resnet20": "bf16"}, "cpu (another processor)": {"plain20": "bf16"}}


def test_a_run_in_progress_without_its_state_stops_the_set_before_any_work(tmp_path, capsys):
    side = {"model": "resnet20", "finished": False, "iteration": 782, "history": {"iteration": [391, 782]}}
    results.write_json(tmp_path / "state" / "resnet20-s0.json", side)
    code = cli.main(["fig6", *RUN, "--out", str(tmp_path), "--state", str(tmp_path / "state")])
    err = capsys.readouterr().err
    assert code == 2 and "782 iterations recorded" in err and "is missing" in err and "git checkout" in err
    assert not (tmp_path / "summary.json").exists()  # nothing trained, nothing restarted from iteration 0


def test_errors_found_after_parsing_print_the_usage_line_as_argparse_does(capsys):
    assert cli.main(["fig6", "--time-limit", "-5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m course_utils.experiments fig6 [-h]")
    assert "python -m course_utils.experiments fig6: error: the time limit must be a positive number" in err
