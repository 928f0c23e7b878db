"""Transfer helpers: class subsets, few-label draws, new heads, a frozen backbone, an offline cache lookup,
and the input normalisation that belongs to the weights (ImageNet's when cached, CIFAR's otherwise)."""

from __future__ import annotations

import time

import pytest
import torch
import torchvision

from course_utils import data, models, transfer
from course_utils.transforms import CHANNEL_MEAN, CHANNEL_STD


@pytest.fixture(scope="module")
def synth():
    return data.synthetic_cifar10(400, 100)


def test_class_subset_relabels_in_order(synth):
    sub = transfer.class_subset(synth, transfer.TARGET_CLASSES)
    assert sub.classes == ("dog", "frog", "horse", "ship", "truck")
    assert sorted(sub.train_labels.unique().tolist()) == [0, 1, 2, 3, 4]
    keep = (synth.train_labels >= 5).nonzero().flatten()
    torch.testing.assert_close(sub.train_images, synth.train_images[keep])
    torch.testing.assert_close(sub.train_labels, synth.train_labels[keep] - 5)


def test_few_labels_draws_per_class_and_is_fixed(synth):
    idx = transfer.few_labels(synth.train_labels, 7, seed=1)
    assert torch.bincount(synth.train_labels[idx]).tolist() == [7] * 10
    assert torch.equal(idx, transfer.few_labels(synth.train_labels, 7, seed=1))
    assert not torch.equal(idx, transfer.few_labels(synth.train_labels, 7, seed=2))
    with pytest.raises(ValueError, match="fewer"):
        transfer.few_labels(synth.train_labels, 1000)


def test_replace_head_on_torchvision_resnet18():
    net = torchvision.models.resnet18(weights=None)
    body = {k: v.clone() for k, v in net.state_dict().items() if not k.startswith("fc.")}
    transfer.replace_head(net, 10)
    assert (net.fc.in_features, net.fc.out_features) == (512, 10)
    assert net.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in body.items())
    with pytest.raises(TypeError, match="Linear"):
        transfer.replace_head(net, 3, attr="layer4")


def test_frozen_backbone_stays_bit_for_bit_unchanged(synth):
    torch.manual_seed(0)
    net = transfer.replace_head(models.resnet_cifar(8, num_classes=5), 5)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    sub = transfer.class_subset(synth, transfer.TARGET_CLASSES)
    losses = transfer.fine_tune(net, sub.train_images, sub.train_labels, mode="frozen", iterations=5, lr=0.1)
    after = net.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"fc.weight", "fc.bias"}  # BN running stats included: BN stayed in eval mode
    assert len(losses) == 5


def test_frozen_with_bn_in_train_mode_moves_the_running_stats(synth):
    net = models.resnet_cifar(8, num_classes=5)
    before = net.bn1.running_mean.clone()
    sub = transfer.class_subset(synth, transfer.TARGET_CLASSES)
    transfer.fine_tune(
        net, sub.train_images, sub.train_labels, mode="frozen", iterations=2, lr=0.1, bn_frozen_eval=False
    )
    assert not torch.equal(before, net.bn1.running_mean)
    assert not net.conv1.weight.requires_grad


def test_finetune_changes_the_backbone(synth):
    net = models.resnet_cifar(8, num_classes=5)
    w = net.conv1.weight.clone()
    sub = transfer.class_subset(synth, transfer.TARGET_CLASSES)
    transfer.fine_tune(net, sub.train_images, sub.train_labels, mode="finetune", iterations=2, lr=0.1)
    assert not torch.equal(w, net.conv1.weight)
    with pytest.raises(ValueError, match="mode"):
        transfer.fine_tune(net, sub.train_images, sub.train_labels, mode="linear", iterations=1, lr=0.1)


def test_head_lr_gives_the_head_its_own_learning_rate(synth):
    sub = transfer.class_subset(synth, transfer.TARGET_CLASSES)
    for lr, head_lr in ((0.0, 0.1), (0.1, 0.0)):  # one group at lr 0 must not move at all
        net = transfer.replace_head(models.resnet_cifar(8, num_classes=5), 5)
        conv, fc = net.conv1.weight.clone(), net.fc.weight.clone()
        transfer.fine_tune(
            net, sub.train_images, sub.train_labels, mode="finetune", iterations=2, lr=lr, head_lr=head_lr
        )
        assert torch.equal(conv, net.conv1.weight) == (lr == 0.0)
        assert torch.equal(fc, net.fc.weight) == (head_lr == 0.0)


def test_cache_lookup_is_offline_fast_and_finds_a_planted_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    t0 = time.perf_counter()
    assert transfer.cached_imagenet_weights("resnet18") is None
    with pytest.raises(FileNotFoundError, match="never downloads"):
        transfer.cached_imagenet_weights("resnet18", required=True)
    assert time.perf_counter() - t0 < 1.0
    name = torchvision.models.ResNet18_Weights.DEFAULT.url.rsplit("/", 1)[1]
    planted = tmp_path / "hub" / "checkpoints" / name
    planted.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), planted)
    assert transfer.cached_imagenet_weights("resnet18") == planted
    net, _, where = transfer.imagenet_resnet18(5)
    assert str(planted) in where and net.fc.out_features == 5


IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # torchvision's published preprocessing


def test_weights_normalizer_is_what_torchvisions_own_transforms_compute():
    t = torchvision.models.ResNet18_Weights.DEFAULT.transforms()
    assert (tuple(t.mean), tuple(t.std)) == (IMAGENET_MEAN, IMAGENET_STD)
    norm = transfer.weights_normalizer("resnet18")
    # a 256x256 image passes torchvision's resize 256 unchanged and is centre-cropped to 224: only the
    # normalisation is left to compare, and it must match to the last bit
    x = torch.randint(0, 256, (2, 3, 256, 256), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(norm(x)[..., 16:240, 16:240], t(x), rtol=0, atol=0)
    assert norm(x[..., :32, :32]).shape == (2, 3, 32, 32)  # no resize: a CIFAR image stays 32x32


def _plant_resnet18(tmp_path, monkeypatch) -> dict:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # the hub dir, and so the cache, inside tmp_path
    torch.manual_seed(1)
    state = torchvision.models.resnet18(weights=None).state_dict()
    name = torchvision.models.ResNet18_Weights.DEFAULT.url.rsplit("/", 1)[1]
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(state, tmp_path / "hub" / "checkpoints" / name)
    return state


def _inputs_seen(net) -> list[torch.Tensor]:
    seen = []
    net.register_forward_pre_hook(lambda _, args: seen.append(args[0].detach().clone()))
    return seen


def test_cached_weights_come_with_imagenet_normalisation_end_to_end(tmp_path, monkeypatch, synth):
    state = _plant_resnet18(tmp_path, monkeypatch)
    net, norm, where = transfer.imagenet_resnet18(5)
    assert torch.equal(net.conv1.weight, state["conv1.weight"]) and "ImageNet mean/std" in where
    assert torch.equal(norm.mean.flatten(), torch.tensor(IMAGENET_MEAN))
    assert torch.equal(norm.std.flatten(), torch.tensor(IMAGENET_STD))
    seen = _inputs_seen(net)
    x, y = synth.train_images[:16], synth.train_labels[:16] % 5
    transfer.fine_tune(net, x, y, mode="frozen", iterations=2, lr=0.1, batch_size=8, normalizer=norm)
    mean, std = (torch.tensor(v).reshape(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    for batch in seen:  # undone with ImageNet's mean/std, every input is back on the uint8 grid k / 255
        k = (batch * std + mean) * 255
        torch.testing.assert_close(k, k.round().clamp(0, 255), rtol=0, atol=1e-3)
    seen.clear()
    err = transfer.test_error(net, x, y, normalizer=norm)
    want = (x.float() / 255 - mean) / std  # written out: no crop, no flip at test time
    torch.testing.assert_close(torch.cat(seen), want)
    with torch.no_grad():
        wrong = net.eval()(want).argmax(1) != y
    assert err == pytest.approx(100.0 * wrong.float().mean().item())


def test_random_init_keeps_the_cifar_normalisation(tmp_path, monkeypatch, synth):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache
    net, norm, where = transfer.imagenet_resnet18(5)
    assert where.startswith("random init") and "CIFAR mean/std" in where
    assert torch.equal(norm.mean.flatten(), torch.tensor(CHANNEL_MEAN))
    assert torch.equal(norm.std.flatten(), torch.tensor(CHANNEL_STD))
    x, y = synth.test_images[:8], synth.test_labels[:8] % 5
    assert transfer.test_error(net, x, y, normalizer=norm) == transfer.test_error(net, x, y)  # None: CIFAR's


@pytest.mark.slow
def test_source_round_trip(tmp_path, synth):
    r = transfer.pretrain_source(synth, tmp_path, iterations=3, progress=False)
    assert r["model"] == transfer.SOURCE_NAME and r["n_train_images"] == int((synth.train_labels < 5).sum())
    net, result = transfer.load_source(tmp_path)
    assert net.fc.out_features == 5 and result["classes"][0] == "airplane"
    assert transfer.load_source(tmp_path / "nothing") is None
    x, y = synth.test_images[:20], synth.test_labels[:20] % 5
    mean, std = (torch.tensor(v).reshape(3, 1, 1) for v in (CHANNEL_MEAN, CHANNEL_STD))
    with torch.no_grad():  # written out: [0, 1] pixels, per-channel standardised, eval-mode argmax
        wrong = net.eval()((x.float() / 255 - mean) / std).argmax(1) != y
    assert transfer.test_error(net, x, y) == pytest.approx(100.0 * wrong.float().mean().item())


def test_compare_gives_one_row_per_run_and_leaves_the_source_alone(synth):
    source = models.resnet_cifar(20, num_classes=5)
    before = {k: v.clone() for k, v in source.state_dict().items()}
    target = transfer.class_subset(synth, transfer.TARGET_CLASSES)
    rows = transfer.compare(source, target, (2, 3), iterations=2, test_subset=10)
    assert [(r["per_class"], r["mode"]) for r in rows] == [(k, m) for k in (2, 3) for m in transfer.MODES]
    assert all(r["test_error"] in {10.0 * i for i in range(11)} for r in rows)  # 10 test images
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in before.items())
