"""The results contract: atomic writes, fp16 weights that load back, the committed-run loader."""

import json

import pytest
import torch

from course_utils import models, results
from course_utils.schedule import Schedule
from course_utils.train import HISTORY_KEYS


def _result(model: str, its: int = 3128, device: str = "cpu", seed: int = 0, prefix: bool = True) -> dict:
    """A result; by default one that passes as the CPU reference run (a prefix of the paper's schedule)."""
    return {
        "model": model,
        "seed": seed,
        "schedule": (Schedule().prefix(its) if prefix else Schedule().scaled(its)).to_dict(),
        "train_set": "all",
        "n_train_images": 50_000,
        "n_test_images": 10_000,
        "eval_every": 391,
        "data_source": "CIFAR-10, JPEG q75 mirror",
        "device": device,
        "wall_seconds": 1.0,
        "history": {
            "iteration": [its],
            "train_error": [10.0],
            "test_error": [12.0],
            "lr": [0.001],
            "train_loss": [0.3],
        },
    }


def _commit(folder, model, **kw):
    torch.manual_seed(0)
    net = models.get_model(model)
    results.save_weights(folder / "weights" / f"{model}-s0.pt", net)
    results.write_json(folder / f"{model}-s0.json", _result(model, **kw))
    return net


def test_write_json_is_atomic(tmp_path):
    path = results.write_json(tmp_path / "a" / "r.json", {"x": [1, 2.5]})
    assert json.loads(path.read_text()) == {"x": [1, 2.5]} and [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_fp16_weights_are_small_and_load_back_as_fp32(tmp_path):
    net = _commit(tmp_path, "resnet56")
    path = tmp_path / "weights" / "resnet56-s0.pt"
    assert path.stat().st_size < 2_000_000  # 853,018 parameters in fp16: the 2 MB limit of a committed net
    raw = torch.load(path, weights_only=True)
    assert raw["fc.weight"].dtype == torch.float16 and raw["bn1.num_batches_tracked"].dtype == torch.int64
    back = results.load_weights("resnet56", folder=tmp_path)
    assert not back.training
    for k, v in net.state_dict().items():
        torch.testing.assert_close(back.state_dict()[k], v.to(torch.float16).to(v.dtype), rtol=0, atol=0)


def test_load_results_skips_files_that_break_the_contract(tmp_path):
    results.write_json(tmp_path / "resnet20-s0.json", _result("resnet20"))
    results.write_json(tmp_path / "resnet20-s1.json", _result("resnet20", seed=1))
    results.write_json(tmp_path / "plain20-s0.json", {"model": "plain20", "seed": 0})  # no history, no schedule
    assert list(results.load_results(tmp_path)) == ["resnet20"]
    assert sorted(results.load_results(tmp_path, seed=None)) == ["resnet20-s0", "resnet20-s1"]
    assert results.missing_fields({"model": "x"})[:2] == ["seed", "schedule"]
    assert results.load_results(tmp_path / "absent") == {}


def test_committed_fig6_prefers_the_gpu_run_and_needs_every_net(tmp_path):
    pair = ("plain20", "resnet20")
    assert results.committed_fig6(pair, root=tmp_path) is None
    for m in pair:
        _commit(tmp_path / "fig6-cpu", m)
    folder, found = results.committed_fig6(pair, root=tmp_path, need_weights=True)
    assert folder.name == "fig6-cpu" and list(found) == list(pair)
    _commit(tmp_path / "fig6", "resnet20", its=64_000, device="NVIDIA H100")  # only one of the pair
    assert results.committed_fig6(pair, root=tmp_path)[0].name == "fig6-cpu"
    _commit(tmp_path / "fig6", "plain20", its=64_000, device="NVIDIA H100")
    folder, found = results.committed_fig6(pair, root=tmp_path)
    assert folder.name == "fig6" and found["plain20"]["device"] == "NVIDIA H100"
    (tmp_path / "fig6" / "weights" / "plain20-s0.pt").unlink()
    assert results.committed_fig6(pair, root=tmp_path, need_weights=True)[0].name == "fig6-cpu"


def test_a_folder_counts_only_as_what_its_results_say(tmp_path):
    pair = ("plain20", "resnet20")
    for m in pair:  # a laptop run (cpu, a squeezed 800-iteration schedule) where the GPU run belongs
        _commit(tmp_path / "fig6", m, its=800, prefix=False)
        _commit(tmp_path / "fig6-cpu", m, its=800, prefix=False)  # and a squeezed run as the CPU reference
    assert results.committed_fig6(pair, root=tmp_path) is None
    assert "not the paper's whole schedule" in results.folder_problem("fig6", _result("plain20"))
    assert results.folder_problem("fig6", _result("plain20", its=64_000, device="cpu")) is None  # any device
    split = dict(_result("plain20", its=64_000), train_set="split")  # 45k images: not the reported models
    assert "not the paper's whole schedule" in results.folder_problem("fig6", split)
    assert "not a prefix" in results.folder_problem("fig6-cpu", _result("plain20", its=800, prefix=False))
    assert results.folder_problem("fig6-cpu", _result("plain20")) is None
    assert results.folder_problem("fig6", _result("plain20", its=64_000, device="NVIDIA H200")) is None
    assert "not a prefix" in results.folder_problem("fig6-cpu", dict(_result("plain20"), n_test_images=2000))
    assert "not a committed fig6 folder" in results.folder_problem("mine", _result("plain20"))


def _sidecar(model: str, its: int, done: int, records: list[tuple[str, str]]) -> dict:
    r = _result(model, its=its)
    n = len(records)
    r["history"] = {
        "iteration": [391 * (i + 1) for i in range(n)],
        "train_error": [50.0] * n,
        "test_error": [55.0] * n,
        "lr": [0.1] * n,
        "train_loss": [1.5] * n,
        "device": [d for d, _ in records],
        "variant": [v for _, v in records],
    }
    return dict(r, finished=False, iteration=done)


def test_in_progress_reads_the_sidecars_of_runs_under_way_and_says_how_far(tmp_path):
    cpu = "cpu (AMD EPYC)"
    side = _sidecar("resnet20", 64_000, 1_200, [(cpu, "eager"), (cpu, "bf16"), (cpu, "bf16")])
    results.write_json(tmp_path / "fig6-state" / "resnet20-s0.json", side)
    results.write_json(tmp_path / "fig6-state" / "plain20-s0.json", _sidecar("plain20", 3128, 782, [(cpu, "eager")]))
    found = results.in_progress(("plain20", "resnet20", "plain56"), root=tmp_path)
    assert list(found) == ["resnet20"]  # plain20: not the whole schedule; plain56: not started
    assert results.reached(found["resnet20"]) == "1,200 of 64,000 iterations, cpu (AMD EPYC) fp32, cpu (AMD EPYC) bf16"
    _commit(tmp_path / "fig6", "resnet20", its=64_000)  # finished since: no longer in progress
    assert results.in_progress(("resnet20",), root=tmp_path) == {}


def test_describe_says_where_how_long_and_on_what():
    line = results.describe(_result("resnet56", its=3000))
    assert line == "3,000 iterations on cpu, 50,000 training images, data: CIFAR-10, JPEG q75 mirror"
    assert results.describe(_result("resnet56"), results.results_dir("fig6-cpu")).startswith("results/fig6-cpu: ")


def test_result_type_documents_every_required_field():
    assert set(results.REQUIRED) <= set(results.RunResult.__annotations__)
    assert set(results.History.__annotations__) == set(HISTORY_KEYS)  # every list the trainer writes
    with pytest.raises(KeyError):
        results.describe({"model": "x"})


def test_bn_statistics_and_large_values_stay_fp32(tmp_path):
    # plain-56's BN running variances reached 1e6 in the CPU reference run: fp16 would store inf
    torch.manual_seed(0)
    net = models.get_model("plain20")
    with torch.no_grad():
        net.bn1.running_var.fill_(1.0e6)
        net.fc.bias.fill_(1.0e5)
    results.save_weights(tmp_path / "w.pt", net)
    raw = torch.load(tmp_path / "w.pt", weights_only=True)
    assert raw["bn1.running_var"].dtype == torch.float32 and raw["fc.bias"].dtype == torch.float32
    assert raw["conv1.weight"].dtype == torch.float16
    back = results.load_state_dict(tmp_path / "w.pt")
    assert all(torch.isfinite(v.float()).all() for v in back.values())
    assert torch.equal(back["bn1.running_var"], net.bn1.running_var)
