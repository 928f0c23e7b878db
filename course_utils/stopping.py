"""Ctrl-C as a request to stop: the step under way finishes, every run saves its state, the same command resumes.

Left alone, Python turns Ctrl-C (SIGINT) into a ``KeyboardInterrupt`` wherever the main thread happens to
be: in the middle of an SGD update, of a record (the history then holds an iteration without its test
error), of a checkpoint. Inside :func:`ctrl_c_stops` it only sets an event, which ``fig6``'s loop reads
between two steps, and what was interrupted is saved whole.

Worker processes (``fig6 --jobs``) must not see SIGINT at all: a terminal sends it to the whole process
group, and a worker that dies of it breaks its pool, whose other workers are then terminated without
their finalizers (the named semaphores they hold leak: the resource tracker's "leaked semaphore"
warning). Processes started inside :func:`sigint_blocked` inherit SIGINT blocked, so their Python never
installs its handler; :func:`ignore_sigint` (their initializer) then ignores it for good.

    >>> with ctrl_c_stops() as stop:
    ...     signal.raise_signal(signal.SIGINT)
    ...     stop.is_set()
    True
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

__all__ = ["Stopped", "ctrl_c_stops", "sigint_blocked", "ignore_sigint"]

NOTE = "\nCtrl-C: stopping after the current step; every run saves its state (run the same command again to resume)\n"


class Stopped(KeyboardInterrupt):
    """Raised after a clean stop on Ctrl-C (every run saved); its message says where the set stands."""


@contextlib.contextmanager
def ctrl_c_stops(note: str = NOTE) -> Iterator[threading.Event]:
    """Within: SIGINT sets the yielded event and writes ``note`` to stderr (a raw write, safe
    inside a handler) instead of raising ``KeyboardInterrupt``; a second Ctrl-C says it again. Outside the
    main thread (where no handler can be set) nothing changes. The previous handler comes back on exit."""
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stop.set()
        os.write(2, note.encode())

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: signals stay as they are
        previous = None
    try:
        yield stop
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """SIGINT held back in this thread (and delivered on exit): a process started inside inherits the block,
    so SIGINT never reaches its Python. Where signals cannot be blocked (Windows), nothing changes."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def ignore_sigint() -> None:
    """In a worker process: SIGINT ignored (the parent alone answers Ctrl-C and tells the workers to stop)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
