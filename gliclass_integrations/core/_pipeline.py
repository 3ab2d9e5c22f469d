"""Work done on host threads ahead of its consumer: results in input order, a bounded number in flight.

The host prepares inputs (tokenization in Rust releases the GIL; collating fills NumPy arrays) while the
main thread runs the network (PyTorch releases the GIL in its kernels, and a CUDA launch returns at
once), so preparation and computation overlap instead of adding up.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def available_cores() -> int:
    """CPU cores this process may run on (its affinity where the OS tells it, else all of them)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_workers() -> int:
    """Host threads preparing inputs by default: one per available core, at most 8."""
    return max(1, min(8, available_cores()))


class AheadOfTime(Iterator[Result]):
    """``function(item)`` for every item, computed on ``workers`` threads, yielded in input order.

    At most ``ahead`` items (default: ``workers + 1``) are being computed or waiting to be consumed, so
    memory stays bounded for an iterable of any length. An exception raised for an item is raised
    here when that item's turn comes. ``close()`` (also on leaving a ``with`` block, and when an
    exception ends the iteration) cancels work not yet started and joins the threads: no thread
    outlives the consumer. The items are read on the consumer's thread: each time a result is taken,
    or, with ``fill_on_next=False``, only when nothing is pending and whenever the consumer calls
    ``fill()`` (at a moment when it has time to spare).
    """

    def __init__(self, function: Callable[[Item], Result], items: Iterable[Item], *, workers: int,
                 ahead: int | None = None, name: str = "gliclass-prepare", fill_on_next: bool = True) -> None:
        self._function = function
        self._items = iter(items)
        self._limit = max(1, ahead if ahead is not None else workers + 1)
        self._read_on_next = self._limit if fill_on_next else 1  # items pending once a result is asked for
        self._pending: deque[Future] = deque()
        self._executor: ThreadPoolExecutor | None = ThreadPoolExecutor(max_workers=max(1, workers),
                                                                       thread_name_prefix=name)
        self._exhausted = False

    def fill(self, while_ready: Callable[[], bool] = lambda: True) -> None:
        """Read items until ``ahead`` of them are pending, the items are exhausted, or ``while_ready()`` says
        that reading the next one would wait."""
        if self._executor is not None:
            self._top_up(self._limit, while_ready)

    def _top_up(self, limit: int, while_ready: Callable[[], bool] = lambda: True) -> None:
        while not self._exhausted and len(self._pending) < limit and while_ready():
            try:
                item = next(self._items)
            except StopIteration:
                self._exhausted = True
                return
            self._pending.append(self._executor.submit(self._function, item))

    def __next__(self) -> Result:
        try:
            self._next_future()
            return self._pending.popleft().result()
        except BaseException:
            self.close()
            raise

    def next_is_ready(self) -> bool:
        """Whether the next result is computed, so that taking it does not wait."""
        try:
            return self._next_future().done()
        except StopIteration:
            return False

    def peek(self) -> Result:
        """The next result, without taking it (waiting for it if it is not ready); an exception raised for it is
        raised here, and again when it is taken."""
        return self._next_future().result()

    def _next_future(self) -> Future:
        """The next item's computation, items read first as ``fill_on_next`` says; StopIteration if none is left."""
        if self._executor is None:
            raise StopIteration
        self._top_up(self._read_on_next)
        if not self._pending:
            raise StopIteration
        return self._pending[0]

    def close(self) -> None:
        if self._executor is None:
            return
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        self._executor.shutdown(wait=True)
        self._executor = None

    def __enter__(self) -> AheadOfTime[Result]:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

