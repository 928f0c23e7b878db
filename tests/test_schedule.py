"""The paper's schedule as data: lr at each milestone, warm-up, scaling, recipes."""

import math

import pytest

from course_utils.schedule import RECIPES, Schedule, model_depth, paper_schedule, recipe_for


def test_paper_schedule_lr_at_each_milestone():
    s = paper_schedule("resnet56")
    assert (s.lr, s.momentum, s.weight_decay, s.batch_size, s.iterations) == (0.1, 0.9, 1e-4, 128, 64_000)
    assert s.milestones == (32_000, 48_000) and s.warmup_iterations == 0
    expect = {0: 0.1, 31_999: 0.1, 32_000: 0.01, 47_999: 0.01, 48_000: 0.001, 63_999: 0.001}
    for it, lr in expect.items():
        assert math.isclose(s.lr_at(it), lr, rel_tol=1e-12), it


@pytest.mark.parametrize("name", ["resnet110", "plain110", "preact_resnet110", "resnet1202"])
def test_warmup_for_depth_110_and_more(name):
    s = paper_schedule(name)
    assert s.warmup_iterations == 400 and s.warmup_lr == 0.01
    assert s.lr_at(0) == s.lr_at(399) == 0.01 and s.lr_at(400) == 0.1
    assert math.isclose(s.lr_at(32_000), 0.01)


def test_scaled_schedule_moves_milestones_proportionally():
    s = paper_schedule("resnet110").scaled(800)
    assert s.iterations == 800 and s.milestones == (400, 600) and s.warmup_iterations == 5
    assert s.lr_at(4) == 0.01 and s.lr_at(5) == 0.1 and math.isclose(s.lr_at(600), 0.001)
    assert Schedule().scaled(64_000) == Schedule()
    assert Schedule().scaled(3000).milestones == (1500, 2250)  # the CPU reference run


def test_recipes_are_data():
    r18 = recipe_for("resnet18_cifar")
    assert r18 == RECIPES["resnet18_cifar"] and r18.weight_decay == 5e-4
    assert recipe_for("plain56") == RECIPES["paper"]
    assert Schedule.from_dict(r18.to_dict()) == r18
    with pytest.raises(ValueError):
        Schedule(milestones=(48_000, 32_000))
    with pytest.raises(ValueError):
        Schedule(iterations=0)


def test_model_depth_reads_the_name():
    assert [model_depth(n) for n in ("resnet110", "plain20", "resnet18_cifar")] == [110, 20, 18]
    with pytest.raises(ValueError, match="depth"):
        model_depth("resnet")
