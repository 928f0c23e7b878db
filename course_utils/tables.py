"""Tables and verdicts from result files: our final errors beside the paper's, and the paper's claims checked.

>>> PAPER_TABLE6["resnet56"]
6.97
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from course_utils.plots import Results, as_results, label
from course_utils.public import compare_with_public, evaluation_noise, load_public, value_at
from course_utils.results import done
from course_utils.schedule import model_depth

__all__ = [
    "PAPER_TABLE6",
    "REPRODUCTIONS",
    "ResultsTable",
    "results_table",
    "public_table",
    "NOISE_SIGMAS",
    "precision_table",
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


NOISE_SIGMAS = 3.0  # a difference of two runs beyond 3 x sqrt(2) x the evaluation noise is not chance


def precision_table(fp32: dict, other: dict, public: dict) -> tuple[ResultsTable, bool]:
    """One net trained twice from the same seed and data order, in fp32 and in another precision (bf16):
    their test errors side by side at every record, the difference, and what chance allows there:
    ``NOISE_SIGMAS`` x sqrt(2) x the public run's evaluation noise (``public.evaluation_noise``; the mean
    difference gets the same bound divided by sqrt(records)). Returns the table and whether every
    difference and the mean difference are within it."""
    sigma = evaluation_noise(public)
    bound = NOISE_SIGMAS * 2**0.5 * sigma
    rows, diffs = [], []
    for it, a in zip(fp32["history"]["iteration"], fp32["history"]["test_error"], strict=True):
        b = value_at(other, it)
        if b is None:
            continue
        diffs.append(b - a)
        rows.append(
            {"iteration": f"{it:,}", "fp32 %": f"{a:.2f}", f"{other.get('variant', 'other')} %": f"{b:.2f}",
             "difference": f"{b - a:+.2f}", "chance allows": f"±{bound:.1f}"}
        )  # fmt: skip
    mean_bound = bound / len(diffs) ** 0.5
    mean = sum(diffs) / len(diffs)
    rows.append(
        {"iteration": "mean", "fp32 %": "", f"{other.get('variant', 'other')} %": "",
         "difference": f"{mean:+.2f}", "chance allows": f"±{mean_bound:.1f}"}
    )  # fmt: skip
    ok = all(abs(d) <= bound for d in diffs) and abs(mean) <= mean_bound
    return ResultsTable(rows, tuple(rows[0])), ok


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
    lines = []
    for better, worse, claim in CLAIMS:
        pair = f"{label(better)} vs {label(worse)}"
        if better not in by_model or worse not in by_model:
            lines.append(f"{claim}: not checkable here ({label(better)} and {label(worse)} not both trained)")
            continue
        start = shows_from(public[better], public[worse]) if better in public and worse in public else None
        if start is None:
            lines.append(f"{claim} ({pair}): no public curve to say from when it shows")
            continue
        a, b = by_model[better], by_model[worse]
        its = [i for i in a["history"]["iteration"] if i >= start and i in b["history"]["iteration"]]
        since = "from the start" if start == 0 else f"from iteration {start:,}"
        if not its:
            end = min(done(a), done(b))
            lines.append(
                f"{claim} ({pair}): not testable at this length ({end:,} iterations; the public run shows it {since})"
            )
            continue
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
        lines.append(f"{claim} ({pair}): {verdict} at every record {since} ({ends})")
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
                    f"{last['iteration']:,} "
                    f"(test error {last['ours']:.1f}% vs {last['public']:.1f}%)"
                )
    return lines
