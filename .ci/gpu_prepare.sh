#!/usr/bin/env bash
# Fill the ignored folders a GPU run takes along (device tool: carry [".carry", ".whl"]):
#   .carry/cifar10-jpeg.tar.gz   the offline CIFAR-10 copy (extracted on the machine by gpu_run.sh)
#   .whl/                        pure-Python wheels the GPU machine may lack (tqdm); installed from there, offline
# Then, on the device (one prepared command each; SECONDS = what the command may use):
#   PYTHONUNBUFFERED=1 bash .ci/gpu_run.sh start  "$OUT" 450   (device run: timeout_s 540, carry [".carry", ".whl"])
#   PYTHONUNBUFFERED=1 bash .ci/gpu_run.sh resume "$OUT" 200   (at once after, on the same warm machine)
# 15 minutes of device time in all: start-up (1-2 min) + 450 s + 200 s leaves a margin; then copy
# runs/gpu/fig6 from the bundle into results/fig6 and make the figure with python -m course_utils.plots.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .carry .whl
cp -u ../shared/data/cifar10-jpeg.tar.gz .carry/
python3 -m pip download --quiet --no-deps --only-binary=:all: -d .whl "tqdm==$(python3 -c 'import tqdm; print(tqdm.__version__)')"
ls -la .carry .whl
