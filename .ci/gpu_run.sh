#!/usr/bin/env bash
# The GPU run of the Fig. 6 reproduction, as one script. A GPU machine runs it twice; the CPU rehearsal (tests/test_gpu_run.py) runs
# exactly the same steps at smoke size:
#
#   bash .ci/gpu_run.sh start  OUT SECONDS   # report the machine, extract the data, probe + train the set
#                                            # under a time budget, bench if time is left, bundle into OUT
#   bash .ci/gpu_run.sh resume OUT SECONDS   # the same command again: resumes, skips finished runs,
#                                            # benches if not done yet, bundles again
#
# SECONDS is the wall time this command may use; training stops cleanly (every run checkpointed)
# with enough time left for the bench and the bundle. Everything the run writes goes to ignored
# folders (runs/gpu/, data/), so a second command on the same machine finds it.
# Environment: PROFILE (gpu | smoke, default gpu), SEEDS (default 0,1,2), TARBALL (the CIFAR-10 copy;
# default .carry/cifar10-jpeg.tar.gz, else ../shared/data/cifar10-jpeg.tar.gz), WORK (default runs/gpu),
# COURSE_DATA_DIR (default data), PYTHON (default python3), EXTRA_ARGS (more fig6 options).
set -euo pipefail
cd "$(dirname "$0")/.."

stage=${1:?usage: gpu_run.sh start|resume OUT SECONDS}
OUT=${2:?usage: gpu_run.sh start|resume OUT SECONDS}
SECONDS_LEFT=${3:?usage: gpu_run.sh start|resume OUT SECONDS}
PROFILE=${PROFILE:-gpu}
SEEDS=${SEEDS:-0,1,2}
WORK=${WORK:-runs/gpu}
PYTHON=${PYTHON:-python3}
export COURSE_DATA_DIR=${COURSE_DATA_DIR:-$PWD/data}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 COURSE_PROFILE=$PROFILE
t_start=$(date +%s)
mkdir -p "$OUT" "$WORK"
LOG="$WORK/gpu_run.log"
left() { echo $(( SECONDS_LEFT - ($(date +%s) - t_start) )); }
say() { echo "[gpu_run $stage $(date -u +%H:%M:%S), $(left) s left] $*" | tee -a "$LOG"; }

say "machine: $(uname -n), $(nproc) cores; python $($PYTHON -c 'import sys; print(sys.version.split()[0])')"
$PYTHON - <<'PY' 2>&1 | tee -a "$LOG"
import torch, torchvision
print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, cuda {torch.version.cuda}, "
      f"device: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu only'}")
PY
if ! $PYTHON -c "import tqdm" 2>/dev/null; then  # the device machine has its own packages; bring the pure-Python rest
  say "tqdm missing: installing the carried wheel(s) from .whl/"
  $PYTHON -m pip install --no-index --no-deps --quiet .whl/*.whl 2>&1 | tee -a "$LOG"
fi

# 1. the data: the offline CIFAR-10 copy, extracted once
if [ ! -d "$COURSE_DATA_DIR/cifar10" ]; then
  TARBALL=${TARBALL:-$( [ -f .carry/cifar10-jpeg.tar.gz ] && echo .carry/cifar10-jpeg.tar.gz || echo ../shared/data/cifar10-jpeg.tar.gz )}
  if [ -f "$TARBALL" ]; then
    mkdir -p "$COURSE_DATA_DIR" && tar -xzf "$TARBALL" -C "$COURSE_DATA_DIR"
    say "extracted $TARBALL into $COURSE_DATA_DIR"
  elif [ "$PROFILE" != smoke ]; then
    say "no CIFAR-10 tarball found ($TARBALL): cannot train"; exit 2
  else
    say "no tarball: the smoke rehearsal uses the synthetic stand-in"
  fi
fi

# 2. the set, in its fixed order, under the time budget (keep time back for bench and bundle)
reserve=$([ "$PROFILE" = smoke ] && echo 15 || echo 100)
budget=$(( $(left) - reserve ))
if [ "$budget" -gt 10 ]; then
  say "fig6: time budget $budget s"
  set +e
  probe=$([ "$stage" = start ] && echo --probe || echo "")  # the resume reuses the start's choice (probe.json)
  $PYTHON -m course_utils.experiments fig6 --profile "$PROFILE" --seeds "$SEEDS" --engine auto $probe \
    --time-budget "$budget" --out "$WORK/fig6" --no-progress ${EXTRA_ARGS:-} 2>&1 | tee -a "$WORK/fig6.log"
  rc=${PIPESTATUS[0]}
  set -e
  say "fig6 exited with $rc"
fi

# 3. the throughput benchmark, once, if time is left
bench_models=$([ "$PROFILE" = smoke ] && echo resnet20 || echo resnet20,resnet56,resnet18_cifar)
bench_steps=$([ "$PROFILE" = smoke ] && echo "--steps 2 --warmup 1 --workers 0 --batch-size 32" || echo "")
if ! ls "$WORK"/bench/bench-*.json >/dev/null 2>&1 && [ "$(left)" -gt $(( reserve / 2 )) ]; then
  say "bench: $bench_models"
  $PYTHON -m course_utils.bench --models "$bench_models" $bench_steps --out "$WORK/bench" 2>&1 | tee -a "$WORK/bench.log" || say "bench failed"
fi

# 4. one bundle with everything that has to come back
$PYTHON .ci/bundle.py "$WORK" "$OUT" 2>&1 | tee -a "$LOG"
cp "$LOG" "$OUT/" 2>/dev/null || true
say "done"
