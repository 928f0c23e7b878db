"""pytest runs everything in the ``smoke`` profile, on the CPU.

Set before any test or notebook kernel starts: nbval's kernels inherit this
process's environment, so notebooks executed by ``pytest`` see it too.
Tests marked ``gpu`` exercise the CUDA path (``pytest -m gpu`` on a GPU machine);
they pass their device explicitly and are skipped where CUDA is absent.
Every notebook is marked ``slow``, with the subprocess runs and the minutes of training:
``pytest -m "not slow"`` is the inner loop, ``pytest`` runs everything.
"""

import os
from pathlib import Path

import pytest

os.environ["COURSE_PROFILE"] = "smoke"
# the same behaviour on a GPU machine: only tests marked gpu touch CUDA
os.environ["COURSE_DEVICE"] = "cpu"
os.environ.setdefault("MPLBACKEND", "Agg")
# idle OpenMP threads sleep instead of spinning: on 2 shared cores spinning
# threads crowd out the real work (measured 4x slower test runs)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# a widget progress bar needs a live front end; in tests, plain text is enough
os.environ.setdefault("TQDM_DISABLE", "0")


@pytest.fixture(scope="module")
def one_thread():
    """For tests of tiny tensors: one intra-op thread is faster, above all on a busy shared CPU."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"


def pytest_collection_modifyitems(config, items):
    """Mark every notebook cell nbval collects ``slow``; without CUDA, skip the tests marked ``gpu``."""
    import torch

    for item in items:
        if NOTEBOOKS in item.path.resolve().parents or type(item).__module__.startswith("nbval"):
            item.add_marker(pytest.mark.slow)
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (run `pytest -m gpu` on a GPU machine)")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)
