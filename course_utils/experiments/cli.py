"""``python -m course_utils.experiments fig6 ...``: the command line of the experiments.

The options of ``fig6`` are one table (:data:`FIG6_OPTIONS`): flags, then what ``argparse.add_argument`` takes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from course_utils import data as cdata
from course_utils.checkpoint import CheckpointError
from course_utils.engine import VARIANTS
from course_utils.experiments import lease
from course_utils.experiments.evaluate import evaluate_finished
from course_utils.experiments.figure6 import fig6
from course_utils.fig6_set import work_order
from course_utils.models import canonical_names
from course_utils.profile import PROFILES, get_profile
from course_utils.stopping import Stopped

__all__ = ["csv", "FIG6_OPTIONS", "build_parser", "main"]


def csv(text: str) -> list[str]:
    """``"a,b c"`` -> ``["a", "b", "c"]``: the lists of the command lines."""
    return [t for t in text.replace(" ", ",").split(",") if t]


def _seeds(text: str) -> list[int]:
    return [int(x) for x in csv(text)]


def _step_times(text: str) -> dict[str, float]:
    """``"resnet56=2.4,plain56=2.4"`` (milliseconds) -> ``{"resnet56": 0.0024, ...}`` (seconds)."""
    try:
        return {k: float(v) / 1000 for k, v in (t.split("=") for t in csv(text))}
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give NET=MILLISECONDS pairs, e.g. resnet56=2.4,plain56=2.4"
        ) from None


FIG6_OPTIONS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("--models",), dict(type=csv, metavar="M1,M2", help="comma-separated model names (default: the profile's set, "
     "e.g. plain20,plain56,resnet20,resnet56,resnet18_cifar on the gpu profile)")),
    (("--seeds",), dict(type=_seeds, default=[0], metavar="S1,S2",
     help="comma-separated seeds (default: 0); the CIFAR ResNet-18 runs with the first only")),
    (("--iterations",), dict(type=int, metavar="N", help="iterations per run, overriding the profile's; the lr "
     "milestones scale with it (the paper: 64000, milestones 32000 and 48000) unless --prefix")),
    (("--prefix",), dict(action="store_true", help="train the first N iterations of the paper's schedule, "
     "milestones unchanged (a run that compares point by point with a full one), instead of squeezing the "
     "schedule into N")),
    (("--train-set",), dict(choices=("split", "all"), help="split: the 45k part of the paper's 45k/5k split; all: "
     "all 50k training images (default: the profile's; gpu: all)")),
    (("--test-images",), dict(metavar="N|all", help="test images per record: a count, or all (the 10,000); "
     "default: the profile's")),
    (("--eval-every",), dict(type=int, metavar="N", help="iterations between two records of training/test error "
     "(default: the profile's)")),
    (("--checkpoint-every",), dict(type=int, metavar="N", help="iterations between two checkpoints (default: none "
     "by count); checkpoints are also written every 60 s of wall time, at the end, before the time limit, and on "
     "Ctrl-C")),
    (("--time-limit", "--time-budget"), dict(type=float, metavar="SECONDS", help="stop cleanly before this many "
     "seconds, every run checkpointed; the same command resumes")),
    (("--variant",), dict(default="auto", choices=("auto", *VARIANTS), help="how a step runs: graphs (CUDA "
     "graphs), compile (torch.compile), bf16 (CPU: the forward pass in bf16), eager; auto: on a GPU, graphs for "
     "each net where the probe finds them equal to eager over 5 steps, else eager; on a CPU with native bf16, "
     "bf16 where the probe finds it equal to fp32 and faster, else eager (fp32)")),
    (("--probe-again", "--probe"), dict(action="store_true", help="probe and print the table (steps/s, agreement "
     "with eager over 5 steps, projected time) even where probe.json holds the choice or there is none to make")),
    (("--at-once",), dict(type=int, metavar="N", help="groups trained at the same time when they all fit the time "
     "limit (default: 2 on a GPU, 1 on a CPU)")),
    (("--plan",), dict(type=float, metavar="SECONDS", help="train nothing: print which runs finish in one device "
     "lease (one command) of SECONDS, and how many leases the whole set needs, from estimated step times")),
    (("--step-times",), dict(type=_step_times, metavar="NET=MS,...", help="with --plan: milliseconds per step for "
     "some nets (default: estimates for an H100/H200)")),
    (("--out",), dict(type=Path, metavar="DIR", help="output folder for <model>-s<seed>.json, summary.json, "
     "weights/ and checkpoints/ (default: runs/fig6-<profile> in the repository, git-ignored; the committed "
     "results/fig6 and results/fig6-cpu are written only when named here)")),
    (("--state",), dict(type=Path, metavar="DIR", help="folder of the unfinished runs' training state, "
     "<model>-s<seed>.pt with a readable .json beside each (default: OUT/checkpoints; the whole-schedule run: "
     "results/fig6-state, committed)")),
    (("--device",), dict(default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, ...")),
    (("--profile",), dict(choices=PROFILES, help="the sizes (default: $COURSE_PROFILE, else gpu with CUDA, cpu "
     "without)")),
    (("--jobs",), dict(type=int, metavar="N", help="CPU only: runs trained in N processes at once, the cores split "
     "among them (default: 2 on a CPU of 2+ cores for 2+ runs of 200+ iterations, else 1)")),
    (("--deterministic",), dict(action=argparse.BooleanOptionalAction, help="deterministic kernels; a resumed run "
     "then equals an uninterrupted one bitwise (default: on for a CPU, off for a GPU, where it is slower)")),
    (("--no-progress",), dict(dest="progress", action="store_false", help="no progress bars")),
)  # fmt: skip

FIG6_DESCRIPTION = (
    "Train the Fig. 6 set with the paper's recipe; sized by $COURSE_PROFILE (gpu: 64k iterations on all 50k "
    "training images; cpu: shortened; smoke: seconds). Order of work: the four Fig. 6 nets with the first seed, "
    "then the CIFAR ResNet-18, then the other seeds. Before it trains it prints that order as it will run and an "
    "estimate of the time from steps timed on this machine. Finished runs are skipped; Ctrl-C stops it between "
    "two steps with every run saved, and the same command resumes."
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m course_utils.experiments", description="Run a named experiment of the ResNet course."
    )
    sub = p.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    f = sub.add_parser(
        "fig6", help="He et al. 2015, Fig. 6: plain vs residual nets on CIFAR-10", description=FIG6_DESCRIPTION
    )
    for flags, kw in FIG6_OPTIONS:
        f.add_argument(*flags, **kw)
    e = sub.add_parser(
        "evaluate",
        help="test error of finished runs' final weights on all 10,000 test images",
        description="Evaluate the saved final weights of every finished run in a results folder on "
        "the whole test set and add test_error_full to each result JSON (for runs whose "
        "records used a subset of the test set, as in the cpu profile).",
    )
    e.add_argument("folder", type=Path, help="a results folder, e.g. results/fig6-cpu")
    e.add_argument("--profile", default=None, choices=PROFILES, help="the profile (its data source)")
    p.set_defaults(_parsers={"fig6": f, "evaluate": e})  # for errors found after parsing: the same usage line
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = vars(build_parser().parse_args(argv))
    parser = args.pop("_parsers")[args["experiment"]]
    try:
        if args.pop("experiment") == "evaluate":
            evaluate_finished(args["folder"], profile=args["profile"], seed=None)
            return 0
        plan_s, step_times = args.pop("plan"), args.pop("step_times")
        args["device"] = None if args["device"] == "auto" else args["device"]
        if plan_s is not None:
            prof = get_profile(args["profile"] or "gpu", "cpu")
            names = canonical_names(args["models"] or prof.models)
            groups = work_order(names, args["seeds"], args["iterations"], args["prefix"])
            leases = lease.plan(groups, plan_s, step_s=step_times, at_once=args["at_once"] or 2)
            print(lease.plan_text(leases, plan_s))
            return 0
        fig6(**args)
    except (CheckpointError, FloatingPointError, ValueError, FileNotFoundError, cdata.DataNotFoundError) as err:
        print(f"{parser.format_usage()}{parser.prog}: error: {err}", file=sys.stderr)  # as argparse says it
        return 2
    except Stopped as err:  # Ctrl-C while training: every run saved between two steps
        print(err, file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # Ctrl-C before or after the training (nothing of it half done)
        print(
            "interrupted: every run keeps its last saved state; run the same command again to resume", file=sys.stderr
        )
        return 130
    return 0
