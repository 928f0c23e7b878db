"""Where things live: the one place that computes the course's folders.

Every other module asks here instead of walking up from its own ``__file__``
(a module that moves into a subpackage would otherwise silently look in the
wrong folder).

    >>> (repo_root() / "course_utils").is_dir()
    True
    >>> results_dir("fig6").relative_to(repo_root()).as_posix()
    'results/fig6'
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["repo_root", "package_dir", "data_dir", "results_dir", "runs_dir", "md_img_dir"]

_PACKAGE = Path(__file__).resolve().parent  # .../course_utils


def repo_root() -> Path:
    """The repository root: the folder that holds ``course_utils/``, ``notebooks/`` and ``results/``."""
    return _PACKAGE.parent


def package_dir(name: str = "") -> Path:
    """Files shipped inside the package (installed with it): ``course_utils/<name>``."""
    return _PACKAGE / name if name else _PACKAGE


def data_dir() -> Path:
    """The data root: ``$COURSE_DATA_DIR`` when set, else ``<repo>/data`` (git-ignored)."""
    env = os.environ.get("COURSE_DATA_DIR", "").strip()
    return Path(env).expanduser() if env else repo_root() / "data"


def results_dir(name: str = "") -> Path:
    """Committed result files: ``<repo>/results/<name>`` (e.g. ``fig6``, ``fig6-cpu``, ``bench``).

    ``$COURSE_RESULTS_DIR`` replaces ``<repo>/results`` (to try the notebooks on other result files).
    """
    env = os.environ.get("COURSE_RESULTS_DIR", "").strip()
    base = Path(env).expanduser() if env else repo_root() / "results"
    return base / name if name else base


def runs_dir(name: str = "") -> Path:
    """Scratch output of live runs (notebook caches, checkpoints): ``<repo>/runs/<name>``, git-ignored."""
    return repo_root() / "runs" / name if name else repo_root() / "runs"


def md_img_dir() -> Path:
    """Figures for the markdown of the README and the notebooks: ``<repo>/md_img``."""
    return repo_root() / "md_img"
