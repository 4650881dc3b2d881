"""Drop Blender's per-tile status lines from standard output, keep everything else (no bpy).

During a render Blender's C code prints "Fra:1 Mem:... | Sample 3/16" many times per image, then
"Saved: '...'" and " Time: ...", straight to file descriptor 1, so `sys.stdout` cannot catch them.
`render_status_filtered` points descriptor 1 at a pipe for the block; a thread copies each line to
the real standard output unless it is such a status line. Python's own prints go through the same
pipe, so the order of lines is kept.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["is_status_line", "render_status_filtered"]

# "Fra:1 Mem:... | Sample 3/16", "Saved: '...'", "Time: 00:00.23 (Saving: ...)" (Blender 4.x), and
# the same behind Blender 5's log prefix "00:03.113  render           | Saved: '...'"
_STATUS = re.compile(rb"\s*(?:[\d:.]+\s+render\s+\|\s*)?(?:Fra:|Saved: |Time: )")


def is_status_line(line: bytes) -> bool:
    """Blender's render status lines, and the blank lines it prints between images."""
    return _STATUS.match(line) is not None or not line.strip()


def _flush_c_stdout() -> None:
    """C's stdout buffer, which a pipe makes block-buffered, must reach the pipe before it closes."""
    if sys.platform == "win32":
        return  # the CRT that Blender links is not the one ctypes would find; it flushes per line
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass


def _copy(read_fd: int, out_fd: int) -> None:
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        pending = b""
        while chunk := pipe.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not is_status_line(line))
            if kept:
                os.write(out_fd, kept)
        if pending and not is_status_line(pending):
            os.write(out_fd, pending)


@contextmanager
def render_status_filtered(fd: int = 1) -> Iterator[None]:
    """Within the block, lines that `is_status_line` names never reach descriptor `fd`."""
    sys.stdout.flush()
    _flush_c_stdout()
    real = os.dup(fd)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, fd)
    os.close(write_fd)
    copier = threading.Thread(target=_copy, args=(read_fd, real), daemon=True)
    copier.start()
    try:
        yield
    finally:
        sys.stdout.flush()
        _flush_c_stdout()
        os.dup2(real, fd)  # closes the pipe's last write end: the copier reads to the end
        copier.join()
        os.close(real)
