"""Profiles: parsing, defaults, errors and device choice; and what the course's conftest.py does to a pytest run."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_utils import fig6_set, profile

pytest_plugins = ["pytester"]  # a pytest run of its own, under the course's conftest.py
ROOT = Path(__file__).resolve().parents[1]


def test_pytest_forces_smoke():
    # conftest.py sets it for every test and every nbval kernel
    assert profile.get_profile().name == "smoke"


@pytest.mark.parametrize("name", profile.PROFILES)
def test_each_profile_parses(name, monkeypatch):
    monkeypatch.setenv(profile.ENV_VAR, name.upper() + " ")  # case and spaces forgiven
    p = profile.get_profile()
    assert p.name == name
    assert set(p.models) <= set((*fig6_set.FIG6_NETS, fig6_set.EXTRA_NET))
    assert 0 < p.eval_every <= p.iterations


def test_conftest_skips_the_gpu_marker_not_the_word_and_puts_notebooks_in_the_slow_tier(pytester):
    # the course's conftest.py in a project of its own: a case named "gpu" is not a gpu test, a test marked
    # gpu is skipped without CUDA, and whatever sits in notebooks/ (nbval's notebooks; here a stand-in) is slow
    pytester.makeconftest((ROOT / "conftest.py").read_text(encoding="utf-8"))
    pytester.makeini("[pytest]\nmarkers =\n    gpu\n    slow\n")
    pytester.makepyfile(
        test_units="""
        import pytest

        @pytest.mark.parametrize("name", ["gpu", "cpu"])
        def test_named(name):
            pass

        @pytest.mark.gpu
        def test_on_cuda():
            pass
        """
    )
    (pytester.path / "notebooks").mkdir()
    (pytester.path / "notebooks" / "test_cells.py").write_text("def test_cell():\n    pass\n", encoding="utf-8")
    cuda = torch.cuda.is_available()
    fast = pytester.runpytest("-v", "-m", "not slow", "-p", "no:cacheprovider", "-p", "no:nbval")
    fast.assert_outcomes(passed=3 if cuda else 2, skipped=0 if cuda else 1, deselected=1)
    fast.stdout.fnmatch_lines(["*test_named?gpu? PASSED*"])
    slow = pytester.runpytest("-v", "-m", "slow", "-p", "no:cacheprovider", "-p", "no:nbval")
    slow.assert_outcomes(passed=1, deselected=3)
    slow.stdout.fnmatch_lines(["*notebooks/test_cells.py::test_cell PASSED*"])


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
