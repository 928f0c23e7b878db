"""Trained networks for notebooks 05-07: committed GPU run, else the CPU reference run, else a live run."""

import pytest
import torch

from course_utils import data as cdata
from course_utils import experiments, results
from course_utils.profile import get_profile
from course_utils.schedule import Schedule


@pytest.fixture(scope="module")
def cifar():
    return cdata.synthetic_cifar10(n_train=300, n_test=40)


def _commit(folder, net, result, its, device):
    """Write ``result`` as a committed run: the whole schedule on all images (here on a GPU), or the CPU
    reference run (a prefix of the paper's schedule on all images, the whole test set every 391 iterations)."""
    results.save_weights(folder / "weights" / f"{result['model']}-s0.pt", net)
    if device == "cpu":
        sched = Schedule().prefix(its)
        res = dict(result, train_set="all", n_test_images=10_000, eval_every=results.REFERENCE_EVAL_EVERY)
    else:
        sched, res = Schedule().scaled(its), dict(result, train_set="all")
    results.write_json(folder / f"{result['model']}-s0.json", dict(res, schedule=sched.to_dict(), device=device))


@pytest.mark.slow
def test_sources_in_order_gpu_then_reference_then_live(cifar, tmp_path):
    prof = get_profile("smoke", "cpu")
    kw = dict(profile=prof, iterations=2, progress=False, root=tmp_path / "results", cache=tmp_path / "runs")
    pair = ("plain20", "resnet20")
    live = experiments.trained_networks(pair, cifar, **kw)  # nothing committed: trained now
    assert all(n.source.startswith("trained just now: 2 iterations on cpu") for n in live.values())
    assert all(not n.model.training and n.iterations == 2 for n in live.values())
    again = experiments.trained_networks(pair, cifar, **kw)  # the notebook's own earlier run
    assert all(n.source.startswith("live run cached") for n in again.values())
    for n in pair:
        a, b = live[n].model.state_dict(), again[n].model.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    imgs = cifar.test_images[:4]
    assert torch.equal(live["resnet20"].normalizer(imgs), again["resnet20"].normalizer(imgs))

    for n in pair:  # the CPU reference run comes before any live run
        _commit(tmp_path / "results" / "fig6-cpu", live[n].model, live[n].result, 3128, "cpu")
    ref = experiments.trained_networks(pair, cifar, **kw)
    assert all("fig6-cpu: 3,128 iterations on cpu" in n.source for n in ref.values()), [n.source for n in ref.values()]
    assert all(n.iterations == 3128 for n in ref.values())
    # a squeezed schedule (lr drops moved inside 3,000 iterations) is not the reference run: a live run instead
    squeezed = tmp_path / "results" / "fig6-cpu" / "plain20-s0.json"
    results.write_json(squeezed, dict(results.read_json(squeezed), schedule=Schedule().scaled(3000).to_dict()))
    assert "fig6-cpu" not in experiments.trained_networks(pair, cifar, **kw)["plain20"].source
    _commit(tmp_path / "results" / "fig6-cpu", live["plain20"].model, live["plain20"].result, 3128, "cpu")
    _commit(tmp_path / "results" / "fig6", live["resnet20"].model, live["resnet20"].result, 64_000, "NVIDIA H100")
    assert all("fig6-cpu" in n.source for n in experiments.trained_networks(pair, cifar, **kw).values())
    _commit(tmp_path / "results" / "fig6", live["plain20"].model, live["plain20"].result, 64_000, "NVIDIA H100")
    gpu = experiments.trained_networks(pair, cifar, **kw)  # both in the GPU run: it wins
    assert all("fig6: 64,000 iterations on NVIDIA H100" in n.source for n in gpu.values())
    # fp16 on disk, the same predictions up to fp16 rounding of the weights
    x = live["resnet20"].normalizer(imgs)
    torch.testing.assert_close(gpu["resnet20"].model(x), live["resnet20"].model.eval()(x), atol=2e-2, rtol=2e-2)


def test_normalizer_uses_the_images_the_run_trained_on(cifar):
    split = {"model": "resnet20", "normalization": "per_pixel", "train_set": "split", "n_train_images": 270}
    whole = dict(split, train_set="all", n_train_images=300)
    imgs = cifar.test_images[:2]
    a, b = experiments.normalizer_for(split, cifar), experiments.normalizer_for(whole, cifar)
    assert torch.allclose(b(imgs), imgs.float() / 255 - cifar.train_images.double().mean(0).float() / 255, atol=1e-6)
    assert not torch.allclose(a(imgs), b(imgs))  # 270 of the split vs all 300: another mean


def test_the_committed_reference_run_is_found_from_the_repository():
    # no patched root: the real lookup notebook 07 uses finds the committed CPU reference run
    found = results.committed_fig6(("plain56", "resnet56"), need_weights=True)
    assert found is not None and found[0] in (results.results_dir("fig6"), results.results_dir("fig6-cpu"))
    for r in found[1].values():
        assert r["n_train_images"] == 50_000 and r["schedule"]["iterations"] >= 3128
