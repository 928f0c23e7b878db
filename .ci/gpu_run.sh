#!/usr/bin/env bash
# The GPU run of the Fig. 6 set: ONE command per device lease, of at most SECONDS of wall time.
#
#   bash .ci/gpu_run.sh OUT SECONDS
#
# 1. report the machine; 2. extract the CIFAR-10 copy; 3. bring in what earlier stretches finished
# (results/fig6/) and the training state of their unfinished runs (results/fig6-state/: the same runs
# the CPU carries forward between leases); 4. the gpu
# tests (about 30 s); 5. fig6 under a time limit that ends END_S seconds before SECONDS (the probe,
# graphs checked against eager over 5 steps, takes a few seconds of it); 6. bundle into OUT: results,
# summary, logs, fp16 weights, and the full state of every unfinished run (python .ci/bundle.py);
# 7. only then, if no benchmark of this device kind is committed yet and time is left, the bench,
# capped by `timeout`. Back on the development machine, `python .ci/bundle.py land OUT` puts the
# results into results/fig6/ and the state into results/fig6-state/, to be committed: the next lease,
# on a fresh machine, resumes from there. tests/test_gpu_run.py rehearses this script on the CPU.
#
# Environment: PROFILE (gpu | smoke, default gpu), SEEDS (default 0,1,2), MODELS (default: every net of
# the set in the order of work), END_S (default 40), TRAIN_S (at most this many seconds of fig6),
# TARBALL (default .carry/cifar10-jpeg.tar.gz, else ../shared/data/cifar10-jpeg.tar.gz), WORK (default
# runs/gpu), BENCH (auto | force | off), GPU_TESTS (on | off), PYTHON (default python3), EXTRA_ARGS
# (more fig6 options).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:?usage: gpu_run.sh OUT SECONDS}
TOTAL=${2:?usage: gpu_run.sh OUT SECONDS}
PROFILE=${PROFILE:-gpu}
SEEDS=${SEEDS:-0,1,2}
MODELS=${MODELS:-plain20,resnet20,plain56,resnet56,resnet18_cifar,plain32,resnet32,plain44,resnet44,resnet110}
END_S=${END_S:-40}
WORK=${WORK:-runs/gpu}
PYTHON=${PYTHON:-python3}
export COURSE_DATA_DIR=${COURSE_DATA_DIR:-$PWD/data}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 COURSE_PROFILE=$PROFILE
t_start=$(date +%s)
mkdir -p "$OUT" "$WORK/fig6/checkpoints"
LOG="$OUT/gpu_run.log"
left() { echo $(( TOTAL - ($(date +%s) - t_start) )); }
say() { echo "[gpu_run $(date -u +%H:%M:%S), $(left) s left] $*" | tee -a "$LOG"; }

# 1. the machine
say "machine: $(uname -n), $(nproc) cores; python $($PYTHON -c 'import sys; print(sys.version.split()[0])')"
about=$($PYTHON - <<'PY' 2>&1
import torch, torchvision
print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, cuda {torch.version.cuda}, "
      f"device: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu only'}")
print("cuda" if torch.cuda.is_available() else "cpu")  # the device kind, read below (one torch import, not two)
PY
)
echo "$about" | sed '$d' | tee -a "$LOG"
kind=$(echo "$about" | tail -n 1)
if ! $PYTHON -c "import tqdm" 2>/dev/null; then  # the device machine has its own packages; bring the pure-Python rest
  say "tqdm missing: installing the carried wheel(s) from .whl/"
  $PYTHON -m pip install --no-index --no-deps --quiet .whl/*.whl 2>&1 | tee -a "$LOG"
fi

# 2. the data: the offline CIFAR-10 copy
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

# 3. what earlier leases brought back: finished runs are skipped, unfinished ones resume
if [ -d results/fig6 ]; then cp -r results/fig6/. "$WORK/fig6/"; fi
if [ -d results/fig6-state ]; then
  cp results/fig6-state/*.pt results/fig6-state/*.json "$WORK/fig6/checkpoints/" 2>/dev/null || true
  say "state carried in: $(ls results/fig6-state | tr '\n' ' ')"
fi

# 4. the gpu tests (nbval is not on the device machine: no addopts)
if [ "${GPU_TESTS:-on}" != off ]; then
  say "gpu tests"
  set +e
  timeout 90 $PYTHON -m pytest -o addopts="" -p no:cacheprovider -m gpu -q $(grep -l "mark.gpu" tests/test_*.py) 2>&1 \
    | tail -n 30 | tee "$WORK/fig6/gpu_tests.log"
  say "gpu tests exited with ${PIPESTATUS[0]}"
  set -e
fi

# 5. the set under the time limit
limit=$(( $(left) - END_S ))
if [ -n "${TRAIN_S:-}" ] && [ "$TRAIN_S" -lt "$limit" ]; then limit=$TRAIN_S; fi  # a shorter lease, to rehearse
if [ "$limit" -gt 3 ]; then
  say "fig6: time limit $limit s"
  set +e
  $PYTHON -m course_utils.experiments fig6 --profile "$PROFILE" --models "$MODELS" --seeds "$SEEDS" \
    --variant auto --time-limit "$limit" --out "$WORK/fig6" --no-progress ${EXTRA_ARGS:-} 2>&1 | tee "$WORK/fig6/fig6.log"
  say "fig6 exited with ${PIPESTATUS[0]}"
  set -e
fi

# 6. the bundle: everything that has to come back
cp "$LOG" "$WORK/fig6/gpu_run.log"
$PYTHON .ci/bundle.py pack "$WORK/fig6" "$OUT" 2>&1 | tee -a "$LOG"

# 7. the benchmark, once per device kind, capped so that the bundle above is never lost
cap=$(( $(left) - 10 ))
if [ "${BENCH:-auto}" != off ] && { [ "${BENCH:-auto}" = force ] || [ ! -f "results/bench/bench-$kind.json" ]; } && [ "$cap" -gt 30 ]; then
  bench_args=$([ "$PROFILE" = smoke ] && echo "--models resnet20 --steps 2 --warmup 1 --workers 0 --batch-size 32" \
    || echo "--models resnet20,resnet56,resnet18_cifar")
  say "bench (at most $cap s): $bench_args"
  timeout "$cap" $PYTHON -m course_utils.bench $bench_args --out "$OUT" 2>&1 | tee -a "$LOG" || say "bench stopped or failed"
fi
say "done"
