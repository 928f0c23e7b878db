"""The Fig. 6 set: the order of work (cheap headline pairs first), seeds, the ResNet-18's one seed,
and the schedules each run gets."""

from course_utils import fig6_set
from course_utils.profile import get_profile
from course_utils.schedule import paper_schedule


def _stems(groups):
    return [[s.stem for s in g] for g in groups]


def test_the_order_of_work_puts_the_headline_pairs_first_then_the_rest_then_more_seeds():
    groups = fig6_set.work_order(fig6_set.ALL_NETS, [0, 1], 64_000)
    assert _stems(groups)[:6] == [
        ["plain20-s0", "resnet20-s0"],
        ["plain56-s0", "resnet56-s0"],
        ["resnet18_cifar-s0"],
        ["plain32-s0", "resnet32-s0"],
        ["plain44-s0", "resnet44-s0"],
        ["resnet110-s0"],
    ]
    assert _stems(groups)[6:] == [
        ["plain20-s1", "resnet20-s1"],
        ["plain56-s1", "resnet56-s1"],
        ["plain32-s1", "resnet32-s1"],
        ["plain44-s1", "resnet44-s1"],
        ["resnet110-s1"],  # the CIFAR ResNet-18 runs with the first seed only
    ]
    assert sorted(s.model for g in groups for s in g if s.seed == 0) == sorted(fig6_set.ALL_NETS)


def test_asked_nets_only_in_the_order_of_work_and_others_after():
    groups = fig6_set.work_order(["resnet56", "resnet8", "plain20"], [3], 100)
    assert _stems(groups) == [["plain20-s3"], ["resnet56-s3"], ["resnet8-s3"]]


def test_schedules_are_the_recipe_scaled_or_its_prefix():
    full = fig6_set.plan_schedule("resnet110")
    assert full == paper_schedule("resnet110") and full.warmup_iterations == 400
    squeezed = fig6_set.plan_schedule("resnet56", 6_400)
    assert squeezed.milestones == (3_200, 4_800) and squeezed.iterations == 6_400
    prefix = fig6_set.plan_schedule("resnet56", 3_128, prefix=True)
    assert prefix.milestones == (32_000, 48_000) and prefix.is_prefix_of(paper_schedule("resnet56"))
    assert fig6_set.work_order(["resnet56"], [0], 3_128, prefix=True)[0][0].schedule == prefix


def test_the_profiles_train_the_set_the_course_shows():
    assert get_profile("cpu", "cpu").models == fig6_set.FIG6_NETS  # the four nets of the paper's Fig. 6
    assert get_profile("gpu", "cpu").models == (*fig6_set.FIG6_NETS, fig6_set.EXTRA_NET)  # and the ResNet-18
    assert set(get_profile("smoke", "cpu").models) < set(fig6_set.FIG6_NETS)
