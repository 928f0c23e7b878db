"""What a run trains and tests on, and how often it reports: the budget, never the recipe.

The paper fixed its schedule on a 45k/5k split of the training set, then trained the models it
reports on all 50k images: ``Budget.train_set`` picks one ("split" or "all"); fixed subsets
(the same for every run) keep the cpu and smoke profiles small.

    >>> from course_utils import data
    >>> split_data(data.synthetic_cifar10(300, 50), Budget(test_subset=20))
    CIFAR10(train=(270, 3, 32, 32), test=(20, 3, 32, 32), source='synthetic stand-in')
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from course_utils import data as cdata
from course_utils.profile import Profile
from course_utils.transforms import train_val_split

__all__ = ["TRAIN_SETS", "Budget", "split_data", "test_subset_of"]

TRAIN_SETS = ("split", "all")


@dataclass(frozen=True)
class Budget:
    """How much data a run sees and how often it reports: budgets, never the recipe.

    ``train_set``: ``"split"`` trains on the 45k part of the paper's 45k/5k split (how the paper
    fixed its schedule), ``"all"`` on all 50k training images (how it trained the models it
    reports). ``train_subset`` / ``test_subset``: a fixed subset of that many images (None: all).
    Checkpoints are written every ``checkpoint_every`` iterations, every ``checkpoint_seconds``
    of wall time, and at the end.
    """

    eval_every: int = 500
    test_subset: int | None = None
    train_subset: int | None = None
    train_set: str = "split"
    checkpoint_every: int | None = None
    checkpoint_seconds: float | None = 60.0

    def __post_init__(self) -> None:
        if self.train_set not in TRAIN_SETS:
            raise ValueError(f"train_set must be one of {TRAIN_SETS}, got {self.train_set!r}")
        if self.eval_every < 1:
            raise ValueError(f"eval_every must be a positive whole number, got {self.eval_every}")

    @classmethod
    def of(cls, profile: Profile, **overrides: Any) -> Budget:
        """The profile's budgets (eval_every, test/train subsets, train set), with ``overrides``."""
        kw = dict(
            eval_every=profile.eval_every,
            test_subset=profile.test_subset,
            train_subset=profile.train_subset,
            train_set=profile.train_set,
        )
        return cls(**(kw | overrides))


def _fixed_subset(n_total: int, n: int | None, seed: int = 0) -> torch.Tensor | None:
    """A fixed pseudo-random subset of ``n`` indices (sorted), the same for every run; None = all."""
    if n is None or n >= n_total:
        return None
    return torch.randperm(n_total, generator=torch.Generator().manual_seed(seed))[:n].sort().values


def split_data(data: cdata.CIFAR10, budget: Budget = Budget(), val_size: int = 5000) -> cdata.CIFAR10:
    """The images a run uses, as a smaller ``CIFAR10``: the 45k part of the 45k/5k split (``train_set="split"``)
    or all training images (``"all"``), then fixed subsets of train and test as the budget says."""
    train_idx = torch.arange(len(data.train_labels))
    if budget.train_set == "split":
        val_size = min(val_size, len(data.train_labels) // 10)  # small synthetic sets keep 90% for training
        train_idx, _ = train_val_split(data.train_labels, val_size=val_size, seed=0)
    sub = _fixed_subset(len(train_idx), budget.train_subset)
    train_idx = train_idx if sub is None else train_idx[sub]
    test_idx = _fixed_subset(len(data.test_labels), budget.test_subset)
    test_x, test_y = data.test_images, data.test_labels
    if test_idx is not None:
        test_x, test_y = test_x[test_idx], test_y[test_idx]
    return replace(data, train_images=data.train_images[train_idx], train_labels=data.train_labels[train_idx],
                   test_images=test_x, test_labels=test_y)  # fmt: skip


def test_subset_of(test_images: int | str) -> int | None:
    """A test-set size as a user gives it: ``"all"`` -> None (all 10,000 images); a positive count stays."""
    if isinstance(test_images, str) and test_images.strip().lower() == "all":
        return None
    try:
        n = int(test_images)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise ValueError(f"test_images must be a positive count or 'all', got {test_images!r}")
    return n
