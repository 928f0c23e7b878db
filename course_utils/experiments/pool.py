"""``fig6 --jobs N`` on a CPU: units of work in N worker processes, started in the order of work, stopped cleanly.

The parent hands a unit to the pool only when a process is free, so units start in the order given (the
order ``fig6`` printed), and only while ``may_start`` says there is time for useful work. Only the parent
answers Ctrl-C: the workers are spawned with SIGINT blocked (``stopping.sigint_blocked``) and ignore it
(``stopping.ignore_sigint``); the parent sets an event that each worker reads between two steps
(:func:`stop_requested`, passed to ``fig6``'s loop), each saves its run's state and returns, and
the pool shuts down as usual. No worker is killed, so none leaks the named semaphores it holds (tqdm's
lock): no "leaked semaphore" warning from the resource tracker.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

import torch

from course_utils import stopping

__all__ = ["run_pool", "stop_requested", "torch_threads"]

T = TypeVar("T")
_stop_event: Any = None  # in a worker: the parent's stop event


def _init_worker(event: Any, threads: int) -> None:
    """Each worker, once: SIGINT ignored, the parent's stop event kept, ``threads`` threads for torch."""
    global _stop_event
    stopping.ignore_sigint()
    _stop_event = event
    torch.set_num_threads(threads)


def stop_requested() -> bool:
    """In a worker: has the parent asked it to stop (Ctrl-C)? Outside a pool worker: False."""
    return _stop_event is not None and _stop_event.is_set()


def run_pool(
    units: Sequence[T],
    fn: Callable[[Any], Any],
    *,
    args: Callable[[T], Any] = lambda unit: unit,
    jobs: int,
    threads: int,
    stop: Callable[[], bool],
    may_start: Callable[[T], bool] = lambda unit: True,
    on_start: Callable[[T], None] = lambda unit: None,
    poll_s: float = 0.5,
) -> tuple[list[Any], list[T]]:
    """``fn(args(unit))`` for each unit in ``jobs`` spawned processes of ``threads`` threads, in order: a unit
    starts when a process is free and ``may_start(unit)``; once ``stop()`` (read every ``poll_s``) is true, none
    starts and the running ones are told to stop. Returns the results of the units that ran, in their order, and
    the units never started. An error in a worker stops the others the same way, then is raised."""
    ctx = multiprocessing.get_context("spawn")
    event = ctx.Event()
    pending, running, done = deque(enumerate(units)), {}, {}
    errors: list[BaseException] = []
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker, initargs=(event, threads)) as pool:
        try:
            while pending or running:
                if stop() or errors:
                    event.set()
                while pending and len(running) < jobs and not event.is_set() and may_start(pending[0][1]):
                    i, unit = pending.popleft()
                    on_start(unit)
                    with stopping.sigint_blocked():  # a process spawned now inherits SIGINT blocked
                        running[pool.submit(fn, args(unit))] = i
                if not running:
                    break
                finished, _ = wait(list(running), timeout=poll_s, return_when=FIRST_COMPLETED)
                for f in finished:
                    _collect(f, running.pop(f), done, errors)
        except BaseException:
            event.set()  # a KeyboardInterrupt where no handler could be set: the workers save, stop, and are joined
            raise
    if errors:
        raise errors[0]
    return [done[i] for i in sorted(done)], [unit for _, unit in pending]


def _collect(f: Future, i: int, done: dict[int, Any], errors: list[BaseException]) -> None:
    """Keep the result of the finished ``f`` (unit ``i``), or its error."""
    try:
        done[i] = f.result()
    except Exception as err:
        errors.append(err)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch on ``n`` threads within (the measurements of a set trained in processes of ``n`` threads)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
