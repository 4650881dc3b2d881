"""One writer per output for the commands that write one (`shared_schemas.FolderLock`).

A folder written in place is locked by `OUT/.seqcore-writer.lock`; a file (a model, with fit's
checkpoint beside it), or a folder that appears in one rename (export-dataset), by `.NAME.lock`
next to it. The lock file is deleted when
the command ends; after a crash it stays, naming the dead holder, and the next run takes it over. Only the front ends lock: the
jobs they call (fit, evaluate, a cluster step in a Ray worker) and render.py's shard locks use
other files or none, so a command never refuses its own steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from seqcore_train.errors import SeqCoreError
from shared_schemas import (
    FolderBusy,
    FolderLock,
    FolderLockError,
    LockHolder,
    lock_reach,
    mount_of,
    writer_lock_path,
)

__all__ = ["OutputLockError", "check_lock_reach", "writing_file", "writing_folder"]


class OutputLockError(SeqCoreError):
    """The output is being written by another process (`holder`), or cannot be locked."""

    def __init__(self, message: str, holder: LockHolder | None = None):
        super().__init__(message)
        self.holder = holder


@contextmanager
def _holding(lock_file: Path, what: Path) -> Iterator[None]:
    lock = FolderLock(lock_file, what=str(what), tidy=True)
    try:
        lock.acquire()
    except FolderBusy as exc:
        raise OutputLockError(str(exc), exc.holder) from None
    except FolderLockError as exc:
        raise OutputLockError(str(exc)) from None
    try:
        yield
    finally:
        lock.release()


def writing_folder(out: Path) -> AbstractContextManager[None]:
    """`with writing_folder(out):` holds OUT's writer lock or raises one line. OUT is created
    for the lock and removed again if the command wrote nothing; an unwritable OUT is the
    OSError of creating it, as it was without the lock."""
    return _holding(writer_lock_path(out), Path(out))


def writing_file(out: Path) -> AbstractContextManager[None]:
    """`with writing_file(out):` holds the lock next to the output file `out`."""
    return _holding(writer_lock_path(out, beside=True), Path(out))


def check_lock_reach(out: Path, log: Callable[[str], None]) -> None:
    """For a run that may span machines: refuse an `out` on shared storage whose locks stay on
    each machine (a second driver on another node would not be refused); warn where unknown."""
    mount = mount_of(out)
    if mount is None:  # no mount table (not Linux): nothing to check
        return
    reaches, why = lock_reach(mount)
    if reaches is False:
        raise OutputLockError(
            f"{out}: {why}, so a second run from another machine would not be refused; mount it "
            "with locking (NFS without nolock/local_lock, Lustre with -o flock) or choose another --out"
        )
    if reaches is None:
        log(f"warning: {out}: {why}; start no second run into it from another machine")
