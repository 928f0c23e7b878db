"""The final weights of finished runs on the whole test set: ``python -m course_utils.experiments evaluate DIR``.

The cpu profile records the test error on a fixed 2,000-image subset during training (cheap); this
evaluates the saved final weights on all 10,000 test images once, for the tables.
"""

from __future__ import annotations

from pathlib import Path

from course_utils import data as cdata
from course_utils import results
from course_utils.evaluation import error_percent
from course_utils.experiments.provision import normalizer_for
from course_utils.fig6_set import run_name
from course_utils.profile import Profile, get_profile

__all__ = ["evaluate_finished"]


def evaluate_finished(
    out: str | Path, *, profile: str | Profile | None = None, seed: int | None = None
) -> dict[str, float]:
    """Test error of every finished run's final (saved) weights on all 10,000 test images.

    Runs whose records used a subset of the test set (the cpu profile) get ``test_error_full`` added to
    their JSON; returns ``{run name: error %}``.
    """
    out = Path(out)
    if not out.is_dir():
        raise FileNotFoundError(f"{out} is not a results folder; give one that holds <model>-s<seed>.json files")
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    data = cdata.load_cifar10(profile=prof)
    errors = {}
    for stem, r in results.load_results(out, seed=seed).items():
        key = stem if seed is None else run_name(stem, seed)
        net = results.load_weights(r["model"], r["seed"], out)
        if net is None:
            continue
        err = error_percent(
            net.to(prof.device),
            data.test_images,
            data.test_labels,
            normalizer=normalizer_for(r, data),
            device=prof.device,
        )
        results.write_json(out / f"{key}.json", dict(r, test_error_full=err))
        errors[key] = err
        print(f"  {r['model']:>15} s{r['seed']}: {err:.2f}% test error on all {len(data.test_labels):,} test images")
    return errors
