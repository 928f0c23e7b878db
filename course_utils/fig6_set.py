"""The Fig. 6 set in one place: its nets, its result folders, and its runs grouped in the order of work.

A *run* is one net with one seed; a *group* is runs that share one batch stream (same seed,
same batches: a paired comparison) and are saved together when the last of them finishes; the
*set* is every group of a ``fig6`` call, in the order :func:`work_order` gives. Cheap, important
groups come first, so that a short (GPU) lease still brings back finished results:

1. plain-20 + ResNet-20, seed 0;     2. plain-56 + ResNet-56, seed 0;     3. the CIFAR ResNet-18;
4. the rest of the paper's Fig. 6: plain-32 + ResNet-32, plain-44 + ResNet-44, ResNet-110;
5. the same pairs with the other seeds.

``STEP_SECONDS`` are first-principles estimates of one graph-replayed step at batch 128 on an
H100/H200 (FLOPs, kernel counts, public fast-CIFAR records: about 1-1.5 ms for 20 layers, 2-4 ms
for 56, roughly linear in depth), used by ``fig6 --plan`` before any GPU has been measured.
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
    "STEP_SECONDS",
    "STATE_LIMIT",
    "run_name",
    "RunSpec",
    "plan_schedule",
    "work_order",
    "WorkOrder",
]

FIG6_NETS = ("plain20", "plain56", "resnet20", "resnet56")  # the paper's Fig. 6, as the course shows it
EXTRA_NET = "resnet18_cifar"  # beyond the paper: the CIFAR ResNet-18 of the public reproductions
MORE_NETS = ("plain32", "plain44", "resnet32", "resnet44", "resnet110")  # the rest of the paper's Fig. 6
ALL_NETS = (*FIG6_NETS, EXTRA_NET, *MORE_NETS)
FOLDERS = ("fig6", "fig6-cpu")  # under results/: the whole-schedule run first, then the CPU reference run
# the order of work: each tuple is one group (same seed, one batch stream)
PAIRS = (
    ("plain20", "resnet20"),
    ("plain56", "resnet56"),
    (EXTRA_NET,),
    ("plain32", "resnet32"),
    ("plain44", "resnet44"),
    ("resnet110",),
)
STEP_SECONDS = {  # one graph step, batch 128, H100/H200: estimates until a probe measures them
    "plain20": 0.0011,
    "resnet20": 0.0011,
    "plain32": 0.0015,
    "resnet32": 0.0015,
    "plain44": 0.0019,
    "resnet44": 0.0019,
    "plain56": 0.0024,
    "resnet56": 0.0024,
    "resnet110": 0.0046,
    EXTRA_NET: 0.0025,
}

STATE_LIMIT = 16 * 2**20  # the largest file a device command can bring back


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


@dataclass(frozen=True)
class WorkOrder:
    """The units of work of one ``fig6`` call in the order they start, and how many run at once.

    ``fig6`` prints it (:meth:`text`) before it trains, and the same object then drives the training (its
    ``units`` go in this order to ``scheduler.run_set`` or to the process pool), so the two cannot disagree.
    In one process a unit is a group (runs on one batch stream) and ``lanes`` groups are active at once,
    sharing the device (``at_once``); with ``jobs`` > 1 a unit is one run in a worker process of its own and
    ``lanes`` is the number of processes, each next run starting when one is free.
    """

    units: tuple[tuple[RunSpec, ...], ...]
    lanes: int
    processes: bool

    @classmethod
    def of(cls, groups: Sequence[Sequence[RunSpec]], jobs: int = 1, at_once: int = 1) -> WorkOrder:
        """The order of ``groups`` (unfinished, in the order of work) as ``jobs`` processes or ``at_once`` groups
        at a time in one process train them."""
        if jobs > 1:
            return cls(tuple((s,) for g in groups for s in g), jobs, True)
        return cls(tuple(tuple(g) for g in groups if g), at_once, False)

    def label(self, unit: Sequence[RunSpec]) -> str:
        """``"2/4: plain20-s0 + resnet20-s0"``: the unit's place in the order, and its runs."""
        return f"{self.units.index(tuple(unit)) + 1}/{len(self.units)}: {' + '.join(s.stem for s in unit)}"

    def how(self) -> str:
        """How the units run: one after the other, some at once on one device, or side by side in processes."""
        n = len(self.units)
        if self.processes:
            return (
                f"{n} run(s), each alone in a worker process, {min(self.lanes, n)} process(es) at once: the first "
                f"{min(self.lanes, n)} start together, each next one when a process is free"
            )
        if self.lanes > 1 and n > 1:
            return (
                f"{n} group(s), up to {self.lanes} at once in this process, sharing the device (a next group "
                f"joins when all active ones fit before the time budget)"
            )
        return f"{n} group(s), one after the other in this process (a group: runs on one batch stream)"

    def text(self) -> str:
        """The order as ``fig6`` prints it before it trains: how the units run, then one line per unit."""
        if not self.units:
            return "fig6: nothing to train: every run of the set is finished"
        return "\n".join([f"fig6: order of work: {self.how()}"] + [f"  {self.label(u)}" for u in self.units])
