"""Checkpoints: atomic, weights-only, and refusing a checkpoint of another run."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from course_utils import data as cdata
from course_utils.budget import Budget
from course_utils.checkpoint import CKPT_FORMAT, CheckpointError, load_checkpoint, save_checkpoint
from course_utils.profile import seed_everything
from course_utils.schedule import Schedule
from course_utils.train import TrainRun
from tests.test_train import TinyNet

# Written by the code of the course's previous edition (before fig6 became one loop): a run's training state at
# iteration 4 of 8 (tiny-s0.pt, its sidecar tiny-s0.json), and the same run trained without a stop (its history
# and final weights).
EDITION_1 = Path(__file__).parent / "fixtures" / "state-v1"


def test_checkpoint_is_atomic_and_weights_only(tmp_path):
    path = tmp_path / "sub" / "c.pt"
    save_checkpoint(path, {"x": torch.arange(3), "meta": {"a": [1, 2.5, None, "s"]}})
    assert [p.name for p in path.parent.iterdir()] == ["c.pt"]  # the temp file was renamed away
    assert torch.load(path, weights_only=True)["meta"]["a"] == [1, 2.5, None, "s"]


def test_load_checks_format_and_identity(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"format": CKPT_FORMAT, "meta": {"name": "resnet20", "seed": 0}})
    assert load_checkpoint(path, expect={"name": "resnet20"})["meta"]["seed"] == 0
    with pytest.raises(CheckpointError, match="seed: checkpoint has 0, this run has 1"):
        load_checkpoint(path, expect={"seed": 1})
    save_checkpoint(path, {"format": CKPT_FORMAT + 1, "meta": {}})
    with pytest.raises(CheckpointError, match=r"not a course_utils\.train checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize("damage", [b"not a checkpoint", b""])
def test_unreadable_checkpoint_names_the_file_and_what_to_do(tmp_path, damage):
    path = tmp_path / "c.pt"
    path.write_bytes(damage)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and "Delete it" in str(err.value)


def test_a_state_written_by_the_previous_edition_resumes_and_ends_where_that_edition_would_have(tmp_path):
    shutil.copytree(EDITION_1, tmp_path / "state")
    data = cdata.synthetic_cifar10(n_train=600, n_test=100, seed=1)
    seed_everything(0, deterministic=True)
    run = TrainRun(TinyNet(), data, Schedule(batch_size=32, iterations=8, milestones=(4, 6)), name="tiny",
                   budget=Budget(eval_every=2, test_subset=64, checkpoint_seconds=None), device="cpu",
                   deterministic=True, checkpoint=tmp_path / "state" / "tiny-s0.pt")  # fmt: skip
    assert run.iteration == 4 and run.history["iteration"] == [2, 4]
    run.feed()  # at the position the previous edition saved
    for x, y in run.loader.batches(run.remaining):
        run.advance(run.step, x, y)
    want = json.loads((EDITION_1 / "uninterrupted.json").read_text())
    # the same iterations, lrs and variant; the numbers equal up to float rounding: on the machine that wrote the
    # fixture they are equal bit for bit, and another processor's fp32 kernels may round the last bits differently
    for k in ("iteration", "lr", "variant"):
        assert run.history[k] == want[k], k
    for k in ("train_error", "test_error", "train_loss"):
        assert run.history[k] == pytest.approx(want[k], rel=1e-4, abs=1e-6), k
    weights = torch.load(EDITION_1 / "uninterrupted-weights.pt", weights_only=True)
    assert all(torch.allclose(v, weights[k], rtol=1e-4, atol=1e-6) for k, v in run.model.state_dict().items())
