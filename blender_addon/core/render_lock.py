"""One render per dataset folder and shard at a time (no bpy).

Two runs of one shard into one folder would share its work folder and overwrite each other's
images. The lock is an OS lock on `DIR/.render-I-of-N.lock` (flock on POSIX, a byte-range lock on
Windows): the kernel drops it when its process ends, however it ends, so a crashed run never leaves
it stale. The file also holds who took it (pid, host, start time, command) for the refusal message;
the file stays, only the lock matters. Each shard has its own lock, so shards run side by side.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .errors import RenderSetupError

__all__ = ["LockHolder", "RenderLock", "RenderLockError", "lock_holder", "lock_path"]

_WINDOWS_LOCK_OFFSET = 1 << 30  # lock a byte past the info, which other processes must still read


class RenderLockError(RenderSetupError):
    """The folder and shard are being rendered by another process; `holder` says which."""

    def __init__(self, message: str, holder: LockHolder):
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True)
class LockHolder:
    pid: int | None
    host: str
    started: str  # ISO 8601, UTC
    command: str

    def describe(self) -> str:
        if self.pid is None:
            return "another process"
        return f"process {self.pid} on {self.host} (started {self.started})"


def lock_path(out: Path, shard_index: int = 1, shard_count: int = 1) -> Path:
    return Path(out) / f".render-{shard_index}-of-{shard_count}.lock"


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


def _read_holder(path: Path) -> LockHolder:
    """Who holds the lock, from the file's text; the holder writes it right after locking."""
    for _ in range(20):
        try:
            info = json.loads(path.read_text(encoding="utf-8") or "null")
        except (OSError, ValueError):
            info = None
        if isinstance(info, dict) and isinstance(info.get("pid"), int):
            return LockHolder(
                info["pid"], str(info.get("host", "?")), str(info.get("started", "?")),
                str(info.get("command", "")),
            )  # fmt: skip
        time.sleep(0.05)  # locked but not yet written
    return LockHolder(None, "?", "?", "")


class RenderLock:
    """Context manager: `with RenderLock(out, i, n): ...`; a RenderLockError (one line) if taken."""

    def __init__(self, out: Path, shard_index: int = 1, shard_count: int = 1):
        self.out = Path(out)
        self.shard = (shard_index, shard_count)
        self.path = lock_path(self.out, shard_index, shard_count)
        self._fd: int | None = None

    def acquire(self) -> RenderLock:
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
        except OSError as exc:
            raise RenderSetupError(
                f"{self.out}: output folder is not writable ({exc.strerror or exc})"
            ) from None
        if not _try_lock(fd):
            os.close(fd)
            holder = _read_holder(self.path)
            shard = f" (shard {self.shard[0]}/{self.shard[1]})" if self.shard[1] > 1 else ""
            raise RenderLockError(
                f"{self.out}{shard} is already being rendered by {holder.describe()}; "
                "wait for it to finish or stop it, then run again to resume",
                holder,
            )
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv),
        }
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(info).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)  # no stale "who" once free
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> RenderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def lock_holder(out: Path, shard_index: int = 1, shard_count: int = 1) -> LockHolder | None:
    """Who renders this folder and shard now, or None when nobody does (takes no lock for long)."""
    if not lock_path(out, shard_index, shard_count).exists():
        return None
    probe = RenderLock(out, shard_index, shard_count)
    try:
        probe.acquire()
    except RenderLockError as exc:
        return exc.holder
    probe.release()
    return None
