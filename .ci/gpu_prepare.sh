#!/usr/bin/env bash
# Fill the ignored folders that a GPU machine without network access needs beside the checkout:
#   .carry/cifar10-jpeg.tar.gz   the offline CIFAR-10 copy (extracted on the machine by gpu_run.sh)
#   .whl/                        pure-Python wheels the GPU machine may lack (tqdm); installed from there, offline
# Then, on the GPU machine (SECONDS = the wall time each command may use):
#   PYTHONUNBUFFERED=1 bash .ci/gpu_run.sh start  "$OUT" SECONDS
#   PYTHONUNBUFFERED=1 bash .ci/gpu_run.sh resume "$OUT" SECONDS   (continues where the first stopped)
# and copy runs/gpu/fig6 from the bundle into results/fig6; python -m course_utils.plots makes the figure.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .carry .whl
cp -u ../shared/data/cifar10-jpeg.tar.gz .carry/
python3 -m pip download --quiet --no-deps --only-binary=:all: -d .whl "tqdm==$(python3 -c 'import tqdm; print(tqdm.__version__)')"
ls -la .carry .whl
