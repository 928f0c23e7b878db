"""What a device lease brings back, and how it lands in the repository.

    python .ci/bundle.py pack WORK OUT    # on the device machine: WORK is the fig6 output folder
    python .ci/bundle.py land OUT [REPO]  # here: results/fig6/ and results/fig6-state/ of REPO (default .)

``pack`` writes ``OUT/bundle-<i>.tar.gz`` (at most MAX_PARTS files of at most 15 MiB: with the log
and a bench JSON beside them, at most 8 files come back): every result JSON, ``summary.json``,
the logs, the fp16 weights of the nets of at most 4 MB (every CIFAR-family net; not the CIFAR
ResNet-18's 22 MB), and from ``checkpoints/`` the probe's ``probe.json`` and the checkpoint of every
*unfinished* run (the full training state: model, momentum, BN, RNG, loader position, history) with
its sidecar JSON, which fig6 keeps under 16 MiB a run on a GPU (``experiments/lease.py``).

``land`` unpacks the parts: finished results, the summary, weights and logs go to ``results/fig6/``,
the state of unfinished runs (``.pt`` and sidecar) and ``probe.json`` to ``results/fig6-state/`` (the
state of a run that has now finished is deleted there), and a bench JSON to ``results/bench/``. Commit
both folders: the next stretch, on the CPU or in a device lease, resumes from there.
"""

from __future__ import annotations

import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

PART_LIMIT = 15 * 2**20  # below the 16 MiB a file may have to come back
WEIGHT_LIMIT = 4 * 10**6
MAX_PARTS = 6


def select(work: Path) -> list[Path]:
    """The files to bring back, small ones first; checkpoints only of runs without a result file."""
    finished = {p.stem for p in work.glob("*.json")}
    picked = []
    for p in sorted(work.rglob("*")):
        if not p.is_file() or p.name.endswith(".tmp"):
            continue
        if p.parent.name == "checkpoints":
            state = p.suffix in (".pt", ".json") and p.stem not in finished and p.stat().st_size <= PART_LIMIT
            keep = state or p.name == "probe.json"
        else:
            keep = p.suffix in (".json", ".log") or (p.suffix == ".pt" and p.stat().st_size <= WEIGHT_LIMIT)
        if keep:
            picked.append(p)
    return sorted(picked, key=lambda p: (p.suffix == ".pt", p.stat().st_size, str(p)))


def pack(work: Path, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("bundle-*.tar.gz"):
        old.unlink()
    parts: list[list[Path]] = [[]]
    size = 0
    for p in select(work):
        s = p.stat().st_size
        if parts[-1] and size + s > PART_LIMIT:
            parts.append([])
            size = 0
        parts[-1].append(p)
        size += s
    if len(parts) > MAX_PARTS:
        print(f"bundle: {len(parts)} parts would not all come back: keeping the first {MAX_PARTS} (results first)")
        parts = parts[:MAX_PARTS]
    written = []
    for i, files in enumerate(parts, 1):
        path = out / f"bundle-{i}.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            for p in files:
                tar.add(p, arcname=str(p.relative_to(work)))
        written.append(path)
        print(f"bundle: {path} ({path.stat().st_size / 2**20:.1f} MiB, {len(files)} files)")
    state = [p.stem for ps in parts for p in ps if p.parent.name == "checkpoints" and p.suffix == ".pt"]
    print(f"bundle: unfinished runs with their state: {', '.join(state) or 'none'}")
    return written


def land(out: Path, repo: Path) -> None:
    results, state = repo / "results" / "fig6", repo / "results" / "fig6-state"
    with tempfile.TemporaryDirectory() as tmp:
        back = Path(tmp)
        for part in sorted(out.glob("bundle-*.tar.gz")):
            with tarfile.open(part) as tar:
                tar.extractall(back, filter="data")
        results.mkdir(parents=True, exist_ok=True)
        state.mkdir(parents=True, exist_ok=True)
        for p in back.glob("*.json"):
            shutil.copy2(p, results)
        for p in back.glob("*.log"):
            (results / "logs").mkdir(exist_ok=True)
            shutil.copy2(p, results / "logs")
        for p in (back / "weights").glob("*.pt"):
            (results / "weights").mkdir(exist_ok=True)
            shutil.copy2(p, results / "weights")
        for p in (back / "checkpoints").glob("*"):
            shutil.copy2(p, state)
    for p in [*state.glob("*.pt"), *state.glob("*-s*.json")]:
        if (results / f"{p.stem}.json").exists():
            p.unlink()  # finished: its state is no longer needed
    for p in out.glob("bench-*.json"):
        (repo / "results" / "bench").mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, repo / "results" / "bench" / p.name)
    print(
        f"landed: {len(list(results.glob('*-s*.json')))} finished run(s) in {results}, "
        f"{len(list(state.glob('*.pt')))} unfinished with their state in {state}"
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "pack":
        pack(Path(sys.argv[2]), Path(sys.argv[3]))
    elif len(sys.argv) in (3, 4) and sys.argv[1] == "land":
        land(Path(sys.argv[2]), Path(sys.argv[3] if len(sys.argv) == 4 else "."))
    else:
        raise SystemExit("usage: python .ci/bundle.py pack WORK OUT | land OUT [REPO]")
