"""Tables and verdicts from result files: our final errors beside the paper's, and the paper's claims checked.

>>> PAPER_TABLE6["resnet56"]
6.97
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from course_utils.fig6_set import FIG6_NETS
from course_utils.paths import results_dir
from course_utils.plots import Results, as_results, label
from course_utils.public import compare_with_public, load_public, value_at
from course_utils.results import done, in_progress, load_results, reached
from course_utils.schedule import model_depth

__all__ = [
    "PAPER_TABLE6",
    "REPRODUCTIONS",
    "ResultsTable",
    "results_table",
    "public_table",
    "NOISE_SIGMAS",
    "precision_table",
    "progress_table",
    "main",
    "CLAIMS",
    "PAPER_ITERATIONS",
    "shows_from",
    "check_claims",
]

# He et al. 2015, Table 6: CIFAR-10 test error (%) with the 64k-iteration recipe.
PAPER_TABLE6 = {
    "resnet20": 8.75,
    "resnet32": 7.51,
    "resnet44": 7.17,
    "resnet56": 6.97,
    "resnet110": 6.43,
    "resnet1202": 7.93,
}
# Public reproductions with the paper's recipe, best test error over training (notebook 06, section 6):
# plain nets, which the paper gives only as curves: github.com/a-martyn/resnet; ResNets:
# github.com/akamaster/pytorch_resnet_cifar10; the CIFAR ResNet-18 reaches 93-95% accuracy, i.e. 5-7% error
# (github.com/kuangliu/pytorch-cifar's recipe).
REPRODUCTIONS = {
    "plain20": "9.5",
    "plain56": "12.76",
    "resnet20": "8.27",
    "resnet56": "6.61",
    "resnet18_cifar": "5-7",
}


@dataclass
class ResultsTable:
    """Rows of a table (final errors of our runs against the paper's Table 6 and public reproductions by
    default), shown as text, as markdown and, in a notebook, as a rendered table."""

    rows: list[dict[str, Any]]
    columns: tuple[str, ...] = (
        "model",
        "params (M)",
        "iterations",
        "train err %",
        "test err %",
        "paper %",
        "reproductions %",
    )

    def to_markdown(self) -> str:
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(str(r[c]) for c in self.columns) + " |" for r in self.rows]
        return "\n".join(lines)

    def __str__(self) -> str:
        cells = [self.columns] + [tuple(str(r[c]) for c in self.columns) for r in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        return "\n".join("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in cells)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def results_table(results: Results) -> ResultsTable:
    """One row per run: final training / test error vs the paper (Table 6) and reproductions.

    The test error is the final weights' on all 10,000 test images when the run has it
    (``test_error_full``, from ``python -m course_utils.experiments evaluate``), else the last record's;
    one measured on a subset of the test set is marked with ``*``.
    """
    rows = []

    def order(r: dict) -> tuple:  # plain nets, the paper's ResNets, then the rest (CIFAR ResNet-18)
        group = 0 if r["model"].startswith("plain") else 1 if r["model"] in PAPER_TABLE6 else 2
        return group, model_depth(r["model"]), r["seed"]

    for r in sorted(as_results(results), key=order):
        h = r["history"]
        full = r.get("test_error_full")
        star = "*" if full is None and r.get("n_test_images", 10_000) < 10_000 else ""
        test = full if full is not None else h["test_error"][-1]
        rows.append(
            {
                "model": label(r["model"]) + (f" s{r['seed']}" if r["seed"] else ""),
                "params (M)": f"{r['params'] / 1e6:.2f}",
                "iterations": f"{done(r):,}" + ("" if done(r) == r["schedule"]["iterations"] else " so far"),
                "train err %": f"{h['train_error'][-1]:.2f}",
                "test err %": f"{test:.2f}{star}",
                "paper %": PAPER_TABLE6.get(r["model"], "-"),
                "reproductions %": REPRODUCTIONS.get(r["model"], "-"),
            }
        )
    return ResultsTable(rows)


def public_table(ours: Results, public: Mapping[str, dict]) -> ResultsTable:
    """Our test error beside the public full-schedule run's at every epoch both recorded, then the public
    run's final error and the paper's (Table 6): one row per net of ours that the public run also trained."""
    rows, epochs = [], []
    for r in sorted(as_results(ours), key=lambda r: (not r["model"].startswith("plain"), model_depth(r["model"]))):
        if r["model"] not in public:
            continue
        pub = public[r["model"]]
        cmp = compare_with_public(r, pub)
        epochs = epochs or [c["epoch"] for c in cmp]
        row = {"model": label(r["model"])}
        row |= {f"ep {c['epoch']}": f"{c['ours']:.1f} / {c['public']:.1f}" for c in cmp}
        row |= {
            "public final %": f"{pub['history']['test_error'][-1]:.2f}",
            "paper %": PAPER_TABLE6.get(r["model"], "-"),
        }
        rows.append(row)
    columns = ("model", *(f"ep {e}" for e in epochs), "public final %", "paper %")
    return ResultsTable([{c: row.get(c, "-") for c in columns} for row in rows], columns)


NOISE_SIGMAS = 3.0  # a difference beyond 3 x the seed-to-seed spread is not chance


def precision_table(fp32: dict, other: dict, seed_twin: dict, kind: str = "test") -> tuple[ResultsTable, bool]:
    """One net trained from the same seed and data order in fp32 and in another precision (``other``, e.g. bf16),
    beside ``seed_twin``, the same net in fp32 with another seed: their ``kind`` ("test" or "train") errors side
    by side at every record.

    Chance is measured, not assumed: two seeds of one net differ at a record by about ``spread``, the root
    mean square of ``seed_twin`` - ``fp32`` over the records. ``other`` agrees with fp32 when every record
    differs by at most ``NOISE_SIGMAS`` x ``spread`` and the mean difference (a bias) by at most that
    divided by sqrt(records). Returns the table and whether both hold.
    """
    its = [i for i in fp32["history"]["iteration"] if value_at(other, i) is not None and value_at(seed_twin, i)]
    a, b, s = ([value_at(r, i, kind) for i in its] for r in (fp32, other, seed_twin))
    seeds = [y - x for x, y in zip(a, s, strict=True)]
    spread = (sum(d * d for d in seeds) / len(seeds)) ** 0.5
    bound, diffs = NOISE_SIGMAS * spread, [y - x for x, y in zip(a, b, strict=True)]
    name = other.get("variant", "other")
    rows = [
        {"iteration": f"{i:,}", "fp32 %": f"{x:.2f}", f"{name} %": f"{y:.2f}", f"{name} - fp32": f"{d:+.2f}",
         f"fp32 seed {seed_twin['seed']} %": f"{t:.2f}", "seed - seed": f"{e:+.2f}"}
        for i, x, y, d, t, e in zip(its, a, b, diffs, s, seeds, strict=True)
    ]  # fmt: skip
    mean, mean_bound = sum(diffs) / len(diffs), bound / len(diffs) ** 0.5
    rows.append({k: "" for k in rows[0]} | {"iteration": "mean", f"{name} - fp32": f"{mean:+.2f}"})
    allows = f"±{bound:.1f} (mean ±{mean_bound:.1f})"
    rows.append({k: "" for k in rows[0]} | {"iteration": "chance allows", f"{name} - fp32": allows})
    rows[-1]["seed - seed"] = f"rms {spread:.2f}"
    ok = all(abs(d) <= bound for d in diffs) and abs(mean) <= mean_bound
    return ResultsTable(rows, tuple(rows[0])), ok


def progress_table(runs: Results, public: Mapping[str, dict]) -> ResultsTable:
    """Where each net of the whole-schedule run stands: iterations done, what trained them, hours per device,
    its last record's errors beside the public run's at the same iteration (a finished net: at the public's end)."""
    rows = []
    for r in sorted(as_results(runs), key=lambda r: (not r["model"].startswith("plain"), model_depth(r["model"]))):
        h, pub = r["history"], public.get(r["model"])
        it = h["iteration"][-1] if h["iteration"] else 0
        theirs = value_at(pub, it) if pub is not None and it else None
        if theirs is None and pub is not None and it == r["schedule"]["iterations"]:  # finished: the public run's end
            theirs = pub["history"]["test_error"][-1]  # its last epoch ends at 64,124, ours at 64,000
        hours = ", ".join(f"{d}: {s / 3600:.2f} h" for d, s in r.get("wall_by_device", {}).items())
        rows.append(
            {"model": label(r["model"]), "iterations": f"{done(r):,} of {r['schedule']['iterations']:,}",
             "trained by": reached(r).partition("iterations, ")[2] or "-", "hours": hours or "-",
             "last record": f"{it:,}" if it else "-",
             "train err %": f"{h['train_error'][-1]:.2f}" if it else "-",
             "test err %": f"{h['test_error'][-1]:.2f}" if it else "-",
             "public, same iteration %": f"{theirs:.2f}" if theirs is not None else "-"}
        )  # fmt: skip
    return ResultsTable(rows, tuple(rows[0]) if rows else ("model",))


# The paper's claims read off Fig. 6: (better net, worse net, the claim).
CLAIMS = (
    ("plain20", "plain56", "degradation: the deeper plain net is worse"),
    ("resnet20", "plain20", "the shortcut helps at depth 20"),
    ("resnet56", "plain56", "the shortcut helps at depth 56"),
    ("resnet56", "resnet20", "the deeper ResNet is better"),
)
PAPER_ITERATIONS = 64_000  # Table 6's numbers are final errors of the whole schedule


def _holds(a: dict, b: dict, its: list[int]) -> dict[str, bool]:
    """Whether ``a`` has the lower training and the lower test error than ``b`` at every record in ``its``."""
    return {k: all(value_at(a, i, k) < value_at(b, i, k) for i in its) for k in ("train", "test")}


def shows_from(better: dict, worse: dict) -> int | None:
    """The iteration from which ``better`` stays below ``worse`` in training and test error at every record
    (0: from the start; None: it never settles). Used on the public full-schedule curves."""
    its = [i for i in better["history"]["iteration"] if i in worse["history"]["iteration"]]
    k = len(its)
    while k > 0 and all(_holds(better, worse, [its[k - 1]]).values()):
        k -= 1
    return None if k == len(its) else 0 if k == 0 else its[k]


def _claim_line(better: str, worse: str, claim: str, by_model: dict[str, dict], public: Mapping[str, dict]) -> str:
    """One line of :func:`check_claims`: ``better`` against ``worse``, from where the public run shows it."""
    pair = f"{label(better)} vs {label(worse)}"
    if better not in by_model or worse not in by_model:
        return f"{claim}: not checkable here ({label(better)} and {label(worse)} not both trained)"
    start = shows_from(public[better], public[worse]) if better in public and worse in public else None
    if start is None:
        return f"{claim} ({pair}): no public curve to say from when it shows"
    a, b = by_model[better], by_model[worse]
    its = [i for i in a["history"]["iteration"] if i >= start and i in b["history"]["iteration"]]
    since = "from the start" if start == 0 else f"from iteration {start:,}"
    if not its:
        end = min(done(a), done(b))
        return f"{claim} ({pair}): not testable at this length ({end:,} iterations; the public run shows it {since})"
    hold = _holds(a, b, its)
    verdict = (
        "holds"
        if all(hold.values())
        else "holds for " + " and ".join(k for k, v in hold.items() if v)
        if any(hold.values())
        else "does not hold"
    )
    ends = (
        f"at {its[-1]:,}: train {value_at(a, its[-1], 'train'):.1f}% vs {value_at(b, its[-1], 'train'):.1f}%, "
        f"test {value_at(a, its[-1]):.1f}% vs {value_at(b, its[-1]):.1f}%"
    )
    return f"{claim} ({pair}): {verdict} at every record {since} ({ends})"


def check_claims(results: Results, public: Mapping[str, dict] | None = None) -> list[str]:
    """One line per claim of Fig. 6, judged by one standard: the public full-schedule run.

    A claim is tested on a run only from the iteration at which the public run shows it for good
    (:func:`shows_from`; degradation: from the start): it "holds" when the better net has the lower
    training *and* test error at every record of the run from there; a run that ends earlier says
    "not testable at this length". Final errors are set against Table 6 only at 64k iterations. Each
    run is then compared with the public run at its last shared record ("within N points").
    """
    public = load_public() if public is None else public
    by_model = {r["model"]: r for r in as_results(results)}
    lines = [_claim_line(better, worse, claim, by_model, public) for better, worse, claim in CLAIMS]
    for m, r in by_model.items():
        if m in PAPER_TABLE6:
            its = done(r)
            if its < PAPER_ITERATIONS:
                lines.append(
                    f"{label(m)} vs Table 6 ({PAPER_TABLE6[m]}%): not testable at this length "
                    f"({its:,} of 64,000 iterations)"
                )
            else:
                err = r.get("test_error_full", r["history"]["test_error"][-1])
                lines.append(
                    f"{label(m)} vs Table 6: {err:.2f}% vs {PAPER_TABLE6[m]}% ({err - PAPER_TABLE6[m]:+.2f} points)"
                )
        if m in public:
            rows = compare_with_public(r, public[m])
            if rows:
                last = rows[-1]
                lines.append(
                    f"{label(m)}: within {abs(last['diff']):.1f} points of the public run at iteration "
                    f"{last['iteration']:,} (test error {last['ours']:.1f}% vs {last['public']:.1f}%)"
                )
    return lines


def main(argv: list[str] | None = None) -> int:
    """``python -m course_utils.tables progress``: where the whole-schedule run stands, as a markdown table
    (finished nets from ``results/fig6/``, nets under way from ``results/fig6-state/``), for the README."""
    if list(argv if argv is not None else sys.argv[1:]) != ["progress"]:
        print("usage: python -m course_utils.tables progress", file=sys.stderr)
        return 2
    runs = load_results(results_dir("fig6")) | in_progress(FIG6_NETS)
    print(progress_table(runs, load_public()).to_markdown() if runs else "no net of the whole-schedule run yet")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
