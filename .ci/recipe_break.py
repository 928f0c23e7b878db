"""A pytest plugin that breaks one part of the paper's recipe, through the code that owns it.

    RECIPE_BREAK=no_momentum python -m pytest -p recipe_break tests/test_train.py   # (.ci on PYTHONPATH)

Each break replaces one function (or one recipe entry) of ``course_utils`` everywhere it is bound,
before any test runs, and prints how many places it replaced: zero places means the code moved and the
break no longer applies, which ``recipe_gate.py`` treats as a failure of the gate itself.
"""

from __future__ import annotations

import dataclasses
import os
import sys

BREAK = os.environ.get("RECIPE_BREAK", "")
APPLIED: list[str] = []


def _rebind(original, replacement) -> None:
    """Replace ``original`` by ``replacement`` in every loaded ``course_utils`` module that binds it."""
    for name, module in list(sys.modules.items()):
        if not name.startswith("course_utils") or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if value is original:
                setattr(module, attr, replacement)
                APPLIED.append(f"{name}.{attr}")


def _optimizer_without(field: str):
    import torch

    from course_utils import step

    original = step.make_optimizer

    def broken(model, schedule, device):
        return torch.optim.SGD(
            model.parameters(),
            lr=schedule.lr_at(0),
            momentum=0.0 if field == "momentum" else schedule.momentum,
            weight_decay=0.0 if field == "weight_decay" else schedule.weight_decay,
        )

    _rebind(original, broken)


def apply(name: str) -> None:
    import course_utils.engine
    import course_utils.experiments  # noqa: F401
    from course_utils import loader, schedule, train, transforms

    if name == "no_weight_decay":
        _optimizer_without("weight_decay")
    elif name == "no_momentum":
        _optimizer_without("momentum")
    elif name == "frozen_lr":  # the optimizer keeps its first lr: the schedule is never applied
        if hasattr(train.TrainRun, "set_lr"):
            train.TrainRun.set_lr = lambda self, force=False: None
            APPLIED.append("course_utils.train.TrainRun.set_lr")
    elif name == "per_channel_default":  # the per-pixel mean replaced by per-channel statistics
        _rebind(transforms.make_normalizer, lambda mode, train_x: transforms.Normalizer("per_channel"))
    elif name == "augmentation_off":
        _rebind(loader.crop_flip, lambda x, *args, **kwargs: x)
    elif name == "wrong_milestones":  # lr drops at 50% and 75% of a 48k run instead of 32k / 48k of 64k
        wrong = dataclasses.replace(schedule.RECIPES["paper"], milestones=(24_000, 36_000))
        _rebind(schedule.RECIPES["paper"], wrong)
        schedule.RECIPES["paper"] = wrong
        APPLIED.append("course_utils.schedule.RECIPES['paper']")
    else:
        raise SystemExit(f"unknown RECIPE_BREAK {name!r}")


def pytest_configure(config) -> None:
    if BREAK:
        apply(BREAK)
        print(f"recipe break {BREAK}: replaced {len(APPLIED)} place(s): {', '.join(APPLIED) or 'none'}")
