"""``python -m course_utils.experiments fig6 ...``: the command line of the experiments."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from course_utils import data as cdata
from course_utils.checkpoint import CheckpointError
from course_utils.engine import VARIANTS
from course_utils.experiments.evaluate import evaluate_finished
from course_utils.experiments.figure6 import fig6

__all__ = ["build_parser", "main"]


def _csv(text: str) -> list[str]:
    return [t for t in text.replace(" ", ",").split(",") if t]


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
        "CIFAR ResNet-18, then the other seeds. Finished runs are skipped, interrupted "
        "ones resume from their checkpoint.",
    )
    f.add_argument(
        "--models",
        type=_csv,
        default=None,
        metavar="M1,M2",
        help="comma-separated model names (default: the profile's set, e.g. "
        "plain20,plain56,resnet20,resnet56,resnet18_cifar on the gpu profile)",
    )
    f.add_argument(
        "--seeds",
        type=lambda s: [int(x) for x in _csv(s)],
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
        "written every 60 s of wall time, at the end, and before the time budget runs out",
    )
    f.add_argument(
        "--time-budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop cleanly before this many seconds, every run checkpointed; the same command resumes",
    )
    f.add_argument(
        "--engine",
        default="auto",
        choices=("auto", *VARIANTS),
        help="how a step runs: graphs (CUDA graphs), compile (torch.compile), eager; auto probes "
        "the variants on a GPU and picks the fastest correct one per net (eager on a CPU)",
    )
    f.add_argument(
        "--probe",
        action="store_true",
        help="print the probe table (steps/s, first-step agreement with eager, projected time) "
        "even when there is nothing to choose",
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
        default=1,
        metavar="N",
        help="CPU only: runs trained in N processes at once, the cores split among them (default: 1)",
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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.experiment == "evaluate":
            evaluate_finished(args.folder, profile=args.profile, seed=None)
            return 0
        fig6(
            args.models,
            seeds=args.seeds,
            iterations=args.iterations,
            checkpoint_every=args.checkpoint_every,
            out=args.out,
            profile=args.profile,
            device=None if args.device == "auto" else args.device,
            eval_every=args.eval_every,
            jobs=args.jobs,
            deterministic=args.deterministic,
            engine_name=args.engine,
            force_probe=args.probe,
            time_budget=args.time_budget,
            progress=args.progress,
            prefix=args.prefix,
            train_set=args.train_set,
            test_images=args.test_images,
        )
    except (CheckpointError, FloatingPointError, ValueError, FileNotFoundError, cdata.DataNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: every run was checkpointed; run the same command again to resume", file=sys.stderr)
        return 130
    return 0
