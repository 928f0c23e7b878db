"""pytest runs everything in the ``smoke`` profile.

Set before any test or notebook kernel starts: nbval's kernels inherit this
process's environment, so notebooks executed by ``pytest`` see it too.
"""
import os

os.environ["COURSE_PROFILE"] = "smoke"
os.environ.setdefault("MPLBACKEND", "Agg")
# a widget progress bar needs a live front end; in tests, plain text is enough
os.environ.setdefault("TQDM_DISABLE", "0")
