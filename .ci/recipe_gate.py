"""The recipe gate: each break of the paper's recipe, applied through the real code, must fail a test.

    python .ci/recipe_gate.py            # every break; exit 1 if one is not caught or no longer applies
    python .ci/recipe_gate.py no_momentum --tests tests/test_schedule.py   # one break, other tests

For each break it runs the recipe's tests with the ``recipe_break`` plugin (``.ci/recipe_break.py``) and
reads the result: the gate passes only when every break was applied (at least one place replaced) and
made at least one test fail.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BREAKS = ("no_weight_decay", "no_momentum", "frozen_lr", "per_channel_default", "augmentation_off", "wrong_milestones")
TESTS = ["tests/test_train.py", "tests/test_step.py", "tests/test_schedule.py", "tests/test_loader.py"]


def run(name: str, tests: list[str]) -> tuple[bool, str]:
    env = os.environ | {"RECIPE_BREAK": name, "PYTHONPATH": str(ROOT / ".ci"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-o", "addopts=", "-p", "no:cacheprovider", "-p", "recipe_break"]
    out = subprocess.run([*cmd, *tests], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    text = out.stdout + out.stderr
    applied = re.search(r"recipe break \S+: replaced (\d+) place", text)
    if applied is None or int(applied.group(1)) == 0:
        return False, f"{name}: the break no longer applies (the code it patches moved)\n{text[-1500:]}"
    failed = re.search(r"^FAILED (\S+)", text, re.M)
    if out.returncode == 1 and failed:
        return True, f"{name}: caught by {failed.group(1)}"
    return False, f"{name}: NOT caught (pytest exit {out.returncode})\n{text[-1500:]}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("breaks", nargs="*", metavar="BREAK", help=f"default: all of {', '.join(BREAKS)}")
    p.add_argument("--tests", nargs="+", default=TESTS)
    args = p.parse_args(argv)
    unknown = sorted(set(args.breaks) - set(BREAKS))
    if unknown:
        p.error(f"unknown break(s) {', '.join(unknown)}; choose from {', '.join(BREAKS)}")
    ok = True
    with ThreadPoolExecutor(max(1, min(2, os.cpu_count() or 1))) as pool:  # one pytest per core, one thread each
        for caught, line in pool.map(lambda name: run(name, args.tests), args.breaks or BREAKS):
            ok &= caught
            print(("recipe gate: " if caught else "recipe gate FAILED: ") + line, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
