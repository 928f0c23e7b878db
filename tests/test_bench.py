"""The throughput benchmark runs on the CPU and writes its file."""
import json
import os
import subprocess
import sys

import torch

from course_utils import bench, data


def test_bench_cli_runs_on_cpu_and_writes_its_file(tmp_path):
    env = os.environ | {"COURSE_DATA_DIR": str(tmp_path / "no_data")}  # synthetic stand-in
    cmd = [sys.executable, "-m", "course_utils.bench", "--model", "resnet20", "--device", "cpu",
           "--batch-size", "32", "--steps", "2", "--warmup", "1", "--out", str(tmp_path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "speedup" in done.stdout and "img/s" in done.stdout
    r = json.loads((tmp_path / "bench-cpu.json").read_text())
    for key in ("device", "model", "ours_img_s", "baseline_img_s", "speedup", "batch_size", "steps",
                "torch_version", "date"):
        assert key in r, key
    assert r["device"] == "cpu" and r["model"] == "resnet20" and r["batch_size"] == 32 and r["steps"] == 2
    assert r["ours_img_s"] > 0 and r["baseline_img_s"] > 0
    assert abs(r["speedup"] - r["ours_img_s"] / r["baseline_img_s"]) < 0.01
    assert r["data_source"] == data.SOURCES["synthetic"]


def test_run_bench_in_process_without_writing():
    d = data.synthetic_cifar10(n_train=400, n_test=10)
    r = bench.run_bench("plain20", device="cpu", batch_size=16, steps=2, warmup=1, num_workers=0, data=d, out=None)
    assert "file" not in r and r["num_workers"] == 0 and r["speedup"] > 0
    assert bench.default_workers(torch.device("cpu")) >= 1
