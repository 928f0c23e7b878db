"""After JupyterLab saves a notebook, let ``git status`` compare its content, not its size.

The clean filter (``.gitattributes``, ``.ci/nbclean.py --filter``) makes a notebook that was only run
the committed notebook for git, so ``git diff`` shows nothing. ``git status`` looks first at the
file's size recorded in the index: the executed notebook is larger, so it is listed as modified
without the filter ever running. After each save, :func:`refresh_index` asks git for the cleaned
notebook's blob id (``git hash-object --path``, the clean filter, nothing written); when it is the blob
the index holds, it resets the entry to that blob with empty stat data (``git update-index --cacheinfo``)
and refreshes it (``git add --refresh``, which never stages): git compares the content again and records
the new size and time. A notebook whose cleaned content differs (an edited cell) is left as it was:
nothing is staged, its index entry is untouched, and ``git status`` lists it, as before.

The module is a Jupyter server extension, enabled by the package install
(``jupyter-config/course-notebook-save.json``, copied to ``<sys.prefix>/etc/jupyter/jupyter_server_config.d/``):
a ``jupyter lab`` started from the course's environment registers :func:`refresh_index` as a post-save hook
(``jupyter server extension disable course_utils.notebook_save`` turns it off). It does nothing, quietly, for
a file that is not a notebook, outside a git work tree, for an untracked notebook, where the course's filter
is not enabled, or without git; a failure is logged as a warning, never raised into the server.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["FILTER", "TIMEOUT_S", "refresh_index"]

FILTER = "course-notebook"  # the filter of .gitattributes, defined in .gitconfig
TIMEOUT_S = 20.0  # per git call; the refresh runs the clean filter (one Python start) on the notebook
EMPTY_BLOBS = {  # an intent-to-add entry (`git add -N`) holds the empty blob: left as it is
    "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
    "473a0f4c3be8a93681a267e3b1e9a7dcda1185436fe141f7749120a303721813",
}
_LOG = logging.getLogger(__name__)


def _git(git: str, cwd: str | Path, *args: str) -> str | None:
    """Git's output in ``cwd``; ``None`` when it fails, cannot start or runs past ``TIMEOUT_S``.

    Git runs in a process group of its own: on a timeout the group goes, the clean filter it started
    with it, so nothing left behind keeps the server waiting.
    """
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_LITERAL_PATHSPECS": "1", "LC_ALL": "C"}
    try:
        proc = subprocess.Popen(
            [git, *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # POSIX; ignored on Windows, where only git itself is stopped
        )
    except OSError:
        return None
    with proc:
        try:
            out, _ = proc.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):  # the group may be gone already
                if hasattr(os, "killpg"):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.kill()
            proc.wait()
            return None
    return out.decode("utf-8", "surrogateescape") if proc.returncode == 0 else None


def _tracked_entry(git: str, top: Path, rel: str) -> tuple[str, str] | None:
    """(mode, blob id) of ``rel``'s index entry, if it is one plain, merged, regular file."""
    listed = _git(git, top, "ls-files", "-z", "-s", "-v", "--", rel)
    entries = [e for e in listed.split("\0") if e] if listed else []
    if len(entries) != 1:  # untracked, or unmerged (one entry per stage)
        return None
    info, _, path = entries[0].partition("\t")
    tag, mode, blob, stage = info.split(" ")
    # H: a cached file (h: assume-unchanged, S: skip-worktree keep their flags); 100644/100755: a regular file
    if path != rel or tag != "H" or stage != "0" or mode not in ("100644", "100755") or blob in EMPTY_BLOBS:
        return None
    return mode, blob


def _uses_the_filter(git: str, top: Path, rel: str) -> bool:
    attr = _git(git, top, "check-attr", "-z", "filter", "--", rel)  # "path\0filter\0value\0"
    fields = attr.split("\0") if attr else []
    if len(fields) < 3 or fields[2] != FILTER:
        return False
    return _git(git, top, "config", "--get", f"filter.{FILTER}.clean") is not None


def refresh_index(
    model: dict[str, Any] | None = None, os_path: str = "", contents_manager: Any = None, **kwargs: Any
) -> None:
    """Jupyter server post-save hook: refresh the index entry of the notebook just saved at ``os_path``.

    Called as ``hook(model=..., os_path=..., contents_manager=...)`` (``ContentsManager.post_save_hook``).
    """
    log = getattr(contents_manager, "log", None) or _LOG
    try:
        if not os_path.endswith(".ipynb"):
            return
        git = shutil.which("git")
        path = Path(os_path).resolve()
        if git is None or not path.is_file():
            return
        found = _git(git, path.parent, "rev-parse", "--show-toplevel")
        if found is None:  # not in a git work tree
            return
        top = Path(found.strip()).resolve()
        if not path.is_relative_to(top):
            return
        rel = path.relative_to(top).as_posix()
        entry = _tracked_entry(git, top, rel)
        if entry is None or not _uses_the_filter(git, top, rel):
            return
        mode, blob = entry
        cleaned = _git(git, top, "hash-object", f"--path={rel}", "--", rel)
        if cleaned is None or cleaned.strip() != blob:  # an edit (or a filter that cannot run): leave it
            return
        # the same blob, with empty stat data: git's next look compares content, through the clean filter
        if _git(git, top, "update-index", "--cacheinfo", f"{mode},{blob},{rel}") is None:
            log.warning("course_utils.notebook_save: could not refresh git's index entry of %s", rel)
            return
        # records the new size and time (the file changed since: the entry stays modified, git status
        # compares its content). Not `update-index --refresh -- <path>`: update-index stages the paths it is given
        if _git(git, top, "add", "--refresh", "--", rel) is None:
            log.warning("course_utils.notebook_save: git could not refresh %s (git status compares its content)", rel)
    except Exception as err:  # a save must never fail because of git
        log.warning("course_utils.notebook_save: index refresh of %s skipped: %s", os_path, err)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """Where jupyter_server finds this extension (named in ``jupyter_server_config.d``)."""
    return [{"module": "course_utils.notebook_save"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Register :func:`refresh_index` with the server's contents manager, after any configured hook."""
    manager = serverapp.contents_manager
    if not hasattr(manager, "register_post_save_hook"):  # a contents manager without save hooks
        serverapp.log.warning("course_utils.notebook_save: %s has no post-save hooks", type(manager).__name__)
        return
    manager.register_post_save_hook(refresh_index)
