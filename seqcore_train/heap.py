"""Give freed image-size buffers back to the system at once (glibc), for jobs on large images.

glibc's malloc serves a request from its heap unless it is above a threshold that starts at
128 KiB and rises, each time a big buffer is freed, up to 32 MiB. The tiled backbone, the maps and
the pictures of a 5-megapixel image are full of 4-32 MiB buffers, so after the first tile they all
live in the heap, and with the reading and writing threads (each with its own heap) the freed
space fragments: `predict` on 2448 x 2050 images peaked at 1797 MiB with the default and at 1272
MiB with the threshold fixed at 4 MiB (BENCHMARKS.md, scale). A fixed threshold costs a page fault
per 4 KiB of each such buffer, every time: about 2 million faults a second of work at 512 x 512,
where the buffers are small and memory is no concern, so only jobs on large images ask for it.

Those faults, and the first touch of every large tensor, cost 4 KiB each unless the memory is
backed by 2 MiB pages. PyTorch asks the kernel for them (madvise) when THP_MEM_ALLOC_ENABLE=1 is
set before its first allocation; `huge_pages_for_torch` sets it for the CLI's process and its
children. Measured on the 2-core machine: `fit` on 2448 x 2050 images 30 % faster (system time
16 -> 6 s), the model's `predict` at 512 x 512 18 % faster, the same results, +1.4 % peak memory.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

__all__ = ["LARGE_BUFFER", "THP_VARIABLE", "huge_pages_for_torch", "return_large_buffers"]

LARGE_BUFFER = 4 << 20  # bytes: from here on a buffer is mapped on its own and unmapped when freed
_M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
THP_VARIABLE = "THP_MEM_ALLOC_ENABLE"  # read once by PyTorch's CPU allocator (c10 alloc_cpu)


def huge_pages_for_torch() -> bool:
    """Let PyTorch back its CPU buffers of 2 MiB and more with transparent huge pages, unless the
    user's environment says otherwise; True when it takes effect (Linux, torch not yet loaded)."""
    if platform.system() != "Linux" or "torch" in sys.modules:
        return False  # the allocator has read the variable already (or never will)
    return os.environ.setdefault(THP_VARIABLE, "1") == "1"


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
