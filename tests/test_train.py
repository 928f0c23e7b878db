"""The training loop: the recipe it really applies, the history, checkpoints, resume, NaN stop.

The recipe tests check the optimizer and data the engine actually uses against an independent
computation (autograd gradients and the SGD formula written out; the per-pixel mean by hand),
so that removing weight decay or momentum, freezing the lr or switching the normalisation
fails here. Runs use a tiny conv net and synthetic data on the CPU in deterministic mode.
"""

import copy
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import cpu, train
from course_utils import data as cdata
from course_utils.budget import Budget
from course_utils.checkpoint import CheckpointError, load_checkpoint, run_state, save_checkpoint
from course_utils.profile import seed_everything
from course_utils.schedule import Schedule


class TinyNet(nn.Module):
    """conv-BN-ReLU-pool-fc: a CIFAR classifier small enough for a few-second test."""

    def __init__(self, nan_after: int | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 10)
        self.calls, self.nan_after = 0, nan_after

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, 32, 32) -> (B, 10)
        if self.training:
            self.calls += 1
        out = self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))
        if self.training and self.nan_after is not None and self.calls > self.nan_after:
            out = out * float("nan")
        return out


@pytest.fixture(scope="module")
def tiny_data():
    return cdata.synthetic_cifar10(n_train=600, n_test=100, seed=1)


def _net(**kw) -> TinyNet:
    seed_everything(0, deterministic=True)
    return TinyNet(**kw)


SCHED = Schedule(batch_size=32, iterations=8, milestones=(4, 6))
BUDGET = Budget(eval_every=2, test_subset=64, checkpoint_seconds=None)


def _train(net, data, budget=BUDGET, **kw):
    args = dict(seed=0, device="cpu", deterministic=True, progress=False, name="tiny")
    return train.train_model(net, data, SCHED, budget=budget, **(args | kw))


# --- the recipe the engine really applies ---------------------------------------------


def _grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """Gradients of the mean cross-entropy, by autograd on an independent copy of the model."""
    twin = copy.deepcopy(model).train()
    return list(torch.autograd.grad(F.cross_entropy(twin(x), y), list(twin.parameters())))


def test_two_sgd_steps_equal_the_paper_formula(tiny_data):
    # He et al. 2015: SGD, lr 0.1, momentum 0.9, weight decay 1e-4 on every weight. Written out:
    #   buf_1 = g_1 + wd * p_0,  buf_2 = 0.9 * buf_1 + g_2 + wd * p_1,  p_k = p_{k-1} - lr * buf_k
    run = train.TrainRun(_net(), tiny_data, SCHED, budget=BUDGET, device="cpu", deterministic=True)
    loader = run.feed()
    batches = list(loader.batches(2))
    params = list(run.model.parameters())
    p0 = [p.detach().clone() for p in params]
    g1 = _grads(run.model, *batches[0])
    run.advance(run.step, *batches[0])
    p1 = [p.detach().clone() for p in params]
    buf1 = [g + 1e-4 * p for g, p in zip(g1, p0, strict=True)]
    for got, before, b in zip(p1, p0, buf1, strict=True):
        torch.testing.assert_close(got, before - 0.1 * b, rtol=0, atol=1e-6)
    g2 = _grads(run.model, *batches[1])
    run.advance(run.step, *batches[1])
    for p, before, b, g in zip(params, p1, buf1, g2, strict=True):
        torch.testing.assert_close(p.detach(), before - 0.1 * (0.9 * b + g + 1e-4 * before), rtol=0, atol=1e-6)


def test_the_lr_the_optimizer_used_follows_the_milestones(tiny_data):
    run = train.TrainRun(
        _net(),
        tiny_data,
        SCHED,
        budget=Budget(eval_every=1, test_subset=16, checkpoint_seconds=None),
        device="cpu",
    )
    loader = run.feed()
    used = []
    for x, y in loader.batches(SCHED.iterations):
        run.advance(run.step, x, y)
        used.append(run.opt.param_groups[0]["lr"])
    assert used == pytest.approx([0.1] * 4 + [0.01] * 2 + [0.001] * 2, rel=1e-12)
    assert run.history["lr"] == pytest.approx(used, rel=1e-12)  # recorded from the optimizer


def test_default_normalisation_is_the_per_pixel_mean_of_the_training_images(tiny_data):
    run = train.TrainRun(_net(), tiny_data, SCHED, budget=BUDGET, device="cpu")
    x = run.train_x  # uint8 (N, 3, 32, 32): the images it trains on
    by_hand = x.double().mean(0) / 255  # (3, 32, 32): one mean per pixel and channel, no std
    imgs = tiny_data.test_images[:5]
    torch.testing.assert_close(run.normalizer(imgs), (imgs.double() / 255 - by_hand).float(), rtol=0, atol=1e-6)
    assert run.result()["normalization"] == "per_pixel"
    assert run.make_loader().normalizer is run.normalizer  # the batches are normalised with it too


def test_training_batches_are_random_crops_and_flips_of_their_images(tiny_data):
    # The paper's augmentation: pad 4 (zeros), a random 32x32 crop, a horizontal flip with probability 1/2.
    # Each image of a training batch must be one of the 81 x 2 views of its source image (found by brute
    # force here), and over a batch both flips and many offsets must occur.
    run = train.TrainRun(_net(), tiny_data, SCHED, budget=BUDGET, device="cpu")
    loader = run.feed()
    x, _ = next(loader.batches(1))
    src = run.train_x[loader.perm[: len(x)]]  # uint8 (B, 3, 32, 32): the images before augmentation
    padded = F.pad(src, (4, 4, 4, 4))  # black borders, before the mean is subtracted
    views = set()
    for i in range(len(x)):
        found = []
        for dy in range(9):
            for dx in range(9):
                crop = padded[i : i + 1, :, dy : dy + 32, dx : dx + 32]
                for flip in (False, True):
                    view = run.normalizer(crop.flip(-1) if flip else crop)[0]
                    if torch.allclose(x[i], view, atol=1e-6):
                        found.append((dy, dx, flip))
        assert found, f"batch image {i} is no crop/flip of its source image"
        views.add(found[0])
    assert {f for *_, f in views} == {False, True} and len(views) > len(x) // 2  # random, not one fixed view
    assert not torch.allclose(x, run.normalizer(src))  # not the plain images


def test_the_seeded_run_is_pinned(tiny_data):
    # The exact history of this seeded, deterministic CPU run. Any change in the recipe, the data order,
    # the augmentation or the bookkeeping moves these numbers.
    h = _train(_net(), tiny_data)["history"]
    assert h["iteration"] == [2, 4, 6, 8]
    assert h["train_error"] == [82.8125, 87.5, 82.8125, 79.6875]
    assert h["test_error"] == [87.5, 87.5, 87.5, 87.5]
    assert h["lr"] == pytest.approx([0.1, 0.1, 0.01, 0.001], rel=1e-12)
    assert h["train_loss"] == pytest.approx([2.3379002, 2.2941840, 2.2506218, 2.2390351], abs=2e-6)


# --- the history and the data ------------------------------------------------------------


def test_history_follows_the_results_contract(tiny_data):
    r = _train(_net(), tiny_data)
    assert r["n_test_images"] == 64 and r["n_train_images"] == 540  # 90% of 600: the train part of the split
    assert r["train_set"] == "split" and r["device"] == "cpu" and r["schedule"]["milestones"] == [4, 6]
    assert r["params"] == sum(p.numel() for p in TinyNet().parameters())


def test_train_error_is_the_running_mean_since_the_last_record(tiny_data):
    one = _train(_net(), tiny_data, Budget(eval_every=1, test_subset=64))["history"]["train_error"]
    two = _train(_net(), tiny_data)["history"]["train_error"]
    assert two == pytest.approx([(one[i] + one[i + 1]) / 2 for i in range(0, 8, 2)], abs=1e-9)


# --- checkpoints, resume, faults ---------------------------------------------------------


class _Interrupt(Exception):
    pass


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_resume_after_interrupt_is_bitwise_equal(tiny_data, tmp_path, monkeypatch, device):
    # on CUDA: the fast path (GPU-resident data, channels_last, bf16 autocast, fused SGD) in deterministic mode
    kw = dict(device=device, deterministic=device == "cuda")
    ref = _net()
    full = _train(ref, tiny_data, **kw)
    ck, budget = tmp_path / "ck.pt", Budget(eval_every=2, test_subset=64, checkpoint_every=2)
    real_advance = train.TrainRun.advance

    def dies_in_step_6(self, step, x, y):  # a deterministic point of interruption
        if self.iteration == 5:
            raise _Interrupt
        real_advance(self, step, x, y)

    monkeypatch.setattr(train.TrainRun, "advance", dies_in_step_6)
    with pytest.raises(_Interrupt):
        _train(_net(), tiny_data, budget, checkpoint=ck, **kw)
    monkeypatch.undo()
    assert load_checkpoint(ck)["iteration"] == 4
    net = _net()
    resumed = _train(net, tiny_data, budget, checkpoint=ck, **kw)
    assert resumed["history"] == full["history"]
    assert load_checkpoint(ck)["iteration"] == 8
    for (k, a), b in zip(ref.state_dict().items(), net.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_checkpoint_every_minute_of_wall_time(tiny_data, tmp_path, monkeypatch):
    clock = iter(range(0, 10_000, 25))  # each reading of the clock: 25 s later
    monkeypatch.setattr(train.time, "perf_counter", lambda: float(next(clock)))
    ck = tmp_path / "ck.pt"
    run = train.TrainRun(
        _net(), tiny_data, SCHED, budget=Budget(eval_every=8, test_subset=16), device="cpu", checkpoint=ck
    )
    loader = run.feed()
    saves = []
    for x, y in loader.batches(3):
        run.advance(run.step, x, y)
        saves.append(run.saved_at)
    assert saves[-1] > 0 and ck.exists()  # saved by wall time, not by count (checkpoint_every is None)


def test_corrupt_checkpoint_raises_and_names_the_file(tiny_data, tmp_path):
    ck = tmp_path / "ck.pt"
    _train(_net(), tiny_data, checkpoint=ck)
    ck.write_bytes(ck.read_bytes()[:100])
    with pytest.raises(CheckpointError) as err:
        _train(_net(), tiny_data, checkpoint=ck)
    assert str(ck) in str(err.value) and "Delete it" in str(err.value)


def test_mismatched_checkpoint_raises(tiny_data, tmp_path):
    ck = tmp_path / "ck.pt"
    _train(_net(), tiny_data, checkpoint=ck)
    other = Schedule(batch_size=32, iterations=10, milestones=(5, 7))
    with pytest.raises(CheckpointError, match="schedule") as err:
        train.train_model(
            _net(), tiny_data, other, budget=BUDGET, device="cpu", progress=False, name="tiny", checkpoint=ck
        )
    assert str(ck) in str(err.value)
    with pytest.raises(CheckpointError, match="name"):
        _train(_net(), tiny_data, checkpoint=ck, name="another")


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_data, tmp_path):
    ck = tmp_path / "ck.pt"
    with pytest.raises(FloatingPointError) as err:
        _train(_net(nan_after=5), tiny_data, Budget(eval_every=2, test_subset=64, checkpoint_every=2), checkpoint=ck)
    assert isinstance(err.value, train.NonFiniteLossError) and "iteration 6" in str(err.value)
    state = load_checkpoint(ck)
    assert state["iteration"] == 4
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_each_checkpoint_has_a_readable_sidecar_and_a_lost_state_is_never_restarted(tiny_data, tmp_path, monkeypatch):
    ck = tmp_path / "tiny-s0.pt"
    real_advance = train.TrainRun.advance

    def dies_in_step_6(self, step, x, y):
        if self.iteration == 5:
            raise _Interrupt
        real_advance(self, step, x, y)

    monkeypatch.setattr(train.TrainRun, "advance", dies_in_step_6)
    with pytest.raises(_Interrupt):
        _train(_net(), tiny_data, Budget(eval_every=2, test_subset=64, checkpoint_every=2), checkpoint=ck)
    monkeypatch.undo()
    side = json.loads(ck.with_suffix(".json").read_text())  # no torch needed to read how far it is
    assert side["finished"] is False and side["iteration"] == 4 == load_checkpoint(ck)["iteration"]
    assert side["history"]["iteration"] == [2, 4] and side["history"]["device"] == [cpu.label()] * 2
    assert side["history"]["variant"] == ["eager", "eager"] and list(side["wall_by_device"]) == [cpu.label()]
    ck.unlink()  # the training state is lost, its sidecar says the run is under way
    with pytest.raises(CheckpointError, match="is missing") as err:
        _train(_net(), tiny_data, checkpoint=ck)
    assert "4 iterations recorded" in str(err.value) and not ck.exists()  # nothing restarted from 0


def test_a_checkpoint_of_the_first_format_edition_resumes_with_unknown_device_and_variant(tiny_data, tmp_path):
    ck = tmp_path / "ck.pt"
    full = _train(_net(), tiny_data)
    budget = Budget(eval_every=2, test_subset=64, checkpoint_every=2)
    run = train.TrainRun(_net(), tiny_data, SCHED, name="tiny", budget=budget, device="cpu", deterministic=True)
    run.feed()
    for x, y in run.loader.batches(4):
        run.advance(run.step, x, y)
    st = run_state(run)  # as the code before device/variant records wrote it
    for k in ("device", "variant"):
        del st["history"][k]
    del st["wall_by_device"]
    save_checkpoint(ck, st)
    resumed = _train(_net(), tiny_data, budget, checkpoint=ck)
    assert resumed["history"]["device"] == ["unknown", "unknown", cpu.label(), cpu.label()]
    same = ("iteration", "train_error", "test_error", "lr", "train_loss")
    assert {k: resumed["history"][k] for k in same} == {k: full["history"][k] for k in same}  # bit for bit
    assert set(resumed["wall_by_device"]) == {"unknown", cpu.label()}


def test_a_run_resumed_with_another_variant_records_which_variant_trained_each_stretch(tiny_data, tmp_path):
    from course_utils import engine

    ck = tmp_path / "ck.pt"
    budget = Budget(eval_every=2, test_subset=64, checkpoint_every=2)
    for variant, steps in (("eager", 4), ("bf16", 4)):  # one stretch in fp32, the next in bf16
        run = train.TrainRun(_net(), tiny_data, SCHED, name="tiny", budget=budget, device="cpu", checkpoint=ck)
        run.variant, step = variant, engine.make_step(run, variant)
        for x, y in run.feed().batches(steps):
            run.advance(step, x, y)
    assert run.done and run.history["variant"] == ["eager", "eager", "bf16", "bf16"]
    assert run.result()["variant"] == "bf16" and run.history["device"] == [cpu.label()] * 4


def test_a_run_fed_from_a_loader_it_does_not_know_refuses_to_checkpoint(tiny_data, tmp_path):
    run = train.TrainRun(_net(), tiny_data, SCHED, name="tiny", budget=BUDGET, checkpoint=tmp_path / "ck.pt")
    for x, y in run.make_loader().batches(2):  # batches whose position no checkpoint would know
        run.advance(run.step, x, y)
    with pytest.raises(RuntimeError, match=r"run.feed\(\)"):
        run.save()  # a silent checkpoint would resume on other batches
    run.feed()
    run.save()
    assert load_checkpoint(tmp_path / "ck.pt")["loader"] is not None
