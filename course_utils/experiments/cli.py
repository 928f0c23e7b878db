"""``python -m course_utils.experiments fig6 ...``: the command line of the experiments."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from course_utils import data as cdata
from course_utils import scheduler
from course_utils.checkpoint import CheckpointError
from course_utils.engine import VARIANTS
from course_utils.experiments.evaluate import evaluate_finished
from course_utils.experiments.figure6 import fig6
from course_utils.fig6_set import work_order
from course_utils.models import canonical_names
from course_utils.profile import get_profile
from course_utils.stopping import Stopped

__all__ = ["csv", "build_parser", "main"]


def csv(text: str) -> list[str]:
    """``"a,b c"`` -> ``["a", "b", "c"]``: the lists of the command lines."""
    return [t for t in text.replace(" ", ",").split(",") if t]


def _step_times(text: str) -> dict[str, float]:
    """``"resnet56=2.4,plain56=2.4"`` (milliseconds) -> ``{"resnet56": 0.0024, ...}`` (seconds)."""
    try:
        return {k: float(v) / 1000 for k, v in (t.split("=") for t in csv(text))}
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give NET=MILLISECONDS pairs, e.g. resnet56=2.4,plain56=2.4"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m course_utils.experiments", description="Run a named experiment of the ResNet course."
    )
    sub = p.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    f = sub.add_parser(
        "fig6",
        help="He et al. 2015, Fig. 6: plain vs residual nets on CIFAR-10",
        description="Train the Fig. 6 set with the paper's recipe; sized by $COURSE_PROFILE "
        "(gpu: 64k iterations on all 50k training images; cpu: shortened; smoke: "
        "seconds). Order of work: the four Fig. 6 nets with the first seed, then the "
        "CIFAR ResNet-18, then the other seeds. Before it trains it prints that order as it will run and an "
        "estimate of the time from steps timed on this machine. Finished runs are skipped; Ctrl-C stops it "
        "between two steps with every run saved, and the same command resumes.",
    )
    f.add_argument(
        "--models",
        type=csv,
        default=None,
        metavar="M1,M2",
        help="comma-separated model names (default: the profile's set, e.g. "
        "plain20,plain56,resnet20,resnet56,resnet18_cifar on the gpu profile)",
    )
    f.add_argument(
        "--seeds",
        type=lambda s: [int(x) for x in csv(s)],
        default=[0],
        metavar="S1,S2",
        help="comma-separated seeds (default: 0); the CIFAR ResNet-18 runs with the first only",
    )
    f.add_argument(
        "--iterations",
        type=int,
        default=None,
        metavar="N",
        help="iterations per run, overriding the profile's; the lr milestones scale with it "
        "(the paper: 64000, milestones 32000 and 48000) unless --prefix",
    )
    f.add_argument(
        "--prefix",
        action="store_true",
        help="train the first N iterations of the paper's schedule, milestones unchanged (a run that "
        "compares point by point with a full one), instead of squeezing the schedule into N",
    )
    f.add_argument(
        "--train-set",
        default=None,
        choices=("split", "all"),
        help="split: the 45k part of the paper's 45k/5k split; all: all 50k training images "
        "(default: the profile's; gpu: all)",
    )
    f.add_argument(
        "--test-images",
        default=None,
        metavar="N|all",
        help="test images per record: a count, or all (the 10,000); default: the profile's",
    )
    f.add_argument(
        "--eval-every",
        type=int,
        default=None,
        metavar="N",
        help="iterations between two records of training/test error (default: the profile's)",
    )
    f.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="N",
        help="iterations between two checkpoints (default: none by count); checkpoints are also "
        "written every 60 s of wall time, at the end, before the time budget runs out, and on Ctrl-C",
    )
    f.add_argument(
        "--time-budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop cleanly before this many seconds, every run checkpointed; the same command resumes",
    )
    f.add_argument(
        "--variant",
        default="auto",
        choices=("auto", *VARIANTS),
        help="how a step runs: graphs (CUDA graphs), compile (torch.compile), bf16 (CPU: the forward pass "
        "in bf16), eager; auto: on a GPU, graphs for each net where the probe finds them equal to eager over "
        "5 steps, else eager; on a CPU with native bf16, bf16 where the probe finds it equal to fp32 and "
        "faster, else eager (fp32)",
    )
    f.add_argument(
        "--probe",
        action="store_true",
        help="probe and print the table (steps/s, agreement with eager over 5 steps, projected time) "
        "even when there is nothing to choose",
    )
    f.add_argument(
        "--at-once",
        type=int,
        default=None,
        metavar="N",
        help="groups trained at the same time when they all fit the time budget (default: 2 on a GPU, 1 on a CPU)",
    )
    f.add_argument(
        "--plan",
        type=float,
        default=None,
        metavar="SECONDS",
        help="train nothing: print which runs finish in one device lease (one command) of SECONDS, and "
        "how many leases the whole set needs, from estimated step times",
    )
    f.add_argument(
        "--step-times",
        type=_step_times,
        default=None,
        metavar="NET=MS,...",
        help="with --plan: milliseconds per step for some nets (default: estimates for an H100/H200)",
    )
    f.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="output folder for <model>-s<seed>.json, summary.json, weights/ and checkpoints/ "
        "(default: runs/fig6-<profile> in the repository, git-ignored; the committed results/fig6 "
        "and results/fig6-cpu are written only when named here)",
    )
    f.add_argument(
        "--state",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of the unfinished runs' training state, <model>-s<seed>.pt with a readable .json beside "
        "each (default: OUT/checkpoints; the whole-schedule run: results/fig6-state, committed)",
    )
    f.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, ...")
    f.add_argument(
        "--profile",
        default=None,
        choices=("smoke", "cpu", "gpu"),
        help="budget profile (default: $COURSE_PROFILE, else gpu with CUDA, cpu without)",
    )
    f.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="CPU only: runs trained in N processes at once, the cores split among them (default: 2 on a CPU "
        "of 2+ cores for 2+ runs of 200+ iterations, else 1)",
    )
    f.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="deterministic kernels; a resumed run then equals an uninterrupted one bitwise "
        "(default: on for a CPU, off for a GPU, where it is slower)",
    )
    f.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    e = sub.add_parser(
        "evaluate",
        help="test error of finished runs' final weights on all 10,000 test images",
        description="Evaluate the saved final weights of every finished run in a results folder on "
        "the whole test set and add test_error_full to each result JSON (for runs whose "
        "records used a subset of the test set, as in the cpu profile).",
    )
    e.add_argument("folder", type=Path, help="a results folder, e.g. results/fig6-cpu")
    e.add_argument("--profile", default=None, choices=("smoke", "cpu", "gpu"), help="budget profile (data source)")
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
            leases = scheduler.plan(groups, plan_s, step_s=step_times, at_once=args["at_once"] or 2)
            print(scheduler.plan_text(leases, plan_s))
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
