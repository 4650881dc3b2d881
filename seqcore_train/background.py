"""Reading ahead and writing behind, so file work overlaps the model's compute.

Decoding PNGs and encoding them (zlib inside Pillow), numpy copies and torch kernels all release
the GIL, so one helper thread for each runs beside the backbone. Both are bounded to one item
beyond the one in use: memory holds at most two images' worth, whatever the number of images.
Order is kept (items come out as they went in; writes go to distinct files) and an exception in
a helper thread is raised in the caller, at the next item or at the end.

Helpers that compute pay only where they have a core of their own (`overlap_pays`). Where torch's
threads take every core the process may use, each GIL hand-over to a helper wakes it on a core
the model is using, and the model's threads, which meet at a barrier after every parallel loop,
wait for the one it displaced: on 2 cores, even helpers with 4 ms of work per 512^2 image slowed
`predict` by about 20 %, so there decoding and encoding run in the caller's thread, between
images. A helper that only makes system calls (writing encoded bytes, waiting for fsync) needs
next to no core and takes that wait off the model's path everywhere (BENCHMARKS.md).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

__all__ = ["overlap_pays", "read_ahead", "WriteBehind"]

T = TypeVar("T")
_DONE = object()


def overlap_pays(device) -> bool:
    """Whether helper threads should decode and encode beside a model on `device`: on a GPU, or
    on the CPU when this process may use more cores than torch's threads."""
    import torch

    if torch.device(device).type != "cpu":
        return True
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return cores > torch.get_num_threads()


def read_ahead(items: Iterable[T], ahead: int = 1) -> Iterator[T]:
    """`items`, produced in a helper thread at most `ahead` items before the caller's.

    `ahead` 0 is the plain iteration, in the caller's thread.
    """
    if ahead < 1:
        yield from items
        return
    slots = threading.Semaphore(ahead)  # items built (or being built) and not yet taken
    handoff: queue.Queue = queue.Queue()
    stop = threading.Event()

    def produce() -> None:
        iterator = iter(items)
        try:
            while True:
                slots.acquire()  # the next item is built only once a slot is free
                if stop.is_set():
                    return
                item = next(iterator, _DONE)
                handoff.put((item, None))
                if item is _DONE:
                    return
                del item  # the caller holds it now; do not keep it alive here
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            handoff.put((_DONE, exc))

    thread = threading.Thread(target=produce, name="seqcore-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = handoff.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            slots.release()
            yield item
            del item
    finally:
        stop.set()
        slots.release()  # a producer waiting for a slot wakes up, sees `stop` and ends
        thread.join(timeout=60)


class WriteBehind:
    """Runs write jobs in one helper thread, at most `pending` queued behind the running one.

    `submit(job, *args)` waits while the queue is full (so memory stays bounded) and raises the
    error of a job that failed before; `close()` waits for the rest and raises their first error.
    Use as a context manager; on an exception in the body the remaining jobs are still finished.
    """

    def __init__(self, pending: int = 1):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seqcore-write")
        self._slots = threading.Semaphore(pending + 1)
        self._futures: list[Future] = []

    def submit(self, job: Callable[..., None], *args) -> None:
        self._raise_failed()
        self._slots.acquire()
        future = self._pool.submit(job, *args)
        future.add_done_callback(lambda _future: self._slots.release())
        self._futures.append(future)

    def _raise_failed(self) -> None:
        running = []
        for future in self._futures:
            if not future.done():
                running.append(future)
            elif future.exception() is not None:
                raise future.exception()
        self._futures = running

    def close(self) -> None:
        try:
            for future in self._futures:
                future.result()
        finally:
            self._pool.shutdown(wait=True)
            self._futures = []

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, kind, _value, _traceback) -> None:
        if kind is None:
            self.close()
        else:  # the body's exception wins; still let started writes finish
            self._pool.shutdown(wait=True)
