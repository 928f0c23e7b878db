"""Training engine: the schedule, evaluation helpers, the loop, checkpoints, resume, NaN stop.

All runs here use a tiny conv net and synthetic data on the CPU in deterministic mode; the
real CIFAR nets and the command line are exercised in test_experiments.py.
"""
import math

import pytest
import torch
from torch import nn

from course_utils import data as cdata
from course_utils import train
from course_utils.profile import seed_everything


class TinyNet(nn.Module):
    """conv-BN-ReLU-pool-fc: a CIFAR classifier small enough for a few-second test."""

    def __init__(self, nan_after: int | None = None, interrupt_after: int | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 10)
        self.calls, self.nan_after, self.interrupt_after = 0, nan_after, interrupt_after

    def forward(self, x):  # (B, 3, 32, 32) -> (B, 10)
        if self.training:
            self.calls += 1
            if self.interrupt_after is not None and self.calls > self.interrupt_after:
                raise KeyboardInterrupt  # stands in for a kill between two steps
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


SCHED = train.Schedule(batch_size=32, iterations=8, milestones=(4, 6))


def _train(net, data, **kw):
    args = dict(seed=0, eval_every=2, eval_images=64, device="cpu", deterministic=True, progress=False, name="tiny")
    return train.train_model(net, data, SCHED, **(args | kw))


# --- schedule ---------------------------------------------------------------------

def test_paper_schedule_lr_at_each_milestone():
    s = train.paper_schedule("resnet56")
    assert (s.lr, s.momentum, s.weight_decay, s.batch_size, s.iterations) == (0.1, 0.9, 1e-4, 128, 64_000)
    assert s.milestones == (32_000, 48_000) and s.warmup_iterations == 0
    expect = {0: 0.1, 31_999: 0.1, 32_000: 0.01, 47_999: 0.01, 48_000: 0.001, 63_999: 0.001}
    for it, lr in expect.items():
        assert math.isclose(s.lr_at(it), lr, rel_tol=1e-12), it


@pytest.mark.parametrize("name", ["resnet110", "plain110", "preact_resnet110", "resnet1202"])
def test_warmup_for_depth_110_and_more(name):
    s = train.paper_schedule(name)
    assert s.warmup_iterations == 400 and s.warmup_lr == 0.01
    assert s.lr_at(0) == s.lr_at(399) == 0.01 and s.lr_at(400) == 0.1
    assert math.isclose(s.lr_at(32_000), 0.01)


def test_scaled_schedule_moves_milestones_proportionally():
    s = train.paper_schedule("resnet110").scaled(800)
    assert s.iterations == 800 and s.milestones == (400, 600) and s.warmup_iterations == 5
    assert s.lr_at(4) == 0.01 and s.lr_at(5) == 0.1 and math.isclose(s.lr_at(600), 0.001)
    assert train.Schedule().scaled(64_000) == train.Schedule()


def test_recipes_are_data():
    r18 = train.recipe_for("resnet18_cifar")
    assert r18 == train.RECIPES["resnet18_cifar"] and r18.weight_decay == 5e-4
    assert train.recipe_for("plain56") == train.RECIPES["paper"]
    assert train.Schedule.from_dict(r18.to_dict()) == r18
    with pytest.raises(ValueError):
        train.Schedule(milestones=(48_000, 32_000))


# --- evaluation helpers ----------------------------------------------------------------

def test_confusion_matrix_and_per_class_error():
    preds = torch.tensor([0, 0, 1, 2, 2, 2])
    labels = torch.tensor([0, 1, 1, 2, 2, 0])
    cm = train.confusion_matrix(preds, labels, num_classes=3)
    assert cm.tolist() == [[1, 0, 1], [1, 1, 0], [0, 0, 2]]  # rows = true class
    assert torch.allclose(train.per_class_error(cm), torch.tensor([50.0, 50.0, 0.0], dtype=torch.float64))


def test_evaluate_matches_predict_and_keeps_mode(tiny_data):
    net = _net().train()
    norm = cdata.Normalizer("per_channel")
    x, y = tiny_data.test_images, tiny_data.test_labels
    err = train.evaluate(net, x, y, normalizer=norm, batch_size=30, device="cpu")
    assert net.training  # restored
    net.eval()
    with torch.no_grad():
        direct = 100.0 * (net(norm(x)).argmax(1) != y).sum().item() / len(y)
    logits = train.predict(net, x, normalizer=norm, batch_size=64)
    assert logits.shape == (len(y), 10)
    assert math.isclose(err, direct, abs_tol=1e-9)
    assert math.isclose(err, 100.0 * (logits.argmax(1) != y).sum().item() / len(y), abs_tol=1e-9)


# --- the loop -------------------------------------------------------------------

def test_history_follows_the_results_contract(tiny_data):
    r = _train(_net(), tiny_data)
    h = r["history"]
    assert h["iteration"] == [2, 4, 6, 8]
    assert [round(v, 6) for v in h["lr"]] == [0.1, 0.1, 0.01, 0.001]  # the lr of the last step before each record
    assert all(0 <= e <= 100 for e in h["train_error"] + h["test_error"])
    assert r["eval_images"] == 64 and r["train_images"] == 540  # 90% of 600: the train part of the split
    for key in ("model", "params", "seed", "schedule", "data_source", "device", "torch_version", "wall_seconds"):
        assert key in r
    assert r["params"] == sum(p.numel() for p in TinyNet().parameters())
    assert r["schedule"]["milestones"] == [4, 6] and r["device"] == "cpu"


def test_train_error_is_the_running_mean_since_the_last_record(tiny_data):
    # eval_every = 1 gives the error of every single minibatch; eval_every = 2 must be their mean
    one = _train(_net(), tiny_data, eval_every=1)["history"]["train_error"]
    two = _train(_net(), tiny_data, eval_every=2)["history"]["train_error"]
    pairs = [(one[i] + one[i + 1]) / 2 for i in range(0, 8, 2)]
    assert two == pytest.approx(pairs, abs=1e-9)


def test_progress_bar_shows_loss_error_and_lr(tiny_data, capsys):
    train.train_model(_net(), tiny_data, train.Schedule(batch_size=32, iterations=40, milestones=(20, 30)),
                      eval_every=20, eval_images=32, device="cpu", progress=True, name="tiny")
    err = capsys.readouterr().err
    assert "tiny" in err and "40/40" in err and "loss=" in err and "err=" in err and "lr=0.001" in err


def test_split_and_subsets_are_fixed(tiny_data):
    a = train.split_data(tiny_data, train_images=100, eval_images=50)
    b = train.split_data(tiny_data, train_images=100, eval_images=50)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert len(a[1]) == 100 and len(a[3]) == 50
    assert len(torch.unique(a[3])) > 3  # a spread subset, not the first class only


# --- checkpoints, resume, faults ---------------------------------------------------------

def test_resume_after_interrupt_is_bitwise_equal(tiny_data, tmp_path):
    full = _train(_net(), tiny_data)
    ck = tmp_path / "ck.pt"
    with pytest.raises(KeyboardInterrupt):
        _train(_net(interrupt_after=5), tiny_data, checkpoint=ck, checkpoint_every=2)  # dies in step 6
    state = train.load_checkpoint(ck)
    assert state["iteration"] == 4
    net = _net()
    resumed = _train(net, tiny_data, checkpoint=ck, checkpoint_every=2)
    assert resumed["history"] == full["history"]
    final = torch.load(ck, weights_only=True)
    assert final["iteration"] == 8
    ref = _net()
    _train(ref, tiny_data)
    for (k, a), b in zip(ref.state_dict().items(), net.state_dict().values()):
        assert torch.equal(a, b), k


def test_checkpoint_is_atomic_and_weights_only(tmp_path):
    path = tmp_path / "sub" / "c.pt"
    train.save_checkpoint(path, {"x": torch.arange(3), "meta": {"a": [1, 2.5, None, "s"]}})
    assert [p.name for p in path.parent.iterdir()] == ["c.pt"]  # the temp file was renamed away
    assert torch.load(path, weights_only=True)["meta"]["a"] == [1, 2.5, None, "s"]


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_checkpoint_raises_and_names_the_file(tiny_data, tmp_path, damage):
    ck = tmp_path / "ck.pt"
    _train(_net(), tiny_data, checkpoint=ck, checkpoint_every=4)
    raw = ck.read_bytes()
    ck.write_bytes(b"not a checkpoint" if damage == "garbage" else raw[: len(raw) // 2])
    with pytest.raises(train.CheckpointError) as err:
        _train(_net(), tiny_data, checkpoint=ck)
    assert str(ck) in str(err.value) and "Delete it" in str(err.value)


def test_mismatched_checkpoint_raises(tiny_data, tmp_path):
    ck = tmp_path / "ck.pt"
    _train(_net(), tiny_data, checkpoint=ck, checkpoint_every=4)
    other = train.Schedule(batch_size=32, iterations=10, milestones=(5, 7))
    with pytest.raises(train.CheckpointError, match="schedule") as err:
        train.train_model(_net(), tiny_data, other, eval_every=2, eval_images=64, device="cpu",
                          progress=False, name="tiny", checkpoint=ck)
    assert str(ck) in str(err.value)
    with pytest.raises(train.CheckpointError, match="name"):
        _train(_net(), tiny_data, checkpoint=ck, name="another")


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_data, tmp_path):
    ck = tmp_path / "ck.pt"
    with pytest.raises(FloatingPointError) as err:
        _train(_net(nan_after=5), tiny_data, checkpoint=ck, checkpoint_every=2)
    assert isinstance(err.value, train.NonFiniteLossError) and "iteration 6" in str(err.value)
    state = train.load_checkpoint(ck)
    assert state["iteration"] == 4
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
