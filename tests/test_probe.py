"""The probe behind --variant auto: a variant must agree with eager over 5 steps (losses, error
counts, the update of every parameter and BN buffer), then it is timed; the fastest correct one wins.
The graph variant is checked on a CPU through ``tests.fakes.EmulatedGraphs``; the CPU bf16 variant for real."""

import pytest
import torch

from course_utils import data as cdata
from course_utils import engine, models, probe
from course_utils.budget import Budget
from course_utils.profile import seed_everything
from course_utils.schedule import Schedule
from course_utils.train import TrainRun
from tests.fakes import EmulatedGraphs

SCHED = Schedule().scaled(6)
BUDGET = Budget(eval_every=2, test_subset=40, checkpoint_seconds=None)


@pytest.fixture(scope="module")
def small():
    return cdata.synthetic_cifar10(n_train=400, n_test=60)


def _run(name, data, schedule=SCHED) -> TrainRun:
    seed_everything(0, deterministic=True)
    return TrainRun(models.get_model(name), data, schedule, name=name, budget=BUDGET, device="cpu", deterministic=True)


SMALL = Schedule(batch_size=32).scaled(6)  # a quarter of the work a step, where the size of the batch does not matter


@pytest.mark.slow
def test_eager_against_eager_agrees_exactly_and_leaves_the_run_untouched(small):
    run = _run("plain20", small)
    before = {k: v.clone() for k, v in run.model.state_dict().items()}
    rows = probe.probe([run], ["eager"], seconds=0.2)
    assert len(rows) == 1 and rows[0].ok and rows[0].steps_per_s > 0
    assert rows[0].loss_gap == 0 and rows[0].update_gap == 0  # the same floats
    assert rows[0].wrong[0] == rows[0].wrong[1] > 0  # 5 steps of an untrained net: many errors, the same ones
    assert all(torch.equal(before[k], v) for k, v in run.model.state_dict().items()) and run.iteration == 0
    assert float(run.loss_sum) == 0 and int(run.wrong) == 0
    table = probe.probe_table(rows, {"plain20": 64_000})
    assert "plain20" in table and "eager" in table and "min" in table and "update gap" in table


@pytest.mark.slow
def test_a_correct_graph_step_agrees_exactly_and_both_variants_are_timed(small):
    rows = probe.probe([_run("resnet20", small)], ["graphs", "eager"], seconds=0.1, graphs=EmulatedGraphs)
    assert [(r.variant, r.ok) for r in rows] == [("graphs", True), ("eager", True)]
    assert rows[0].update_gap == 0 and all(r.steps_per_s > 0 for r in rows)
    faster = max(rows, key=lambda r: r.steps_per_s).variant
    assert probe.pick(rows) == {"resnet20": faster}


@pytest.mark.slow
def test_the_cpu_bf16_step_agrees_with_fp32_within_bf16_tolerance_but_not_exactly(small):
    rows = probe.probe([_run("resnet20", small)], ["bf16", "eager"], seconds=0.1)
    bf16, eager = rows
    assert bf16.ok and eager.ok, bf16.note
    assert 0 < bf16.loss_gap < 0.05  # bf16 rounding (8 bits of mantissa) moves the loss, a little
    assert 0 < bf16.update_gap <= bf16.tolerance and eager.update_gap == 0 and eager.tolerance == 0.1
    assert 0.1 <= bf16.tolerance < 1  # three times the bf16 floor: a residual net is not chaotic


@pytest.mark.slow
def test_a_bf16_step_that_does_not_update_is_caught(small, monkeypatch):
    real = engine.make_step

    def frozen(run, variant, example=None, graphs=None):
        step = real(run, variant)
        if variant != "bf16":
            return step

        def no_update(x, y):
            lrs = [g["lr"] for g in run.opt.param_groups]
            for g in run.opt.param_groups:
                g["lr"] = 0.0
            loss = step(x, y)
            for g, lr in zip(run.opt.param_groups, lrs, strict=True):
                g["lr"] = lr
            return loss

        return no_update

    monkeypatch.setattr(engine, "make_step", frozen)
    bad, eager = probe.probe([_run("resnet20", small)], ["bf16", "eager"], seconds=0.1)
    assert bad.tolerance < 0.5 and bad.update_gap > 0.9 and not bad.ok and "the update differs" in bad.note
    assert probe.pick([bad, eager]) == {"resnet20": "eager"}


def test_the_cpu_bf16_step_really_runs_the_convolutions_in_bf16(small):
    run = _run("resnet20", small)
    seen = []
    hook = run.model.conv1.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    x, y = next(run.make_loader().batches(1))
    engine.make_step(run, "bf16")(x, y)
    engine.make_step(run, "eager")(x, y)
    hook.remove()
    assert seen == [torch.bfloat16, torch.float32]
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in run.model.parameters())


def test_auto_tries_bf16_on_a_cpu_only_where_the_processor_has_it_natively(monkeypatch):
    cpu_dev = torch.device("cpu")
    monkeypatch.setattr("course_utils.cpu.native_bf16", lambda: True)
    assert engine.candidates(cpu_dev) == ("bf16", "eager")
    monkeypatch.setattr("course_utils.cpu.native_bf16", lambda: False)
    assert engine.candidates(cpu_dev) == ("eager",)  # emulated bf16 is slower than fp32: never tried
    assert engine.candidates(cpu_dev, "bf16") == ("bf16",)  # asked for by name: the user's choice
    with pytest.raises(ValueError, match="for CPUs"):
        engine.candidates(torch.device("cuda"), "bf16")


class _SkipsTheUpdate(EmulatedGraphs):
    """A capture whose replay computes the loss but never applies the update (lr 0 baked in)."""

    def capture(self, body, opt):
        replay = super().capture(body, opt)

        def no_update():
            lrs = [g["lr"] for g in opt.param_groups]
            for g in opt.param_groups:
                g["lr"] = 0.0
            body()
            for g, lr in zip(opt.param_groups, lrs, strict=True):
                g["lr"] = lr

        return no_update if replay else replay


@pytest.mark.slow
def test_a_graph_that_does_not_update_is_caught_after_its_first_loss_agreed(small):
    rows = probe.probe([_run("resnet20", small)], ["graphs", "eager"], seconds=0.1, graphs=_SkipsTheUpdate)
    bad, eager = rows
    assert not bad.ok and "the update differs" in bad.note and bad.update_gap > 0.5
    assert eager.ok and probe.pick(rows) == {"resnet20": "eager"}  # eager only where graphs fail


@pytest.mark.slow
def test_a_variant_that_miscounts_errors_is_caught(small, monkeypatch):
    real = engine.make_step

    def miscounting(run, variant, example=None, graphs=None):
        step = real(run, "eager")

        def counted_twice(x, y):
            loss = step(x, y)
            run.wrong += run.wrong * 0 + len(y)  # as if every image were wrong once more
            return loss

        return counted_twice if variant == "graphs" else step

    monkeypatch.setattr(engine, "make_step", miscounting)
    rows = probe.probe([_run("plain20", small)], ["graphs", "eager"], seconds=0.1)
    assert not rows[0].ok and "error counts differ" in rows[0].note and rows[0].loss_gap == 0


@pytest.mark.slow
def test_a_failing_variant_is_reported_and_passed_over(small, monkeypatch):
    real = engine.make_step

    def broken(run, variant, example=None, graphs=None):
        if variant == "compile":
            raise RuntimeError("no C compiler")
        return real(run, variant, example)

    monkeypatch.setattr(engine, "make_step", broken)
    rows = probe.probe([_run("plain20", small)], ["compile", "eager"], seconds=0.1)
    assert [(r.variant, r.ok) for r in rows] == [("compile", False), ("eager", True)]
    assert "no C compiler" in rows[0].note
    assert probe.pick(rows) == {"plain20": "eager"}


def test_pick_takes_the_fastest_correct_variant():
    rows = [
        probe.ProbeRow("a", "graphs", 900.0, ok=False),
        probe.ProbeRow("a", "compile", 300.0, ok=True),
        probe.ProbeRow("a", "eager", 400.0, ok=True),
        probe.ProbeRow("b", "graphs", 50.0, ok=False),
        probe.ProbeRow("c", "bf16", 4.1, ok=True),
        probe.ProbeRow("c", "eager", 2.6, ok=True),
        probe.ProbeRow("d", "bf16", 1.9, ok=True),  # emulated bf16: correct, but slower than fp32
        probe.ProbeRow("d", "eager", 2.6, ok=True),
    ]
    assert probe.pick(rows) == {"a": "eager", "b": "eager", "c": "bf16", "d": "eager"}  # b: none correct


@pytest.mark.slow
def test_probing_a_resumed_run_leaves_its_momentum_untouched_and_eager_agrees_exactly(small):
    run = _run("resnet20", small, SMALL)
    for x, y in run.make_loader().batches(3):  # a run under way: SGD has momentum buffers now
        run.advance(run.step, x, y)
    momentum = [s["momentum_buffer"].clone() for s in run.opt.state.values()]
    weights = {k: v.clone() for k, v in run.model.state_dict().items()}
    rows = probe.probe([run], ["eager"], seconds=0.1)
    assert all(torch.equal(m, s["momentum_buffer"]) for m, s in zip(momentum, run.opt.state.values(), strict=True))
    assert all(torch.equal(weights[k], v) for k, v in run.model.state_dict().items()) and run.iteration == 3
    (eager,) = rows
    assert eager.ok and eager.loss_gap == 0 and eager.update_gap == 0  # the copies start from the same state
