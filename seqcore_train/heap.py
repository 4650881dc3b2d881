"""Give freed image-size buffers back to the system at once (glibc), for jobs on large images.

glibc's malloc serves a request from its heap unless it is above a threshold that starts at
128 KiB and rises, each time a big buffer is freed, up to 32 MiB. The tiled backbone, the maps and
the pictures of a 5-megapixel image are full of 4-32 MiB buffers, so after the first tile they all
live in the heap, and with the reading and writing threads (each with its own heap) the freed
space fragments: `predict` on 2448 x 2050 images peaked at 1797 MiB with the default and at 1272
MiB with the threshold fixed at 4 MiB (BENCHMARKS.md, scale). A fixed threshold costs a page fault
per 4 KiB of each such buffer, every time: about 2 million faults a second of work at 512 x 512,
where the buffers are small and memory is no concern, so only jobs on large images ask for it.
"""

from __future__ import annotations

import ctypes
import platform

__all__ = ["LARGE_BUFFER", "return_large_buffers"]

LARGE_BUFFER = 4 << 20  # bytes: from here on a buffer is mapped on its own and unmapped when freed
_M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)


def return_large_buffers(threshold: int = LARGE_BUFFER) -> bool:
    """Fix glibc's mmap threshold at `threshold` bytes for the rest of the process; False (and
    nothing changed) on another C library."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, int(threshold)))
