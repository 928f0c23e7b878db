#!/usr/bin/env bash
# Fill the ignored folders that a GPU machine without network access needs beside the checkout:
#   .carry/cifar10-jpeg.tar.gz   the offline CIFAR-10 copy (extracted on the machine by gpu_run.sh)
#   .whl/                        pure-Python wheels the GPU machine may lack (tqdm); installed from there, offline
# Then, on the GPU machine, one command per lease (SECONDS = the wall time it may use):
#   bash .ci/gpu_run.sh "$OUT" SECONDS
# and back here: python .ci/bundle.py land OUT (results into results/fig6/, the state of unfinished runs
# into results/fig6-state/, the bench into results/bench/), then commit them.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .carry .whl
cp -u ../shared/data/cifar10-jpeg.tar.gz .carry/
python3 -m pip download --quiet --no-deps --only-binary=:all: -d .whl "tqdm==$(python3 -c 'import tqdm; print(tqdm.__version__)')"
ls -la .carry .whl
