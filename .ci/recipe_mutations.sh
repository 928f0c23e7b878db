#!/bin/bash
# apply one recipe break at a time to course_utils/train.py, run the training tests, restore
cd /work/main
declare -A BREAKS=(
 [no_weight_decay]='s/weight_decay=schedule.weight_decay, fused/weight_decay=0.0, fused/'
 [no_momentum]='s/lr=schedule.lr_at(0), momentum=schedule.momentum,/lr=schedule.lr_at(0), momentum=0.0,/'
 [frozen_lr]='s/        for g in self.opt.param_groups:\n            g\["lr"\] = lr//;s/            g\["lr"\] = lr/            pass/'
 [per_channel_default]='s/deterministic: bool = False, normalization: str = "per_pixel") -> None:/deterministic: bool = False, normalization: str = "per_channel") -> None:/'
)
for name in no_weight_decay no_momentum frozen_lr per_channel_default; do
  cp course_utils/train.py /tmp/train.bak
  sed -i "${BREAKS[$name]}" course_utils/train.py
  if cmp -s course_utils/train.py /tmp/train.bak; then echo "$name: sed did not apply"; continue; fi
  out=$(OMP_NUM_THREADS=1 python -m pytest -q tests/test_train.py -p no:randomly 2>&1 | grep -E "^FAILED|passed|failed" | sed 's/ - .*//')
  echo "== $name"; echo "$out"
  cp /tmp/train.bak course_utils/train.py
done
git diff --stat course_utils/train.py
