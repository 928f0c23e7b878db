"""The budget of a run: which training images (the 45k split or all 50k), fixed subsets, profiles."""

import pytest
import torch

from course_utils import budget as cbudget
from course_utils import data as cdata
from course_utils.budget import Budget, split_data
from course_utils.profile import get_profile


@pytest.fixture(scope="module")
def tiny_data():
    return cdata.synthetic_cifar10(n_train=600, n_test=100, seed=1)


def test_the_split_is_the_45k_part_stratified(tiny_data):
    s = cbudget.split_data(tiny_data)
    assert len(s.train_labels) == 540  # 10% held out, as 5k of 50k
    assert torch.bincount(s.train_labels).tolist() == [54] * 10  # every class gives its share


def test_train_set_all_uses_every_training_image(tiny_data):
    split = split_data(tiny_data, Budget(train_set="all"))
    assert len(split.train_labels) == 600 and torch.equal(split.train_images, tiny_data.train_images)
    with pytest.raises(ValueError, match="train_set"):
        Budget(train_set="everything")


def test_split_and_subsets_are_fixed(tiny_data):
    b = Budget(train_subset=100, test_subset=50)
    s1, s2 = split_data(tiny_data, b), split_data(tiny_data, b)
    fields = ("train_images", "train_labels", "test_images", "test_labels")
    assert all(torch.equal(getattr(s1, f), getattr(s2, f)) for f in fields)
    assert len(s1.train_labels) == 100 and len(s1.test_labels) == 50 and len(torch.unique(s1.test_labels)) > 3


def test_budget_of_a_profile():

    gpu, cpu = Budget.of(get_profile("gpu", "cpu")), Budget.of(get_profile("cpu", "cpu"))
    assert gpu.train_set == "all" and gpu.test_subset is None  # the paper's reported models: all 50k
    assert cpu.train_set == "split" and Budget.of(get_profile("smoke", "cpu"), eval_every=3).eval_every == 3


def test_a_test_set_size_as_a_user_gives_it():
    assert cbudget.test_subset_of("all") is None and cbudget.test_subset_of(" ALL ") is None
    assert cbudget.test_subset_of("2000") == 2000 and cbudget.test_subset_of(500) == 500
    for bad in ("0", -3, "many", None):
        with pytest.raises(ValueError, match="positive count or 'all'"):
            cbudget.test_subset_of(bad)
