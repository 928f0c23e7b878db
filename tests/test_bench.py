"""The throughput benchmark: what it times, how it computes img/s, what it writes, its CLI."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision.transforms as T

from course_utils import bench, cpu, data, models
from course_utils.transforms import CHANNEL_MEAN, CHANNEL_STD, dataloader_transform


@pytest.fixture(scope="module")
def tiny():
    return data.synthetic_cifar10(n_train=64, n_test=10)


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Ticking:
    """A controlled clock: each reading is ``tick`` seconds after the previous one."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


# ----------------------------------------------------------------------------- run_bench
@pytest.mark.slow
def test_run_bench_through_its_real_code_with_a_controlled_clock(tiny, tmp_path, monkeypatch, one_thread):
    monkeypatch.chdir(tmp_path)
    r = bench.run_bench(
        "plain20", device="cpu", batch_size=8, steps=2, warmup=1, num_workers=0, variant="eager", data=tiny,
        clock=Ticking(0.5),
    )  # fmt: skip
    # each pipeline reads the clock twice around its timed steps: 0.5 s for 2 steps x 8 images = 32 img/s
    assert (r["ours_img_s"], r["baseline_img_s"], r["nchw_img_s"]) == (32.0, 32.0, 32.0)
    assert (r["speedup"], r["channels_last_speedup"]) == (1.0, 1.0)
    assert (r["fp32_img_s"], r["bf16_img_s"], r["bf16_speedup"]) == (32.0, 32.0, 1.0)  # both timed, same run
    assert (r["processor"], r["cpu_flags"], r["native_bf16"]) == (cpu.processor(), cpu.flags(), cpu.native_bf16())
    assert r["pair_img_s"] > 0 and r["pair_speedup"] == pytest.approx(r["pair_img_s"] / 32.0, abs=2e-3)  # processes
    assert r["variant"] == "eager" and "engine" not in r
    assert (r["model"], r["device"], r["device_type"], r["batch_size"], r["steps"], r["warmup"], r["num_workers"]) == (
        "plain20", "cpu", "cpu", 8, 2, 1, 0,
    )  # fmt: skip
    assert r["data_source"] == data.SOURCES["synthetic"] and r["torch_threads"] == 1
    assert list(tmp_path.iterdir()) == []  # measuring writes nothing; write_bench does


@pytest.mark.slow
def test_run_bench_cpu_defaults_and_data(monkeypatch, one_thread):
    asked = []

    def bench_data(n_train):
        asked.append(n_train)
        return data.synthetic_cifar10(n_train=n_train, n_test=10)

    monkeypatch.setattr(bench, "_bench_data", bench_data)
    monkeypatch.setattr(bench, "default_workers", lambda device: 0)
    monkeypatch.setattr(bench, "_time_pair", lambda *a: 1.0)  # two processes: timed in the test above
    r = bench.run_bench("plain20", device="cpu", batch_size=4, clock=Ticking(2.0))
    assert (r["steps"], r["warmup"], r["num_workers"]) == (10, 2, 0)  # the CPU defaults
    assert asked == [4 * (10 + 2)]  # enough images for every step when no data is given
    assert r["ours_img_s"] == 10 * 4 / 2.0 and r["pair_img_s"] == 2 * 10 * 4 / 1.0


# ----------------------------------------------------------------------------- default_workers
@pytest.mark.parametrize(
    "device,cores,workers",
    [
        ("cuda", 16, 8),
        ("cuda", 64, 8),
        ("cuda", 4, 4),
        ("cuda", 1, 1),
        ("cuda", None, 1),  # up to 8 feed a GPU
        ("cpu", 2, 1),
        ("cpu", 3, 1),
        ("cpu", 4, 2),
        ("cpu", 16, 2),
        ("cpu", 1, 1),
        ("cpu", None, 1),  # a core left
    ],
)
def test_default_workers_follows_its_docstring(monkeypatch, device, cores, workers):
    monkeypatch.setattr(bench.os, "cpu_count", lambda: cores)
    assert bench.default_workers(torch.device(device)) == workers


# ----------------------------------------------------------------------------- the baseline pipeline
def test_dataloader_transform_augments_only_for_training():
    kinds = {train: [type(t) for t in dataloader_transform(train).transforms] for train in (True, False)}
    assert kinds[True] == [T.RandomCrop, T.RandomHorizontalFlip, T.ToTensor, T.Normalize]
    assert kinds[False] == [T.ToTensor, T.Normalize]
    crop, flip, _, norm = dataloader_transform(True).transforms
    assert crop.size == (32, 32) and crop.padding == 4 and flip.p == 0.5  # the paper's pad-4 crop + mirror
    assert tuple(norm.mean) == CHANNEL_MEAN and tuple(norm.std) == CHANNEL_STD


# ----------------------------------------------------------------------------- write_bench
def test_write_bench_writes_the_documented_structure(tmp_path):
    runs = [
        {"device": "NVIDIA H100", "device_type": "cuda", "model": m, "speedup": s}
        for m, s in (("resnet20", 3.5), ("resnet56", 2.25))
    ]
    path = bench.write_bench(runs, tmp_path / "new" / "folder")
    assert path == tmp_path / "new" / "folder" / "bench-cuda.json"
    assert json.loads(path.read_text(encoding="utf-8")) == {"device": "NVIDIA H100", "runs": runs}
    cpu = bench.write_bench([{"device": "cpu", "device_type": "cpu", "model": "plain20"}], tmp_path)
    assert cpu.name == "bench-cpu.json" and json.loads(cpu.read_text())["runs"][0]["model"] == "plain20"


# ----------------------------------------------------------------------------- the CLI
@pytest.fixture
def cli(monkeypatch, one_thread):
    """``bench.main`` in this process, on the synthetic stand-in; the two processes of the pair are timed
    through their real code in the run_bench test above."""
    monkeypatch.setattr(bench, "_bench_data", lambda n_train: data.synthetic_cifar10(n_train=n_train, n_test=10))
    monkeypatch.setattr(bench, "_time_pair", lambda case, variant: 1.0)
    monkeypatch.setattr(cpu, "native_bf16", lambda: False)  # auto: fp32 (no probe, whose timing could pick bf16)
    return bench.main


@pytest.mark.slow
def test_bench_cli_runs_on_cpu_and_writes_its_file(tmp_path, cli, capsys):
    out = tmp_path / "out"
    args = "--models resnet20 --device cpu --batch-size 32 --steps 2 --warmup 1 --workers 0 --out"
    assert cli([*args.split(), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "speedup" in printed and "img/s" in printed and "pair" in printed and str(out / "bench-cpu.json") in printed
    assert "bf16" in printed and "native bf16: no" in printed
    written = json.loads((out / "bench-cpu.json").read_text())
    assert written["device"] == "cpu" and len(written["runs"]) == 1
    r = written["runs"][0]
    assert r["model"] == "resnet20" and r["variant"] == "eager"
    assert (r["batch_size"], r["steps"], r["warmup"], r["num_workers"]) == (32, 2, 1, 0)
    assert r["data_source"] == data.SOURCES["synthetic"] and r["pair_img_s"] == 2 * 2 * 32 / 1.0
    for key in ("ours_img_s", "baseline_img_s", "speedup", "nchw_img_s", "pair_img_s", "torch_version", "date"):
        assert key in r, key


def test_bench_cli_rejects_unknown_names(tmp_path, cli, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli(["--models", "resnet20,resnet21", "--device", "cpu", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "resnet21" in err
    assert all(name in err for name in models.MODEL_NAMES), err  # lists the choices
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit) as exit_:
        cli(["--models", "resnet20", "--variant", "turbo", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "turbo" in err and "graphs" in err
