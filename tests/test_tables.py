"""Tables and verdicts from result files: final errors vs the paper, the claims of Fig. 6."""

import json

import matplotlib
import pytest

from course_utils import tables
from tests.fakes import fake_folder, fake_result

matplotlib.use("Agg")


@pytest.fixture
def folder(tmp_path):
    return fake_folder(tmp_path)


def test_results_table_against_the_paper(folder):
    table = tables.results_table(folder)
    rows = {r["model"]: r for r in table.rows}
    assert list(rows) == ["plain-20", "plain-56", "ResNet-20", "ResNet-56", "ResNet-18 (CIFAR)"]
    assert rows["ResNet-56"]["paper %"] == 6.97 and rows["ResNet-20"]["paper %"] == 8.75
    assert rows["plain-56"]["reproductions %"] == "12.76" and rows["plain-56"]["test err %"] == "13.00"
    assert "| model |" in table.to_markdown() and "ResNet-56" in str(table)


def test_subset_test_error_is_marked(tmp_path):
    (tmp_path / "resnet20-s0.json").write_text(json.dumps(fake_result("resnet20", 40, 45, n_test_images=2000)))
    assert tables.results_table(tmp_path).rows[0]["test err %"].endswith("*")
    (tmp_path / "resnet20-s0.json").write_text(json.dumps(fake_result("resnet20", 40, 45)))
    assert tables.results_table(tmp_path).rows[0]["test err %"] == "45.00"  # the whole test set: no mark


def test_claims_are_checked_only_where_the_run_is_long_enough():
    # the paper's picture at 64k iterations: every claim holds over the second half
    full = [
        fake_result(m, tr, te)
        for m, (tr, te) in {
            "plain20": (6.0, 9.8),
            "plain56": (9.0, 13.0),
            "resnet20": (3.0, 8.5),
            "resnet56": (1.0, 7.0),
        }.items()
    ]
    lines = tables.check_claims(full)
    assert len(lines) == 4 and all(": holds over the second half" in ln for ln in lines), lines
    # 3,000 iterations: the deeper-ResNet claim is not testable (never "FAILS"), the others are judged
    short = [
        fake_result(m, tr, te, its=3000, step=500)
        for m, (tr, te) in {
            "plain20": (30.0, 32.0),
            "plain56": (40.0, 41.0),
            "resnet20": (35.0, 36.0),
            "resnet56": (28.0, 30.0),
        }.items()
    ]
    lines = tables.check_claims(short)
    assert "not testable at this budget (3,000 iterations; it shows after 32,000)" in lines[3]
    assert "degradation" in lines[0] and ": holds over" in lines[0]
    assert "the shortcut helps at depth 20 (ResNet-20 vs plain-20): does not hold" in lines[1]
    assert not any("FAILS" in ln for ln in lines)
    # test error only: "holds for test"
    mixed = [
        fake_result("plain20", 10.0, 20.0, its=3000, step=500),
        fake_result("plain56", 9.0, 25.0, its=3000, step=500),
    ]
    assert ": holds for test over" in tables.check_claims(mixed)[0]
    assert "not checkable here" in tables.check_claims(mixed)[2]


def test_the_whole_test_set_error_wins_over_a_subset_record(tmp_path):
    r = fake_result("resnet56", 10.0, 20.0, its=3000, step=500, n_test_images=2000)
    assert tables.results_table([r]).rows[0]["test err %"] == "20.00*"
    assert tables.results_table([dict(r, test_error_full=19.5)]).rows[0]["test err %"] == "19.50"
