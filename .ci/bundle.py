"""Pack what a GPU run must bring back into a few files: ``python .ci/bundle.py WORK OUT``.

WORK holds ``fig6/`` (result JSONs, ``summary.json``, ``weights/``), ``bench/`` and ``*.log``.
OUT gets ``bundle-1.tar.gz`` (and more parts when one would pass 15 MiB), at most 7 files with the
log copy beside them: every result JSON, the summary, the bench JSON, the logs, and the fp16
weights of the CIFAR-family nets that are at most 2 MB each (so not the CIFAR ResNet-18's).
Checkpoints never travel.
"""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path

PART_LIMIT = 15 * 2**20  # below the 16 MiB a file may have to come back
WEIGHT_LIMIT = 2 * 10**6
MAX_PARTS = 7


def select(work: Path) -> list[Path]:
    """The files to bring back, small ones first."""
    picked = [
        p
        for p in sorted(work.rglob("*"))
        if p.is_file()
        and "checkpoints" not in p.parts
        and not p.name.endswith(".tmp")
        and (p.suffix in (".json", ".log") or (p.suffix == ".pt" and p.stat().st_size <= WEIGHT_LIMIT))
    ]
    return sorted(picked, key=lambda p: (p.suffix == ".pt", str(p)))


def bundle(work: Path, out: Path) -> list[Path]:
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
        raise SystemExit(f"bundle: {len(parts)} parts would not come back (at most {MAX_PARTS})")
    written = []
    for i, files in enumerate(parts, 1):
        path = out / f"bundle-{i}.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            for p in files:
                tar.add(p, arcname=str(p.relative_to(work)))
        written.append(path)
        print(f"bundle: {path} ({path.stat().st_size / 2**20:.1f} MiB, {len(files)} files)")
    skipped = [p.name for p in work.rglob("*.pt") if "checkpoints" not in p.parts and p.stat().st_size > WEIGHT_LIMIT]
    if skipped:
        print(f"bundle: left out (over {WEIGHT_LIMIT / 1e6:.0f} MB): {', '.join(sorted(skipped))}")
    return written


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python .ci/bundle.py WORK OUT")
    bundle(Path(sys.argv[1]), Path(sys.argv[2]))
