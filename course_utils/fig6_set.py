"""The Fig. 6 set in one place: its nets, its result folders, and its runs grouped in the order of work.

A *run* is one net with one seed; a *group* is runs that share one feed of batches (same seed,
same batches: a paired comparison), trained together, each run saved the moment it finishes; the
*set* is every group of a ``fig6`` call, in the order :func:`work_order` gives. Cheap, important
groups come first, so that a short stretch of compute still brings back finished results:

1. plain-20 + ResNet-20, seed 0;     2. plain-56 + ResNet-56, seed 0;     3. the CIFAR ResNet-18;
4. the rest of the paper's Fig. 6: plain-32 + ResNet-32, plain-44 + ResNet-44, ResNet-110;
5. the same pairs with the other seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from course_utils.schedule import Schedule, recipe_for

__all__ = [
    "FIG6_NETS",
    "EXTRA_NET",
    "MORE_NETS",
    "ALL_NETS",
    "FOLDERS",
    "PAIRS",
    "run_name",
    "RunSpec",
    "plan_schedule",
    "work_order",
]

FIG6_NETS = ("plain20", "plain56", "resnet20", "resnet56")  # the paper's Fig. 6, as the course shows it
EXTRA_NET = "resnet18_cifar"  # beyond the paper: the CIFAR ResNet-18 of the public reproductions
MORE_NETS = ("plain32", "plain44", "resnet32", "resnet44", "resnet110")  # the rest of the paper's Fig. 6
ALL_NETS = (*FIG6_NETS, EXTRA_NET, *MORE_NETS)
FOLDERS = ("fig6", "fig6-cpu")  # under results/: the whole-schedule run first, then the CPU reference run
# the order of work: each tuple is one group (same seed, one feed of batches)
PAIRS = (
    ("plain20", "resnet20"),
    ("plain56", "resnet56"),
    (EXTRA_NET,),
    ("plain32", "resnet32"),
    ("plain44", "resnet44"),
    ("resnet110",),
)


def run_name(model: str, seed: int) -> str:
    """The stem of a run's files: ``<model>-s<seed>``."""
    return f"{model}-s{seed}"


@dataclass(frozen=True)
class RunSpec:
    """One run of the set: a model, a seed, and the schedule it is trained with."""

    model: str
    seed: int
    schedule: Schedule

    @property
    def stem(self) -> str:
        return run_name(self.model, self.seed)


def plan_schedule(model: str, iterations: int | None = None, prefix: bool = False) -> Schedule:
    """The model's recipe (``schedule.recipe_for``) stretched to ``iterations`` (milestones scale), or with
    ``prefix`` its first ``iterations`` unchanged (milestones stay where the paper puts them)."""
    recipe = recipe_for(model)
    if iterations is None or iterations == recipe.iterations:
        return recipe
    return recipe.prefix(iterations) if prefix else recipe.scaled(iterations)


def work_order(
    names: Sequence[str], seeds: Sequence[int], iterations: int | None = None, prefix: bool = False
) -> list[list[RunSpec]]:
    """The groups of the set, in the order they are started (empty groups left out).

    Pairs follow :data:`PAIRS` (a net of ``names`` outside it forms a group of its own, after them);
    every net runs with every seed, seed by seed, except the CIFAR ResNet-18, which runs with the first.
    """
    names = list(dict.fromkeys(names))
    pairs = [[n for n in pair if n in names] for pair in PAIRS]
    pairs += [[n] for n in names if not any(n in p for p in PAIRS)]
    groups = []
    for i, seed in enumerate(seeds):
        for pair in pairs:
            members = [n for n in pair if i == 0 or n != EXTRA_NET]
            if members:
                groups.append([RunSpec(n, seed, plan_schedule(n, iterations, prefix)) for n in members])
    return groups
