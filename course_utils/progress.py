"""A progress bar over a training run's iterations (``train.TrainRun``): its errors and lr after each record.

>>> from course_utils import data, models, train
>>> run = train.TrainRun(models.get_model("resnet20"), data.synthetic_cifar10(300, 50), device="cpu")
>>> progress_bar(run, enabled=False).total
64000
"""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm

__all__ = ["progress_bar", "show"]


def progress_bar(run: Any, enabled: bool = True, position: int | None = None) -> tqdm:
    """A bar over the run's iterations; move it after every step with :func:`show`.

    It redraws on the first step that ends 0.5 s or more after its last redraw: ``miniters=1`` turns
    off tqdm's adaptive step count, which after a fast burst of steps would wait that many slow ones.
    """
    return tqdm(
        total=run.schedule.iterations,
        initial=run.iteration,
        desc=run.name,
        disable=not enabled,
        dynamic_ncols=True,
        position=position,
        miniters=1,
        mininterval=0.5,
    )


def show(run: Any, bar: tqdm) -> None:
    """Move the bar to the current iteration; after a record, show its errors (no extra host sync)."""
    h = run.history
    if h["iteration"] and h["iteration"][-1] == run.iteration:
        bar.set_postfix(
            {
                "train err": f"{h['train_error'][-1]:.1f}%",
                "test err": f"{h['test_error'][-1]:.1f}%",
                "lr": f"{h['lr'][-1]:g}",
            },
            refresh=False,
        )
    bar.update(run.iteration - bar.n)
