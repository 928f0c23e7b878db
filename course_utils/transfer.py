"""Transfer learning with ResNets, offline: new heads, frozen backbones, few-label subsets, a cache lookup.

The course's transfer experiment needs no download: a CIFAR ResNet-20 trained on 5 CIFAR-10 classes
(the *source*, ``SOURCE_CLASSES``) is reused on the other 5 (the *target*) with a few labels per class,
as a frozen backbone with a new linear head, fully fine-tuned, or trained from scratch.

    >>> import torch
    >>> from course_utils import models
    >>> net = replace_head(models.resnet_cifar(20, num_classes=5), 5)
    >>> trainable = freeze_backbone(net)
    >>> sorted(trainable), net(torch.zeros(2, 3, 32, 32)).shape
    (['fc.bias', 'fc.weight'], torch.Size([2, 5]))

ImageNet weights are used only when already in the local torch cache (:func:`cached_imagenet_weights`),
fed their own input normalisation (:func:`weights_normalizer`); nothing here touches the network.
``python -m course_utils.transfer pretrain`` trains the source network.
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from course_utils import data as cdata
from course_utils import models, results
from course_utils.budget import Budget
from course_utils.evaluation import error_percent
from course_utils.fig6_set import run_name
from course_utils.loader import DeviceLoader
from course_utils.profile import get_profile, seed_everything
from course_utils.schedule import Schedule
from course_utils.train import train_model
from course_utils.transforms import Normalizer

__all__ = [
    "SOURCE_CLASSES",
    "TARGET_CLASSES",
    "MODES",
    "SOURCE_NAME",
    "class_subset",
    "few_labels",
    "replace_head",
    "freeze_backbone",
    "set_train_mode",
    "fine_tune",
    "cached_imagenet_weights",
    "weights_normalizer",
    "imagenet_resnet18",
    "pretrain_source",
    "load_source",
    "test_error",
    "LRS",
    "compare",
]

SOURCE_CLASSES = (0, 1, 2, 3, 4)  # airplane, automobile, bird, cat, deer
TARGET_CLASSES = (5, 6, 7, 8, 9)  # dog, frog, horse, ship, truck
MODES = ("frozen", "finetune", "scratch")
LRS = {"frozen": 0.1, "finetune": 0.01, "scratch": 0.1}  # a new head and a fresh net learn fast; a reused one gently
SOURCE_NAME = "resnet20-source5"


def class_subset(data: cdata.CIFAR10, classes: tuple[int, ...]) -> cdata.CIFAR10:
    """The images of ``classes`` only, relabelled 0..len(classes)-1 in that order (uint8 ``(N, 3, 32, 32)``)."""
    lut = torch.full((10,), -1, dtype=torch.int64)
    lut[list(classes)] = torch.arange(len(classes))
    tr, te = lut[data.train_labels], lut[data.test_labels]
    train, test = (data.train_images[tr >= 0], tr[tr >= 0]), (data.test_images[te >= 0], te[te >= 0])
    return cdata.CIFAR10(*train, *test, source=data.source, classes=tuple(data.classes[c] for c in classes))


def few_labels(labels: torch.Tensor, per_class: int, seed: int = 0) -> torch.Tensor:
    """Sorted indices of ``per_class`` examples of every class in ``labels (N,)`` (a fixed, seeded draw)."""
    g = torch.Generator().manual_seed(seed)
    picks = []
    for c in labels.unique().tolist():
        idx = (labels == c).nonzero().flatten()
        if len(idx) < per_class:
            raise ValueError(f"class {c} has {len(idx)} examples, fewer than the {per_class} asked for")
        picks.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return torch.cat(picks).sort().values


def replace_head(model: nn.Module, num_classes: int, attr: str = "fc") -> nn.Module:
    """Swap ``model.<attr>`` (an ``nn.Linear``) for a freshly initialised ``Linear(in_features, num_classes)``."""
    old = getattr(model, attr)
    if not isinstance(old, nn.Linear):
        raise TypeError(f"model.{attr} is a {type(old).__name__}, not an nn.Linear head")
    new = nn.Linear(old.in_features, num_classes).to(old.weight.device)
    setattr(model, attr, new)
    return model


def freeze_backbone(model: nn.Module, head: str = "fc") -> dict[str, nn.Parameter]:
    """Stop gradients everywhere but the head; returns the trainable parameters ``{name: param}``.

    BN layers still update their running statistics in train mode: train a frozen net with
    :func:`set_train_mode` (``frozen=True``) so the backbone stays bit-for-bit unchanged.
    """
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(head + "."))
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def set_train_mode(model: nn.Module, frozen: bool) -> nn.Module:
    """Train mode; with ``frozen`` every BN whose parameters are frozen stays in eval mode (running stats)."""
    model.train()
    if frozen:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and not any(p.requires_grad for p in m.parameters()):
                m.eval()
    return model


def fine_tune(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    mode: str,
    iterations: int,
    lr: float,
    head_lr: float | None = None,
    batch_size: int = 64,
    weight_decay: float = 5e-4,
    bn_frozen_eval: bool = True,
    normalizer: Normalizer | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> list[float]:
    """Train ``model`` on uint8 ``images (N, 3, 32, 32)`` / ``labels (N,)`` for ``iterations`` SGD steps.

    ``mode``: "frozen" (only the head learns; BN in eval mode unless ``bn_frozen_eval=False``),
    "finetune" or "scratch" (every weight learns; ``head_lr``: the head ``fc`` at its own lr, the rest
    at ``lr``). SGD with momentum 0.9 and a cosine lr decay, crop + flip augmentation, then ``normalizer``
    (None: CIFAR's per-channel one; the ImageNet one for ImageNet weights). Returns every step's training loss.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    seed_everything(seed)
    model.to(device)
    model.requires_grad_(True)  # every weight learns, unless frozen here:
    params = list(freeze_backbone(model).values()) if mode == "frozen" else list(model.parameters())
    if head_lr is not None and mode != "frozen":  # two groups: the backbone at lr, the new head at head_lr
        head = list(model.fc.parameters())
        params = [{"params": [p for p in params if all(p is not h for h in head)]}, {"params": head, "lr": head_lr}]
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * i / iterations)))
    norm, losses = normalizer or Normalizer("per_channel"), []
    loader = DeviceLoader(images, labels, min(batch_size, len(labels)), normalizer=norm, device=device, seed=seed)
    set_train_mode(model, frozen=mode == "frozen" and bn_frozen_eval)
    for x, y in loader.batches(iterations):  # x (B, 3, 32, 32) float, y (B,)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


def test_error(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    device: str | torch.device = "cpu",
    normalizer: Normalizer | None = None,
) -> float:
    """Error in percent of ``model`` (eval mode) on uint8 ``images (N, 3, 32, 32)`` fed through ``normalizer``
    (None: CIFAR's per-channel one, as in :func:`fine_tune`)."""
    return error_percent(model, images, labels, normalizer=normalizer or Normalizer("per_channel"), device=device)


def compare(
    source: nn.Module,
    target: cdata.CIFAR10,
    per_class: Sequence[int],
    *,
    iterations: int,
    test_subset: int | None = None,
    modes: Sequence[str] = MODES,
    bn_frozen_eval: bool = True,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> list[dict[str, Any]]:
    """Frozen / fine-tuned / scratch ResNet-20s on ``per_class`` labels of each ``target`` class, tested on
    (a fixed subset of) ``target``'s test images. Returns one row per run:
    ``{"per_class", "mode", "test_error", "seconds"}``. ``source`` itself is left untouched."""
    n = len(target.classes)
    tx, ty = target.test_images, target.test_labels
    if test_subset is not None and test_subset < len(ty):
        keep = torch.randperm(len(ty), generator=torch.Generator().manual_seed(seed))[:test_subset]
        tx, ty = tx[keep], ty[keep]
    rows = []
    for k in per_class:
        idx = few_labels(target.train_labels, k, seed)
        for mode in modes:
            seed_everything(seed)
            fresh = mode == "scratch"
            net = models.resnet_cifar(20, num_classes=n) if fresh else replace_head(copy.deepcopy(source), n)
            t0 = time.perf_counter()
            x, y = target.train_images[idx], target.train_labels[idx]
            kw = dict(iterations=iterations, lr=LRS[mode], bn_frozen_eval=bn_frozen_eval, seed=seed, device=device)
            fine_tune(net, x, y, mode=mode, **kw)
            err = test_error(net, tx, ty, device)
            rows.append({"per_class": k, "mode": mode, "test_error": err, "seconds": time.perf_counter() - t0})
    return rows


def cached_imagenet_weights(arch: str = "resnet18", *, required: bool = False) -> Path | None:
    """The torchvision ImageNet checkpoint of ``arch`` if it is already in the local torch cache, else None.

    Looks only at ``torch.hub.get_dir()/checkpoints/<file name of weights.DEFAULT's url>`` (``TORCH_HOME``
    moves it); never downloads. ``required=True`` raises ``FileNotFoundError`` with the path and how to fill it.
    """
    weights = torchvision.models.get_model_weights(arch).DEFAULT
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if path.is_file():
        return path
    if required:
        raise FileNotFoundError(
            f"no cached ImageNet weights for {arch}: {path} does not exist. This course never downloads them; "
            f"on a machine with internet run `torchvision.models.{arch}(weights='DEFAULT')` once, or copy "
            f"{weights.url} to that path."
        )
    return None


def weights_normalizer(arch: str = "resnet18") -> Normalizer:
    """The per-channel mean and std of ``weights.transforms()`` of ``arch``'s ImageNet weights, without their
    resize and crop (256, then 224): a 32x32 image stays 32x32 (upsampling adds no detail and 49x the MACs)."""
    t = torchvision.models.get_model_weights(arch).DEFAULT.transforms()
    return Normalizer("per_channel", mean=t.mean, std=t.std)


def imagenet_resnet18(num_classes: int) -> tuple[nn.Module, Normalizer, str]:
    """torchvision's ``resnet18`` with a new ``num_classes`` head: ImageNet weights if cached, else random.
    Returns ``(model, normalizer, where)``: the input normalisation those weights expect (ImageNet's,
    :func:`weights_normalizer`; CIFAR's for a random init) and a sentence saying which it got."""
    path, net = cached_imagenet_weights("resnet18"), torchvision.models.resnet18(weights=None)
    if path is None:
        where = "random init: no ImageNet weights in the local torch cache (nothing downloaded); CIFAR mean/std"
        return replace_head(net, num_classes), Normalizer("per_channel"), where
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    where = f"ImageNet weights from the local cache {path}; ImageNet mean/std, no resize"
    return replace_head(net, num_classes), weights_normalizer("resnet18"), where


def pretrain_source(
    data: cdata.CIFAR10, out: str | Path, *, iterations: int, seed: int = 0, test_subset: int | None = None, **kw: Any
) -> dict[str, Any]:
    """Train ResNet-20 on all training images of the 5 source classes (the paper's schedule scaled to
    ``iterations``; tested on ``test_subset`` images, None: all); write its JSON and fp16 weights to ``out``."""
    seed_everything(seed)
    net = models.resnet_cifar(20, num_classes=len(SOURCE_CLASSES))
    budget = Budget(max(1, iterations // 4), test_subset, train_set="all", checkpoint_seconds=None)
    kw = dict(name=SOURCE_NAME, seed=seed, budget=budget, normalization="per_channel") | kw  # e.g. progress=False
    result = train_model(net, class_subset(data, SOURCE_CLASSES), Schedule().scaled(iterations), **kw)
    stem = run_name(SOURCE_NAME, seed)
    results.save_weights(Path(out) / "weights" / f"{stem}.pt", net)
    results.write_json(Path(out) / f"{stem}.json", result | {"classes": [data.classes[c] for c in SOURCE_CLASSES]})
    return result


def load_source(folder: str | Path, seed: int = 0) -> tuple[nn.Module, dict] | None:
    """The trained source ResNet-20 (5 classes) and its result from ``folder``; None when absent."""
    stem = run_name(SOURCE_NAME, seed)
    w, j = Path(folder) / "weights" / f"{stem}.pt", Path(folder) / f"{stem}.json"
    if not (w.is_file() and j.is_file()):
        return None
    net = models.resnet_cifar(20, num_classes=len(SOURCE_CLASSES))
    net.load_state_dict(results.load_state_dict(w))
    return net, results.read_json(j)


def _main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m course_utils.transfer", description=__doc__.splitlines()[0])
    p.add_argument("command", choices=["pretrain"])
    p.add_argument("--out", default="results/transfer")
    p.add_argument("--iterations", type=int, default=1200)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    t0, cifar = time.perf_counter(), cdata.load_cifar10(profile=get_profile())
    h = pretrain_source(cifar, args.out, iterations=args.iterations, seed=args.seed)["history"]
    secs = time.perf_counter() - t0  # the test error is on the 5 source classes' 5,000 test images
    print(f"source test error {h['test_error'][-1]:.2f}% after {h['iteration'][-1]} iterations, {secs:.0f} s")


if __name__ == "__main__":
    _main()
