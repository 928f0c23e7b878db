"""Run profiles (``smoke | cpu | gpu``) and device choice.

A profile sets *sizes* (iterations, subset sizes, which models), never
semantics: the recipe, the models and the code paths are the same in every
profile. Choose one with the environment variable ``COURSE_PROFILE``; the
default is ``gpu`` when CUDA is available, else ``cpu``. pytest forces
``smoke`` (see ``conftest.py``).

    >>> p = get_profile("smoke")
    >>> p.name, p.iterations
    ('smoke', 30)
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, replace

import torch

__all__ = [
    "Profile",
    "get_device",
    "profile_name",
    "get_profile",
    "seed_everything",
    "PROFILES",
    "ENV_VAR",
]

PROFILES = ("smoke", "cpu", "gpu")
ENV_VAR = "COURSE_PROFILE"


@dataclass(frozen=True)
class Profile:
    """The sizes of one run profile.

    ``None`` in a size field means "everything" (the whole training set or
    the full 10,000-image test set). The paper fixed its schedule on a 45k/5k
    split, then trained the models it reports on all 50k training images: the
    gpu profile does the same (``train_set="all"``); cpu and smoke keep the split.
    """

    name: str
    device: torch.device
    iterations: int  # fig6 iterations per run (the paper: 64,000)
    eval_every: int  # iterations between two test-error evaluations
    test_subset: int | None  # test images per evaluation (None = all 10,000)
    train_subset: int | None  # training images used (None = the whole training set)
    train_set: str  # "split": the 45k part of the 45k/5k split; "all": all 50k (the paper's reported models)
    models: tuple[str, ...]  # the fig6 default set
    live_iterations: int  # length of the short live runs inside notebooks
    synthetic_ok: bool  # may fall back to synthetic data when none is found
    download_ok: bool  # may download CIFAR-10 through torchvision

    def with_device(self, device: str | torch.device) -> Profile:
        """Return a copy of this profile on another device."""
        return replace(self, device=torch.device(device))


def get_device(prefer: str | None = None) -> torch.device:
    """The best available device: ``cuda``, then ``mps``, then ``cpu``.

    ``prefer`` (or the ``COURSE_DEVICE`` variable) forces one, e.g. ``"cpu"``;
    ``"auto"`` means no preference.
    """
    prefer = prefer or os.environ.get("COURSE_DEVICE") or "auto"
    if prefer != "auto":
        dev = torch.device(prefer)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {prefer!r} asked for, but CUDA is not available; use 'cpu' or 'auto'")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _sizes(name: str, device: torch.device) -> Profile:
    if name == "smoke":  # seconds: what pytest and CI run
        return Profile(
            name,
            device,
            iterations=30,
            eval_every=10,
            test_subset=256,
            train_subset=1024,
            train_set="split",
            models=("plain20", "resnet20"),
            live_iterations=20,
            synthetic_ok=True,
            download_ok=False,
        )
    if name == "cpu":  # minutes on a 2-core laptop CPU; the fig6 set (4 nets x 800 its): ~20-23 min on 2 idle cores
        return Profile(
            name,
            device,
            iterations=800,
            eval_every=100,
            test_subset=2000,
            train_subset=None,
            train_set="split",
            models=("plain20", "plain56", "resnet20", "resnet56"),  # the paper's Fig. 6 (fig6_set.FIG6_NETS)
            live_iterations=200,
            synthetic_ok=False,
            download_ok=True,
        )
    # gpu: the paper's full schedule
    return Profile(
        name,
        device,
        iterations=64_000,
        eval_every=391,  # once per epoch of 50k images, as the public curves record
        test_subset=None,
        train_subset=None,
        train_set="all",
        models=("plain20", "plain56", "resnet20", "resnet56", "resnet18_cifar"),  # and the CIFAR ResNet-18
        live_iterations=2_000,
        synthetic_ok=False,
        download_ok=True,
    )


def profile_name(name: str | None = None) -> str:
    """Resolve the profile name from ``name``, ``$COURSE_PROFILE`` or the hardware."""
    raw = name if name is not None else os.environ.get(ENV_VAR, "")
    raw = raw.strip().lower()
    if not raw:
        return "gpu" if torch.cuda.is_available() else "cpu"
    if raw not in PROFILES:
        raise ValueError(
            f"unknown profile {raw!r} (from {'argument' if name is not None else ENV_VAR}); "
            f"choose one of: {', '.join(PROFILES)}"
        )
    return raw


def get_profile(name: str | None = None, device: str | None = None) -> Profile:
    """The sizes and device for profile ``name`` (default: ``$COURSE_PROFILE``)."""
    return _sizes(profile_name(name), get_device(device))


def seed_everything(seed: int = 0, deterministic: bool = False) -> None:
    """Seed Python, torch (CPU and CUDA); optionally force deterministic kernels."""
    random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
