"""The graph step, tested on a CPU through a capture factory with a graph's semantics
(``tests.fakes.EmulatedGraphs``: nothing runs at capture, a replay runs the step with the lr baked in at
capture): warm-up leaves no trace, captures happen at the start and at each lr milestone only,
a replay adds its loss and error sums exactly once, and across milestones the graph trains
exactly as eager does. The real CUDA graph is checked against eager on a GPU."""

import copy

import pytest
import torch
import torch.nn.functional as F

from course_utils import data as cdata
from course_utils import graphs, models
from course_utils.budget import Budget
from course_utils.profile import seed_everything
from course_utils.schedule import Schedule
from course_utils.train import TrainRun
from tests.fakes import EmulatedGraphs

SCHED = Schedule().scaled(6)  # lr 0.1, then 0.01 from step 3, 0.001 from step 4: two milestones inside
BUDGET = Budget(eval_every=2, test_subset=40, checkpoint_seconds=None)


@pytest.fixture(scope="module")
def small():
    return cdata.synthetic_cifar10(n_train=400, n_test=60)


def _run(data, schedule=SCHED, name="resnet20", device="cpu") -> TrainRun:
    seed_everything(0, deterministic=True)
    return TrainRun(models.get_model(name), data, schedule, name=name, budget=BUDGET, device=device, deterministic=True)


def _same_weights(a: TrainRun, b: TrainRun) -> bool:
    return all(
        torch.equal(u, v) for u, v in zip(a.model.state_dict().values(), b.model.state_dict().values(), strict=True)
    )


@pytest.mark.slow
def test_warm_up_leaves_no_trace(small):
    # what a capture does first: eager steps on the capture stream, then everything put back
    a, b = _run(small), _run(small)
    x, y = next(a.make_loader().batches(1))
    bn_before = b.model.bn1.running_mean.clone()
    graphs.warm_up(b, x, y, steps=3)
    assert b.opt.state  # the momentum buffers now exist ...
    assert torch.equal(b.model.bn1.running_mean, bn_before)  # ... the BN statistics are untouched
    for run in (a, b):
        run.set_lr()
        run.step(x, y)
    assert _same_weights(a, b)
    assert torch.equal(a.loss_sum, b.loss_sum) and torch.equal(a.wrong, b.wrong)


def _train_both(small, graph_step_cls=graphs.GraphStep):
    eager, graph = _run(small), _run(small)
    loader = eager.make_loader()
    batches = list(loader.batches(SCHED.iterations))
    x0, y0 = batches[0]
    factory = EmulatedGraphs()
    step = graph_step_cls(graph, x0, y0, graphs=factory)
    for x, y in batches:
        eager.advance(eager.step, x, y)
        graph.advance(step, x, y)
    return eager, graph, step, factory


@pytest.mark.slow
def test_graph_step_trains_exactly_as_eager_across_the_lr_milestones(small):
    eager, graph, step, factory = _train_both(small)
    assert graph.history == eager.history  # the same floats: losses, errors, test errors, lr
    assert graph.history["lr"] == pytest.approx([0.1, 0.01, 0.001])
    assert _same_weights(eager, graph)
    assert step.captures == factory.captured == 3  # the first step, then once per milestone (3 and 4)


@pytest.mark.slow
def test_a_graph_that_is_not_captured_again_keeps_the_old_lr(small):
    class NoRecapture(graphs.GraphStep):  # the bug the milestone re-capture prevents
        def __call__(self, x, y):
            if self.replay is None:
                self.capture()
            self.static_x.copy_(x)
            self.static_y.copy_(y)
            self.replay()
            return self.static_loss

    eager, graph, step, _ = _train_both(small, NoRecapture)
    assert step.captures == 1
    assert graph.history["lr"] == eager.history["lr"]  # param_groups say the new lr ...
    assert not _same_weights(eager, graph)  # ... but the graph kept stepping at 0.1


@pytest.mark.slow
def test_each_replay_adds_its_loss_and_errors_exactly_once(small):
    frozen = Schedule(lr=0.0, iterations=4)  # lr 0: the weights stay, so every forward pass is predictable
    run = _run(small, frozen)
    reference = copy.deepcopy(run.model)  # train mode: BN uses the batch's statistics, as the step does
    batches = list(run.make_loader().batches(4))
    step = graphs.GraphStep(run, *batches[0], graphs=EmulatedGraphs())
    run.set_lr()
    want_loss, want_wrong = 0.0, 0
    for x, y in batches:
        step(x, y)
        with torch.no_grad():
            logits = reference(x)
        want_loss += float(F.cross_entropy(logits, y))
        want_wrong += int((logits.argmax(1) != y).sum())
    assert int(run.wrong) == want_wrong and want_wrong > 0
    assert float(run.loss_sum) == pytest.approx(want_loss, rel=1e-5)
    assert step.captures == 1


def test_a_graph_needs_cuda_or_a_factory(small):
    run = _run(small)
    x, y = next(run.make_loader().batches(1))
    with pytest.raises(RuntimeError, match="CUDA graphs need a CUDA device"):
        graphs.GraphStep(run, x, y)


@pytest.mark.gpu
def test_cuda_graph_equals_eager_across_milestones_and_captures_on_its_own_stream(small):
    runs = {v: _run(small, device="cuda") for v in ("eager", "graphs")}
    batches = list(runs["eager"].make_loader().batches(SCHED.iterations))
    steps = {"eager": runs["eager"].step, "graphs": graphs.GraphStep(runs["graphs"], *batches[0])}
    other = graphs.GraphStep(_run(small, device="cuda"), *batches[0])
    assert steps["graphs"].graphs.stream != other.graphs.stream  # no shared capture stream (cuBLAS workspace)
    for x, y in batches:
        for v, r in runs.items():
            r.advance(steps[v], x, y)
    torch.cuda.synchronize()
    assert steps["graphs"].captures == 3
    h = {v: r.history for v, r in runs.items()}
    assert h["graphs"]["lr"] == h["eager"]["lr"]
    assert h["graphs"]["train_loss"] == pytest.approx(h["eager"]["train_loss"], rel=0.03, abs=0.03)  # bf16
    start = _run(small, device="cuda")
    move = {
        v: torch.cat([(p - q).flatten() for p, q in zip(r.model.parameters(), start.model.parameters(), strict=True)])
        for v, r in runs.items()
    }
    assert float((move["graphs"] - move["eager"]).norm() / move["eager"].norm()) < 0.1  # the same updates
