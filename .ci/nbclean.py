"""Execute notebooks in the smoke profile and keep only nbval-checked outputs.

    python3 .ci/nbclean.py notebooks/03_shape_arithmetic.ipynb          # run + clean
    python3 .ci/nbclean.py --no-execute notebooks/*.ipynb               # clean only
    python3 .ci/nbclean.py --check notebooks/*.ipynb                    # exit 1 if dirty
    python3 .ci/nbclean.py --filter < executed.ipynb > clean.ipynb      # git's clean filter

A cell tagged ``nbval-check-output`` keeps its (fresh, smoke-profile) output: nbval
compares it on every test run. Every other cell is committed without outputs and
without execution counts, and every notebook with the same kernel metadata
(``KERNELSPEC``, ``LANGUAGE_INFO``): the kernel JupyterLab starts reports exactly
these on the course's Python, so a notebook opens without an unsaved mark.

The committed form is one canonical form, whatever saved the notebook (nbclient,
JupyterLab after Run All, another Python):

- a checked cell's consecutive outputs on the same stream are one output (JupyterLab
  merges them when it saves; nbclient keeps them apart), counted 1..k in order;
- a cell tagged ``solution`` never keeps an output, checked or not (its answer would
  show), and a solution code cell is committed collapsed (``source_hidden``): JupyterLab
  drops that flag when it runs the cell, the filter puts it back;
- view state is not course content: ``scrolled``, ``collapsed``, ``outputs_hidden``,
  ``execution`` timings and the widget state are dropped.

``--filter`` is the clean filter of ``.gitattributes`` (enabled once per clone with
``git config --local include.path ../.gitconfig``, which runs it through ``.ci/nbfilter.sh`` with
the first Python 3 on PATH and marks it ``required``): git then sees a notebook a student has run, with outputs, as
unchanged, so executed outputs never show in ``git diff`` and never conflict with
``git pull``; edits of cells still do. The filter needs only the standard library, so
any Python 3 runs it; where none runs, ``git add`` stops with an error instead of
staging outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

TAG = "nbval-check-output"  # a cell tag, not a comment: the student's view stays clean
SOLUTION = "solution"  # a cell tag: left out of slides and handouts, committed without output
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
VIEW_STATE = ("execution", "scrolled", "collapsed", "jupyter")  # cell metadata a front end writes


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def is_checked(cell: dict) -> bool:
    return cell["cell_type"] == "code" and TAG in _tags(cell) and SOLUTION not in _tags(cell)


def _text(text: str | list[str]) -> str:
    return "".join(text) if isinstance(text, list) else text


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)  # how nbformat and JupyterLab store multi-line text


def merge_streams(outputs: list[dict]) -> list[dict]:
    """Consecutive ``stream`` outputs of the same name as one output, as JupyterLab saves them."""
    merged: list[dict] = []
    for out in outputs:
        last = merged[-1] if merged else None
        if (
            out.get("output_type") == "stream"
            and last is not None
            and last.get("output_type") == "stream"
            and last.get("name") == out.get("name")
        ):
            last["text"] = _lines(_text(last["text"]) + _text(out["text"]))
        else:
            merged.append(dict(out))
    return merged


def clean(nb: dict) -> int:
    """Bring a notebook (a dict as json or nbformat reads it) to its committed form in place.

    Returns how many code cells lost outputs or an execution count.
    """
    changed = 0
    count = 0  # nbval refuses checked cells without an execution count
    for cell in nb["cells"]:
        meta = cell.setdefault("metadata", {})
        for key in VIEW_STATE:
            meta.pop(key, None)
        if cell["cell_type"] != "code":
            continue
        if SOLUTION in _tags(cell):
            meta["jupyter"] = {"source_hidden": True}  # collapsed: the first line says "expand to read"
        if not is_checked(cell):
            if cell.get("outputs") or cell.get("execution_count") is not None:
                changed += 1
            cell["outputs"] = []
            cell["execution_count"] = None
            continue
        count += 1  # number checked cells 1..k so the file is stable run to run
        cell["outputs"] = merge_streams(cell.get("outputs", []))
        for out in cell["outputs"]:
            if "execution_count" in out:
                out["execution_count"] = count
        cell["execution_count"] = count
    nb["metadata"].pop("widgets", None)
    nb["metadata"]["kernelspec"] = dict(KERNELSPEC)
    nb["metadata"]["language_info"] = dict(LANGUAGE_INFO)
    return changed


def dumps(nb: dict) -> str:
    """The notebook as nbformat and JupyterLab write it (sorted keys, indent 1, text split in lines)."""
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def execute(nb: dict, path: str, timeout: int) -> tuple[dict, float]:
    """Run every cell in the smoke profile; return the executed notebook and the seconds it took."""
    import nbformat
    from nbclient import NotebookClient

    os.environ["COURSE_PROFILE"] = "smoke"
    os.environ.setdefault("MPLBACKEND", "Agg")
    node = nbformat.reads(json.dumps(nb), as_version=4)  # multi-line text as strings, as nbclient expects
    t0 = time.time()
    NotebookClient(
        node,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}},
    ).execute()
    return json.loads(nbformat.writes(node)), time.time() - t0


def _filter() -> int:
    raw = sys.stdin.buffer.read().decode("utf-8")
    try:
        nb = json.loads(raw)
        clean(nb)
    except (ValueError, KeyError, TypeError) as err:
        print(f"nbclean: not a notebook git can store cleaned ({err}); fix the file and add it again", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(dumps(nb).encode("utf-8"))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*")
    ap.add_argument("--filter", action="store_true", help="read a notebook on stdin, write it cleaned to stdout")
    ap.add_argument("--no-execute", action="store_true", help="only strip outputs")
    ap.add_argument("--check", action="store_true", help="report notebooks not in committed form, change nothing")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = ap.parse_args(argv)
    if args.filter:
        return _filter()
    if not args.notebooks:
        ap.error("give notebooks, or --filter")
    dirty = 0
    for path in args.notebooks:
        with open(path, encoding="utf-8") as f:
            raw = f.read()
        nb = json.loads(raw)
        if args.check:
            n = clean(nb)
            if dumps(nb) != raw:
                print(f"{path}: not in committed form ({n} unchecked cell(s) carry outputs)")
                dirty += 1
            continue
        if not args.no_execute:
            nb, secs = execute(nb, path, args.timeout)
            print(f"{path}: executed in {secs:.1f} s (smoke)")
        clean(nb)
        with open(path, "w", encoding="utf-8") as f:
            f.write(dumps(nb))
    return 1 if dirty else 0


if __name__ == "__main__":
    sys.exit(main())
