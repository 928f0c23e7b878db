"""Execute notebooks in the smoke profile and keep only nbval-checked outputs.

    python .ci/nbclean.py notebooks/03_shape_arithmetic.ipynb          # run + clean
    python .ci/nbclean.py --no-execute notebooks/*.ipynb               # clean only
    python .ci/nbclean.py --check notebooks/*.ipynb                    # exit 1 if dirty
    python .ci/nbclean.py --filter < executed.ipynb > clean.ipynb      # git's clean filter

A cell tagged ``nbval-check-output`` keeps its (fresh,
smoke-profile) output: nbval compares it on every test run. Every other cell
is committed without outputs and without execution counts, and every notebook
with the same kernel metadata (``KERNELSPEC``, ``LANGUAGE_INFO``): the kernel
JupyterLab starts reports exactly these on the course's Python, so a notebook
opens without an unsaved mark.

``--filter`` is the clean filter of ``.gitattributes`` (enabled once per clone with
``git config --local include.path ../.gitconfig``): git then sees a notebook a
student has run, with outputs, as unchanged, so executed outputs never show in
``git diff`` and never conflict with ``git pull``; edits of cells still do.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import nbformat

TAG = "nbval-check-output"  # a cell tag, not a comment: the student's view stays clean
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}  # ipykernel's own
LANGUAGE_INFO = {  # what that kernel reports on the course's Python (3.11)
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
    "version": "3.11.7",
}


def is_checked(cell) -> bool:
    return cell.cell_type == "code" and TAG in cell.metadata.get("tags", [])


def clean(nb) -> int:
    """Strip outputs of unchecked cells in place; return how many cells changed."""
    changed = 0
    count = 0  # nbval refuses checked cells without an execution count
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if not is_checked(cell):
            if cell.outputs or cell.execution_count is not None:
                changed += 1
            cell.outputs = []
            cell.execution_count = None
        else:
            count += 1  # number checked cells 1..k so the file is stable run to run
            for out in cell.outputs:
                if "execution_count" in out:
                    out["execution_count"] = count
            cell.execution_count = count
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = dict(LANGUAGE_INFO)
    return changed


def execute(nb, path: str, timeout: int) -> float:
    from nbclient import NotebookClient

    os.environ["COURSE_PROFILE"] = "smoke"
    os.environ.setdefault("MPLBACKEND", "Agg")
    t0 = time.time()
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}},
    ).execute()
    return time.time() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*")
    ap.add_argument("--filter", action="store_true", help="read a notebook on stdin, write it cleaned to stdout")
    ap.add_argument("--no-execute", action="store_true", help="only strip outputs")
    ap.add_argument("--check", action="store_true", help="report dirty notebooks, change nothing")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = ap.parse_args(argv)
    if args.filter:
        nb = nbformat.reads(sys.stdin.read(), as_version=4)
        clean(nb)
        sys.stdout.write(nbformat.writes(nb) + "\n")
        return 0
    if not args.notebooks:
        ap.error("give notebooks, or --filter")
    dirty = 0
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        if args.check:
            n = clean(nb)
            if n:
                print(f"{path}: {n} unchecked cell(s) carry outputs")
                dirty += 1
            continue
        if not args.no_execute:
            secs = execute(nb, path, args.timeout)
            print(f"{path}: executed in {secs:.1f} s (smoke)")
        clean(nb)
        nbformat.write(nb, path)
    return 1 if dirty else 0


if __name__ == "__main__":
    sys.exit(main())
