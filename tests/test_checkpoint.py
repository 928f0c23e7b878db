"""Checkpoints: atomic, weights-only, and refusing a checkpoint of another run."""

import pytest
import torch

from course_utils.checkpoint import CKPT_FORMAT, CheckpointError, load_checkpoint, save_checkpoint


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
