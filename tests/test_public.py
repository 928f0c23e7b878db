"""The public full-schedule curves: read into the results contract, credited, compared with a run."""

import pytest

from course_utils import plots, public, results


def test_every_curve_matches_its_csv_line_by_line():
    runs = public.load_public()
    assert list(runs) == [f"{k}{d}" for k in ("plain", "resnet") for d in (20, 32, 44, 56)]
    for model, r in runs.items():
        name = model.replace("plain", "plainnet")
        lines = (public.public_dir() / f"{name}.csv").read_text().split()[1:]
        h = r["history"]
        assert len(lines) == 164 and h["iteration"][-1] == 164 * 391 == r["schedule"]["iterations"]
        for i, line in enumerate(lines):
            epoch, _, train, test = line.split(",")
            assert h["iteration"][i] == (int(epoch) + 1) * 391
            assert h["test_error"][i] == pytest.approx(100 * float(test)) and h["train_error"][i] == pytest.approx(
                100 * float(train)
            )
        assert not results.missing_fields(r) and r["origin"] == "public"


def test_the_facts_its_readme_states():
    runs = public.load_public(["plain20", "plain56", "resnet20", "resnet56"])
    at = lambda m, epoch: public.value_at(runs[m], (epoch + 1) * 391)
    assert (round(at("plain56", 7), 1), round(at("plain20", 7), 1)) == (63.1, 22.2)
    assert (round(at("resnet56", 10), 1), round(at("resnet20", 10), 1)) == (25.8, 19.1)
    assert (round(at("resnet56", 40), 1), round(at("resnet20", 40), 1)) == (13.3, 15.7)
    assert [runs["resnet56"]["history"]["lr"][e] for e in (82, 83, 123, 124)] == [0.1, 0.01, 0.01, 0.001]


def test_credited_and_labelled_never_as_ours():
    folder = public.public_dir()
    assert "Copyright (c) 2023, a-martyn" in (folder / "LICENSE").read_text()
    assert "bdbeaee5e6dbbb8ed16bf62de58520dccaa21146" in (folder / "README.md").read_text()
    line = results.describe(public.load_public(["resnet20"])["resnet20"])
    assert line.startswith("public run (a-martyn/resnet), not ours: 64,124 iterations")
    assert plots.label("resnet20") == "ResNet-20"


def test_nets_it_does_not_hold_are_refused():
    with pytest.raises(ValueError, match="has no resnet110; it holds: plain20"):
        public.load_public(["resnet110"])


def test_a_run_is_compared_where_both_have_a_record():
    theirs = public.load_public(["resnet20"])["resnet20"]
    h = {"iteration": [100, 391, 782], "test_error": [90.0, 60.0, 40.0], "train_error": [0.0] * 3}
    rows = public.compare_with_public({"history": h}, theirs)
    assert [r["iteration"] for r in rows] == [391, 782]  # 100 has no public record
    assert rows[0]["diff"] == pytest.approx(60.0 - 63.67) and rows[1]["epoch"] == 2
