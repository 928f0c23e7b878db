"""The paper's training schedule as data: SGD hyper-parameters and step lr decay, in iterations.

He et al. 2015 (sec. 4.2) train the CIFAR nets with SGD (momentum 0.9, weight decay
1e-4, batch 128) for 64k iterations, lr 0.1 divided by 10 at 32k and 48k; depth 110
warms up at lr 0.01 first. A :class:`Schedule` holds one such recipe; ``RECIPES`` names
the ones the course uses.

    >>> s = Schedule()
    >>> [s.lr_at(i) for i in (0, 31_999, 32_000, 48_000)]
    [0.1, 0.1, 0.01, 0.001]
    >>> Schedule().scaled(3000).milestones
    (1500, 2250)
    >>> Schedule().prefix(3128).lr_at(3127), Schedule().prefix(3128).milestones
    (0.1, (32000, 48000))
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = ["Schedule", "RECIPES", "paper_schedule", "recipe_for", "model_depth"]


@dataclass(frozen=True)
class Schedule:
    """SGD hyper-parameters and a step lr schedule, counted in iterations (minibatches)."""

    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    milestones: tuple[int, ...] = (32_000, 48_000)  # lr /= 10 at each
    iterations: int = 64_000
    warmup_iterations: int = 0  # lr = warmup_lr for iterations [0, warmup_iterations)
    warmup_lr: float = 0.01

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        if self.iterations < 1 or self.batch_size < 1:
            raise ValueError(f"iterations and batch_size must be >= 1, got {self.iterations}, {self.batch_size}")
        if list(self.milestones) != sorted(self.milestones):
            raise ValueError(f"milestones must be increasing, got {self.milestones}")

    def lr_at(self, it: int) -> float:
        """Learning rate of step ``it`` (0-based): warm-up, then lr / 10 per milestone passed."""
        if it < self.warmup_iterations:
            return self.warmup_lr
        return self.lr / 10 ** sum(it >= m for m in self.milestones)

    def scaled(self, iterations: int) -> Schedule:
        """The same schedule stretched to ``iterations``: milestones and warm-up scale proportionally.

        A warm-up keeps at least one iteration, so a shortened ResNet-110 run still warms up.
        """
        f = iterations / self.iterations
        warm = max(1, round(self.warmup_iterations * f)) if self.warmup_iterations else 0
        return replace(
            self,
            iterations=int(iterations),
            warmup_iterations=warm,
            milestones=tuple(max(1, round(m * f)) for m in self.milestones),
        )

    def prefix(self, iterations: int) -> Schedule:
        """The first ``iterations`` of this very schedule: lr, warm-up and milestones unchanged.

        A prefix is comparable point by point with a full run (and with the public full-schedule
        curves); milestones past its end simply never happen.
        """
        return replace(self, iterations=int(iterations))

    def is_prefix_of(self, full: Schedule) -> bool:
        """True when this schedule is ``full`` cut short (or ``full`` itself)."""
        return replace(self, iterations=full.iterations) == full and self.iterations <= full.iterations

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (the ``schedule`` entry of a result)."""
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Schedule:
        return cls(**{k: (tuple(v) if k == "milestones" else v) for k, v in d.items()})


def model_depth(name: str) -> int:
    """Depth from a model name: ``resnet110`` -> 110, ``resnet18_cifar`` -> 18."""
    m = re.search(r"(\d+)", name)
    if m is None:
        raise ValueError(f"cannot read a depth from model name {name!r} (expected e.g. 'resnet56')")
    return int(m.group(1))


def paper_schedule(model_name: str) -> Schedule:
    """The paper's CIFAR-10 recipe; depth >= 110 warms up at lr 0.01 for 400 iterations."""
    if model_depth(model_name) >= 110:
        return replace(RECIPES["paper"], warmup_iterations=400)
    return RECIPES["paper"]


# Recipes are data: one Schedule each, no code paths.
RECIPES: dict[str, Schedule] = {
    # He et al. 2015, sec. 4.2: 64k iterations = 182 epochs of the 45k split.
    "paper": Schedule(),
    # The CIFAR ResNet-18 (11.2M parameters, 40x ResNet-20) is not in the paper. We use the recipe of
    # the public PyTorch reproductions that reach 93-95% (e.g. kuangliu/pytorch-cifar): SGD lr 0.1,
    # momentum 0.9, batch 128, weight decay 5e-4 -- five times the paper's, because this much wider net
    # overfits CIFAR-10 more -- with a step decay at 50% / 75% of the run. We keep the paper's length
    # (64k iterations, 182 epochs, similar to the 200 epochs of those reproductions) so its curve shares
    # the x-axis of Fig. 6 and the only recipe differences are the weight decay and the width.
    "resnet18_cifar": Schedule(weight_decay=5e-4),
}


def recipe_for(model_name: str) -> Schedule:
    """The schedule a model is trained with in ``fig6``: its own recipe if it has one, else the paper's."""
    return RECIPES.get(model_name) or paper_schedule(model_name)
