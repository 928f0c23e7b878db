"""Trained networks for the notebooks: committed weights when there are any, else a short live run.

Notebooks 05-07 analyse trained nets. They come from the first source that has them all:

1. our whole-schedule run, ``results/fig6/`` (the paper's 64k iterations, once its nets have finished);
2. the CPU reference run, ``results/fig6-cpu/`` (a shortened schedule, trained once and committed);
3. a live run of the profile's size, cached in ``runs/nets/`` so that a rerun of the notebook is instant.

Every :class:`TrainedNet` carries a one-line ``source`` that the notebook prints beside its figures.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from course_utils import data as cdata
from course_utils import models, results
from course_utils.budget import Budget, split_data
from course_utils.fig6_set import run_name
from course_utils.paths import runs_dir
from course_utils.profile import Profile, seed_everything
from course_utils.schedule import recipe_for
from course_utils.train import train_model
from course_utils.transforms import make_normalizer

__all__ = ["TrainedNet", "trained_networks", "normalizer_for"]


@dataclass
class TrainedNet:
    """A trained CIFAR network, the normalisation it was trained with, and where it came from."""

    name: str
    model: nn.Module  # in eval mode, on the profile's device
    normalizer: Callable[[torch.Tensor], torch.Tensor]  # uint8 (N, 3, 32, 32) -> float, as in training
    source: str  # one line for the notebook to print: where, how long, on which device and data
    iterations: int
    result: dict = field(default_factory=dict, repr=False)  # the training result (results contract)


def normalizer_for(result: dict, data: cdata.CIFAR10) -> Callable[[torch.Tensor], torch.Tensor]:
    """The normaliser a run was trained with: per-pixel mean of the very images it trained on."""
    n = result["n_train_images"]
    budget = Budget(train_set=result.get("train_set", "split"), train_subset=n)
    return make_normalizer(result.get("normalization", "per_pixel"), split_data(data, budget).train_images)


def _net(name: str, model: nn.Module, result: dict, source: str, data: cdata.CIFAR10, device) -> TrainedNet:
    return TrainedNet(
        name, model.to(device).eval(), normalizer_for(result, data), source, result["schedule"]["iterations"], result
    )


def _live(
    name: str, data: cdata.CIFAR10, profile: Profile, seed: int, iterations: int, cache: Path, progress: bool
) -> TrainedNet:
    """A run of ``iterations`` with the model's recipe on the profile's budget, cached in ``cache``."""
    budget = Budget.of(profile, eval_every=iterations)  # one test at the end
    file = cache / f"{run_name(name, seed)}-{iterations}it-{profile.train_subset or 'all'}.pt"
    if file.exists():
        saved = torch.load(file, map_location="cpu", weights_only=True)
        if saved["result"].get("data_source") == data.source:
            model = models.get_model(name)
            model.load_state_dict(saved["state_dict"])
            return _net(
                name,
                model,
                saved["result"],
                f"live run cached in {cache.name}/: " + results.describe(saved["result"]),
                data,
                profile.device,
            )
    seed_everything(seed)  # the same initial weights as a fig6 run of this seed
    model = models.get_model(name)
    res = train_model(
        model,
        data,
        recipe_for(name).scaled(iterations),
        name=name,
        seed=seed,
        budget=budget,
        device=profile.device,
        progress=progress,
    )
    res = json.loads(json.dumps(res))  # plain types only, for weights_only loads
    file.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, "result": res}, file)
    return _net(name, model, res, "trained just now: " + results.describe(res), data, profile.device)


def trained_networks(
    names: Sequence[str],
    data: cdata.CIFAR10,
    *,
    profile: Profile,
    seed: int = 0,
    iterations: int | None = None,
    root: str | Path | None = None,
    cache: str | Path | None = None,
    progress: bool = True,
) -> dict[str, TrainedNet]:
    """``{name: TrainedNet}`` for every name, all from *one* source, so that they are comparable.

    ``root``: the results folder to search (default ``results/``); ``iterations``: the length of a live
    run (default: the profile's ``live_iterations``); ``cache``: where live runs are kept (``runs/nets``).
    """
    found = results.committed_fig6(names, seed, root=root, need_weights=True)
    if found is not None:
        folder, res = found
        out = {}
        for n in names:
            model = models.get_model(n)
            model.load_state_dict(results.load_state_dict(folder / "weights" / f"{run_name(n, seed)}.pt"))
            out[n] = _net(n, model, res[n], results.describe(res[n], folder), data, profile.device)
        return out
    cache = Path(cache) if cache is not None else runs_dir("nets")
    its = iterations or profile.live_iterations
    return {n: _live(n, data, profile, seed, its, cache, progress) for n in names}
