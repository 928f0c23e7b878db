"""The progress bar of a training run: it shows the errors and lr of the last record, and redraws at least every
2 s however uneven the steps are."""

import pytest
import tqdm.std

from course_utils import data as cdata
from course_utils import progress, train
from course_utils.budget import Budget
from course_utils.schedule import Schedule
from tests.test_train import _net


@pytest.fixture(scope="module")
def tiny_data():
    return cdata.synthetic_cifar10(n_train=600, n_test=100, seed=1)


def test_progress_bar_shows_errors_and_lr(tiny_data, capsys):
    train.train_model(
        _net(),
        tiny_data,
        Schedule(batch_size=32, iterations=40, milestones=(20, 30)),
        budget=Budget(eval_every=20, test_subset=32),
        device="cpu",
        name="tiny",
    )
    err = capsys.readouterr().err
    assert "tiny" in err and "40/40" in err and "train err=" in err and "lr=0.001" in err


def test_progress_bar_redraws_at_least_every_2_seconds(tiny_data, monkeypatch):
    """A fake clock: a burst of fast steps, then slow ones (a first eval, a busy CPU). tqdm's adaptive
    ``miniters`` would learn "redraw every ~25 steps" from the burst and then sit still for 25 s."""
    durations = iter([0.05] * 30 + [1.0] * 20)
    now = [0.0]
    monkeypatch.setattr(tqdm.std, "time", lambda: now[0])  # the clock tqdm reads (bound when a bar is made)
    run = train.TrainRun(
        _net(), tiny_data, Schedule(batch_size=8, iterations=50), budget=Budget(eval_every=50, test_subset=8)
    )
    loader = run.make_loader()
    drawn = []
    with progress.progress_bar(run, position=None) as bar:
        real_refresh = bar.refresh
        monkeypatch.setattr(bar, "refresh", lambda *a, **k: (drawn.append(now[0]), real_refresh(*a, **k))[1])
        for x, y in loader.batches(run.remaining):
            run.advance(run.step, x, y)
            now[0] += next(durations)  # the step took this long
            progress.show(run, bar)
    gaps = [b - a for a, b in zip([0.0, *drawn[:-1]], drawn, strict=True)]
    assert drawn and drawn[0] <= 2.0 and max(gaps) <= 2.0, drawn
    assert bar.n == 50
