"""Computing the next batch while the current one is used: a one-item pipeline on its own thread.

The sequential coreset is a chain of small serial steps that one CPU thread runs fastest, so during
a fit the backbone can have the other cores: `ahead` runs a producer (images -> patch features) in a
background thread with its own torch thread count, one item ahead of the consumer. The order of the
items is the producer's, and the producer always runs with the same thread count, so a fit gives the
same bits on every run on one machine. Errors in the producer are raised in the consumer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

import torch

__all__ = ["ahead", "producer_threads"]

T = TypeVar("T")
_DONE = object()


def producer_threads() -> int:
    """Torch threads for a producer beside a one-thread consumer; 0: too few to split, don't."""
    threads = torch.get_num_threads()
    return threads - 1 if threads >= 2 else 0


def ahead(items: Iterable[T], threads: int) -> Iterator[T]:
    """Yield `items`, produced one ahead on a background thread that uses `threads` torch threads."""
    slot: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                slot.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        # A thread takes torch's process-wide count at its first op, and the consumer may change
        # that count meanwhile: settle this thread first, then set its own count (per thread).
        torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_DONE, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            put((_DONE, exc))

    worker = threading.Thread(target=produce, name="seqcore-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, error = slot.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        worker.join()
