"""fig6 says what it will do and does it: the order it prints is the order the runs start, its estimate comes
from times measured here, Ctrl-C on a process pool stops every run cleanly (no worker warning) and the same
command resumes where each run stopped, and no unit starts without time to do useful work."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from course_utils import cpu, estimate, experiments, probe, results
from course_utils import data as cdata
from course_utils.budget import Budget
from course_utils.experiments import cli, figure6, pool, runset
from course_utils.experiments.runset import RunSet
from course_utils.fig6_set import work_order
from course_utils.profile import get_profile
from tests.fakes import fake_result

ORDER = re.compile(r"^  (\d+/\d+: .+)$", re.M)  # the order of work, one unit a line
STARTS = re.compile(r"^fig6: start (\d+/\d+: [^(\n]+?)(?: \(resumed: ([^)]*)\))?$", re.M)  # as each unit starts
WARNINGS = ("leaked semaphore", "resource_tracker", "Traceback", "KeyboardInterrupt")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    empty = tmp_path_factory.mktemp("no_data")
    return os.environ | {"COURSE_DATA_DIR": str(empty), "COURSE_PROFILE": "smoke", "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_the_printed_order_is_the_order_the_groups_start_and_leaves_out_finished_ones(tmp_path, capsys):
    for m in ("plain20", "resnet20"):  # seed 0 finished already: it is skipped, and not announced
        results.write_json(tmp_path / f"{m}-s0.json", fake_result(m, 9.0, 9.0, its=2, step=2))
    kw = dict(seeds=[0, 1, 2], iterations=2, eval_every=2, variant="eager", jobs=1, out=tmp_path, progress=False)
    summary = experiments.fig6(["plain20", "resnet20"], **kw)
    said = capsys.readouterr().out
    assert ORDER.findall(said) == ["1/2: plain20-s1 + resnet20-s1", "2/2: plain20-s2 + resnet20-s2"]
    assert [u for u, _ in STARTS.findall(said)] == ORDER.findall(said)  # started as announced, in that order
    assert [e["status"] for e in summary["runs"]] == ["skipped"] * 2 + ["trained"] * 4
    assert "fig6: estimate: about" in said and "to stop, press Ctrl-C" in said


@pytest.mark.slow
def test_the_estimate_is_the_arithmetic_of_the_probes_step_times(tmp_path, monkeypatch):
    monkeypatch.setattr(cpu, "native_bf16", lambda: True)  # a choice to make: the probe runs and times each net

    def timed(runs, variants, seconds=0.5, graphs=None):  # bf16 chosen (faster): its 4 steps/s are the step time
        return [probe.ProbeRow(r.name, v, 4.0 if v == "bf16" else 2.0, ok=True) for r in runs for v in variants]

    monkeypatch.setattr(probe, "probe", timed)
    monkeypatch.setattr(probe, "eval_seconds", lambda run, images=1000: 0.5)
    prof = get_profile("smoke", "cpu")
    groups = work_order(["plain20", "resnet20"], [0], 30)
    data = cdata.synthetic_cifar10(300, 50)
    for jobs, lanes_s in ((1, sum), (2, max)):
        units = tuple(tuple(g) for g in groups) if jobs == 1 else tuple((s,) for g in groups for s in g)
        rs = RunSet(prof, Budget.of(prof), tmp_path, tmp_path / f"state{jobs}", units=units, lanes=jobs,
                    processes=jobs > 1)  # fmt: skip
        rs.load_s = 3.0
        assert runset.measure(rs, data, None, lambda: False)
        assert (rs.step_s, rs.eval_s) == ({"plain20": 0.25, "resnet20": 0.25}, {"plain20": 0.5, "resnet20": 0.5})
        run_s = 30 * 0.25 + 3 * 0.5  # 30 iterations at 0.25 s, 3 records (every 10) at 0.5 s
        extra = rs.load_s if jobs > 1 else 0.0  # each worker loads the data for its run
        want = lanes_s([rs.start_s[runset.key(u)] + extra + run_s * len(u) for u in units])
        said = runset.estimate_lines(rs, None)
        assert abs(int(re.search(r"about [\d.]+ minutes \((\d+) s\)", said).group(1)) - want) <= 0.5, (jobs, said)
        assert "plain20 250 ms/step (probe), 0.5 s/evaluation" in said


def test_the_order_of_work_is_groups_in_one_process_or_single_runs_in_processes(tmp_path):
    groups = work_order(["plain20", "plain56", "resnet20", "resnet56"], [0], 800)
    prof = get_profile("smoke", "cpu")
    one = RunSet(prof, Budget(), tmp_path, tmp_path, units=tuple(tuple(g) for g in groups), lanes=2)
    assert one.order_text().splitlines()[1:] == ["  1/2: plain20-s0 + resnet20-s0", "  2/2: plain56-s0 + resnet56-s0"]
    many = RunSet(prof, Budget(), tmp_path, tmp_path, units=tuple((s,) for g in groups for s in g), lanes=2,
                  processes=True)  # fmt: skip
    assert many.label(many.units[2]) == "3/4: plain56-s0" and "2 process(es) at once" in many.order_text()
    many.done_at = {"plain56-s0": 58_650}
    assert many.started(many.units[2]) == "fig6: start 3/4: plain56-s0 (resumed: plain56-s0 at 58,650)"
    assert RunSet(prof, Budget(), tmp_path, tmp_path).order_text() == (
        "fig6: nothing to train: every run of the set is finished"
    )


def test_a_resumed_run_counts_only_the_time_it_has_left(tmp_path):
    unit = tuple(work_order(["resnet20"], [0], 1000)[0])
    rs = RunSet(get_profile("smoke", "cpu"), Budget(), tmp_path, tmp_path, units=(unit,))
    rs.step_s, rs.eval_s, rs.start_s = {"resnet20": 0.1}, {"resnet20": 1.0}, {"resnet20-s0": 2.0}
    rs.left_s = {"resnet20-s0": estimate.run_seconds(400, 1000, 100, 0.1, 1.0)}  # as measure() finds it at 400
    assert "(68 s)" in runset.estimate_lines(rs, None)  # 2 s start + 600 steps x 0.1 s + 6 records x 1 s


def test_a_unit_in_a_process_of_its_own_starts_only_with_time_for_useful_work(tmp_path):
    unit = tuple(work_order(["resnet20"], [0], 1000)[0])
    rs = RunSet(get_profile("smoke", "cpu"), Budget(), tmp_path, tmp_path, units=(unit,), processes=True)
    rs.left_s, rs.start_s, rs.load_s, rs.interval_s = {"resnet20-s0": 66.0}, {"resnet20-s0": 4.0}, 6.0, 30.0
    now = time.perf_counter()
    assert figure6._may_start(rs, unit, None) and figure6._may_start(rs, unit, now + 5.0 + 10.0 + 30.0 + 1.0)
    assert not figure6._may_start(rs, unit, now + 5.0 + 10.0 + 29.0)  # load + build, then one checkpoint interval
    assert not figure6._may_start(rs, unit, now - 1.0)  # past the time limit
    started = []
    ran, never = pool.run_pool(["a", "b"], str, jobs=2, threads=1, stop=lambda: False, may_start=lambda u: False,
                               on_start=started.append)  # fmt: skip
    assert (ran, never, started) == ([], ["a", "b"], [])
    ran, never = pool.run_pool(["a", "b"], str, jobs=2, threads=1, stop=lambda: True, on_start=started.append)
    assert (ran, never, started) == ([], ["a", "b"], [])  # Ctrl-C before anything started: nothing starts


def test_a_finished_run_of_another_schedule_names_the_state_folder_given(tmp_path):
    results.write_json(tmp_path / "out" / "resnet20-s0.json", fake_result("resnet20", 9.0, 9.0, its=4, step=2))
    with pytest.raises(ValueError, match="Delete it") as err:
        experiments.fig6(["resnet20"], iterations=10, out=tmp_path / "out", state=tmp_path / "state", progress=False)
    assert f"{tmp_path / 'state' / 'resnet20-s0.pt'}" in str(err.value) and "checkpoints" not in str(err.value)


def _sidecar_iterations(state, stems):
    found = {s: results.read_json(state / f"{s}.json")["iteration"] for s in stems if (state / f"{s}.json").exists()}
    return found if len(found) == len(stems) else None


def _run_then_ctrl_c(cmd, env, out_file, ready, presses=1):
    """The command until ``ready()`` gives something, then ``presses`` real Ctrl-Cs 0.3 s apart to its whole process
    group (as a terminal sends them); returns what ``ready`` gave, the return code, stdout and stderr."""
    with open(out_file, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.PIPE, start_new_session=True)
        deadline, seen = time.monotonic() + 600, None
        while seen is None:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.3)
            seen = ready()
        for _ in range(presses):
            os.killpg(proc.pid, signal.SIGINT)
            time.sleep(0.3)
        _, err = proc.communicate(timeout=300)  # no hang: a second Ctrl-C once left the pool's workers waiting
    return seen, proc.returncode, out_file.read_text(), err.decode()


@pytest.mark.slow
def test_ctrl_c_stops_the_process_pool_cleanly_and_the_same_command_resumes_where_it_stopped(env, tmp_path):
    # four runs, two processes: plain-20 and ResNet-20 train, plain-32 and ResNet-32 wait; progress bars on,
    # so each worker holds tqdm's lock, a named semaphore that leaks (with a warning) if a worker is killed
    cmd = [sys.executable, "-m", "course_utils.experiments", "fig6", "--models", "plain20,resnet20,plain32,resnet32",
           "--iterations", "2000", "--eval-every", "500", "--checkpoint-every", "5", "--jobs", "2",
           "--variant", "eager", "--out", str(tmp_path)]  # fmt: skip
    state, running = tmp_path / "checkpoints", ["plain20-s0", "resnet20-s0"]
    first = _run_then_ctrl_c(cmd, env, tmp_path / "first.txt", lambda: _sidecar_iterations(state, running), 2)
    seen, code, out, err = first
    assert code == 130 and not any(w in err for w in WARNINGS), err
    assert err.count("Ctrl-C: stopping after the current step") == 2  # each press answered at once
    assert ORDER.findall(out) == ["1/4: plain20-s0", "2/4: resnet20-s0", "3/4: plain32-s0", "4/4: resnet32-s0"]
    assert [u for u, _ in STARTS.findall(out)] == ORDER.findall(out)[:2]  # the queued ones never started
    assert "fig6: estimate: about" in out and "to stop, press Ctrl-C" in out
    saved = {s: torch.load(state / f"{s}.pt", weights_only=True)["iteration"] for s in running}
    assert all(saved[s] >= seen[s] for s in running)  # nothing lost: each saved where it stopped, at or past
    for s in running:  # the checkpoint it was last seen at, and the message says where
        assert f"{s} at iteration {saved[s]:,} of 2,000" in err
    assert "not started: plain32-s0, resnet32-s0" in err and "run the same command again" in err
    assert sorted(p.name for p in state.glob("*.pt")) == ["plain20-s0.pt", "resnet20-s0.pt"]

    def moved_on():  # both resumed runs wrote a checkpoint past where they stopped
        now = _sidecar_iterations(state, running)
        return now if now and all(now[s] > saved[s] for s in running) else None

    again, code, out, err = _run_then_ctrl_c(cmd, env, tmp_path / "again.txt", moved_on)
    assert code == 130 and not any(w in err for w in WARNINGS), err
    resumed = dict(STARTS.findall(out))
    assert resumed == {"1/4: plain20-s0": f"plain20-s0 at {saved['plain20-s0']:,}",
                       "2/4: resnet20-s0": f"resnet20-s0 at {saved['resnet20-s0']:,}"}  # fmt: skip
    for s in running:  # it went on from there, and stopped again with all of it saved
        assert torch.load(state / f"{s}.pt", weights_only=True)["iteration"] >= again[s] > saved[s]


@pytest.mark.slow
def test_a_reader_following_one_fig6_call_meets_at_most_ten_types_of_the_course(tmp_path):
    """From the command line to a result file (eager, in this process): the course's own classes whose objects the
    call makes or uses, the networks and their blocks aside. The probe adds its rows where it runs."""
    met = set()

    def note(frame, event, arg):
        if event == "call":
            for k in ("self", "cls"):
                o = frame.f_locals.get(k)
                t = o if isinstance(o, type) else type(o)
                if o is not None and t.__module__.startswith("course_utils") and "models" not in t.__module__:
                    met.add(t.__qualname__)

    args = "fig6 --models plain20,resnet20 --iterations 4 --eval-every 2 --profile smoke --device cpu --jobs 1"
    args = [*args.split(), "--no-progress", "--variant", "eager", "--out", str(tmp_path)]
    sys.setprofile(note)
    try:
        assert cli.main(args) == 0
    finally:
        sys.setprofile(None)
    met -= {"BasicBlock", "ShortcutA", "Bottleneck"}
    assert len(met) <= 10, sorted(met)
    assert {"TrainRun", "Group", "RunSet", "Schedule", "Budget"} <= met  # it did train
