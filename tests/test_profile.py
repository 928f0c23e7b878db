"""Profiles: parsing, defaults, errors and device choice."""

import subprocess
import sys

import pytest
import torch

from course_utils import fig6_set, profile


def test_pytest_forces_smoke():
    # conftest.py sets it for every test and every nbval kernel
    assert profile.get_profile().name == "smoke"


# ids "profile-<name>": a bare "gpu" id is a keyword that conftest's CUDA skip (`"gpu" in item.keywords`)
# mistakes for the gpu marker, which silently skipped the gpu profile's case on CPU machines
@pytest.mark.parametrize("name", profile.PROFILES, ids=lambda n: f"profile-{n}")
def test_each_profile_parses(name, monkeypatch):
    monkeypatch.setenv(profile.ENV_VAR, name.upper() + " ")  # case and spaces forgiven
    p = profile.get_profile()
    assert p.name == name
    assert set(p.models) <= set((*fig6_set.FIG6_NETS, fig6_set.EXTRA_NET))
    assert 0 < p.eval_every <= p.iterations


def test_unknown_profile_lists_the_three(monkeypatch):
    monkeypatch.setenv(profile.ENV_VAR, "fast")
    with pytest.raises(ValueError) as err:
        profile.get_profile()
    msg = str(err.value)
    assert "'fast'" in msg and all(n in msg for n in profile.PROFILES)


def test_default_follows_cuda(monkeypatch):
    monkeypatch.delenv(profile.ENV_VAR, raising=False)
    expected = "gpu" if torch.cuda.is_available() else "cpu"
    assert profile.get_profile().name == expected
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert profile.profile_name() == "gpu"


def test_budgets_grow_with_profile():
    smoke, cpu, gpu = (profile.get_profile(n) for n in profile.PROFILES)
    assert smoke.iterations < cpu.iterations < gpu.iterations == 64_000  # the paper's length
    assert gpu.test_subset is None and gpu.train_subset is None  # full data on the GPU
    assert smoke.test_subset < cpu.test_subset < 10_000 and smoke.train_subset < 45_000
    # the paper fixed its recipe on the 45k/5k split, then reported models trained on all 50k
    assert (smoke.train_set, cpu.train_set, gpu.train_set) == ("split", "split", "all")
    assert not any(hasattr(p, old) for p in (smoke, cpu, gpu) for old in ("eval_images", "train_images"))
    assert gpu.models == (*fig6_set.FIG6_NETS, fig6_set.EXTRA_NET)
    assert smoke.synthetic_ok and not cpu.synthetic_ok and not gpu.synthetic_ok
    assert not smoke.download_ok


def test_device_choice(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    assert profile.get_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert profile.get_device().type in ("cpu", "mps")
        with pytest.raises(ValueError, match="CUDA is not available"):
            profile.get_device("cuda")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert profile.get_profile("gpu").device == torch.device("cpu")


@pytest.mark.slow
def test_nbval_kernels_inherit_smoke():
    # a child process (as nbval's kernel is) sees the profile conftest set
    out = subprocess.run(
        [sys.executable, "-c", "from course_utils.profile import get_profile; print(get_profile().name)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "smoke"


def test_seed_everything_repeats():
    profile.seed_everything(3)
    a = torch.randn(4)
    profile.seed_everything(3)
    assert torch.equal(a, torch.randn(4))
