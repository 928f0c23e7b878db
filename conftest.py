"""pytest runs everything in the ``smoke`` profile.

Set before any test or notebook kernel starts: nbval's kernels inherit this
process's environment, so notebooks executed by ``pytest`` see it too.
"""
import os

os.environ["COURSE_PROFILE"] = "smoke"
os.environ.setdefault("MPLBACKEND", "Agg")
# idle OpenMP threads sleep instead of spinning: on 2 shared cores spinning
# threads crowd out the real work (measured 4x slower test runs)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# a widget progress bar needs a live front end; in tests, plain text is enough
os.environ.setdefault("TQDM_DISABLE", "0")
