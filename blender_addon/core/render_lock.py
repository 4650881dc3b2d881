"""One render per dataset folder and shard at a time (no bpy).

Two runs of one shard into one folder would share its work folder and overwrite each other's
images. The lock is `shared_schemas.FolderLock` (an OS lock; the kernel drops it when its process
ends, so a crashed run never leaves it stale) on `DIR/.render-I-of-N.lock`. Each shard has its own
lock, so shards run side by side, and a command that holds the folder's writer lock (an experiment
rendering its data sets) does not refuse its own render.
"""

from __future__ import annotations

from pathlib import Path

from .._schemas import schemas
from .errors import RenderSetupError

__all__ = ["LockHolder", "RenderLock", "RenderLockError", "lock_holder", "lock_path"]

LockHolder = schemas.LockHolder


class RenderLockError(RenderSetupError):
    """The folder and shard are being rendered by another process; `holder` says which."""

    def __init__(self, message: str, holder: LockHolder | None):
        super().__init__(message)
        self.holder = holder


def lock_path(out: Path, shard_index: int = 1, shard_count: int = 1) -> Path:
    return Path(out) / f".render-{shard_index}-of-{shard_count}.lock"


class RenderLock:
    """Context manager: `with RenderLock(out, i, n): ...`; a RenderLockError (one line) if taken."""

    def __init__(self, out: Path, shard_index: int = 1, shard_count: int = 1):
        self.out = Path(out)
        self.path = lock_path(self.out, shard_index, shard_count)
        shard = f" (shard {shard_index}/{shard_count})" if shard_count > 1 else ""
        self._lock = schemas.FolderLock(self.path, what=f"{self.out}{shard}", verb="rendered")

    def acquire(self) -> RenderLock:
        try:
            self._lock.acquire()
        except schemas.FolderBusy as exc:
            raise RenderLockError(str(exc), exc.holder) from None
        except schemas.FolderLockError as exc:
            raise RenderSetupError(str(exc)) from None
        except OSError as exc:
            raise RenderSetupError(
                f"{self.out}: output folder is not writable ({exc.strerror or exc})"
            ) from None
        return self

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> RenderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def lock_holder(out: Path, shard_index: int = 1, shard_count: int = 1) -> LockHolder | None:
    """Who renders this folder and shard now, or None when nobody does (takes no lock for long)."""
    return schemas.lock_holder(lock_path(out, shard_index, shard_count))
