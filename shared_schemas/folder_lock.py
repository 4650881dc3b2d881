"""One writer per output: an OS lock on a lock file, with who holds it for the refusal message.

The lock is flock on POSIX and a byte-range lock on Windows: the kernel drops it when its process
ends, however it ends (kill -9, a crash, a power cut on another node of a network file system), so a
crashed run never leaves it stale and a rerun resumes. The file holds who took it (pid, host, start
time, command) while it is held and nothing once released; the file stays, only the lock matters.
The descriptor is not inherited by child processes (Python opens files close-on-exec), so a
subprocess that outlives its parent never keeps the parent's lock.

Locks are per lock file: a command that holds its output folder's lock can run steps that lock
other files inside it (render.py's shard locks) without refusing itself. The same file locked twice,
even by one process, is refused the second time.

Across machines a lock reaches other machines only where the file system shares locks: NFS (v4, or
v3 with lockd; not mounted `nolock` or `local_lock=flock|all`), CephFS, GPFS, Lustre mounted with
`flock`. `lock_reach` tells, on Linux, from the mount table.
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

__all__ = [
    "WRITER_LOCK",
    "FolderBusy",
    "FolderLock",
    "FolderLockError",
    "LockHolder",
    "Mount",
    "lock_holder",
    "lock_reach",
    "mount_of",
    "writer_lock_path",
]

WRITER_LOCK = ".seqcore-writer.lock"  # inside an output folder
_WINDOWS_LOCK_OFFSET = 1 << 30  # lock a byte past the info, which other processes must still read


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


class FolderLockError(Exception):
    """The lock cannot be taken: held by another process, or a file system without locks."""


class FolderBusy(FolderLockError):
    """Another process holds the lock; `holder` says which."""

    def __init__(self, message: str, holder: LockHolder):
        super().__init__(message)
        self.holder = holder


def writer_lock_path(target: str | os.PathLike, beside: bool = False) -> Path:
    """The lock file of an output: `TARGET/.seqcore-writer.lock` for a folder written in place,
    `.NAME.lock` next to it for a file (or a folder that appears in one rename)."""
    target = Path(target)
    return target.parent / f".{target.name}.lock" if beside else target / WRITER_LOCK


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


class FolderLock:
    """`with FolderLock(lock_file, what): ...` holds the lock; a second taker gets `FolderBusy`,
    one line: "WHAT is already being VERB by process P on HOST (started T); ...". An unwritable
    place is the OSError of creating the folder or the file.

    `what` names the output in messages (default: the lock file's folder). With `tidy`, release
    deletes the lock file (POSIX), and its folder too when the lock made it and it is empty, so a
    command that fails before writing leaves nothing behind; otherwise the file stays, emptied."""

    def __init__(
        self,
        path: str | os.PathLike,
        what: str | None = None,
        verb: str = "written",
        tidy: bool = False,
    ):
        self.path = Path(path)
        self.what = what if what is not None else str(self.path.parent)
        self.verb = verb
        self.tidy = tidy and sys.platform != "win32"  # Windows cannot delete an open file
        self._fd: int | None = None
        self._made_folder = False

    def _open_locked(self) -> int | None:
        """The locked descriptor of the file now at `path`, or None when another holds it."""
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
            except FileNotFoundError:  # a tidy holder removed the folder it had made: again
                self.path.parent.mkdir(parents=True, exist_ok=True)
                continue
            try:
                locked = _try_lock(fd)
            except OSError as exc:  # ENOLCK, EOPNOTSUPP: no locks on this file system
                os.close(fd)
                raise FolderLockError(
                    f"{self.path}: cannot lock ({exc.strerror or exc}); the output needs a file "
                    "system with file locks"
                ) from None
            if not locked:
                os.close(fd)
                return None
            if not self.tidy:
                return fd
            try:  # a tidy holder may have deleted the file between our open and our lock
                now = os.stat(self.path)
            except FileNotFoundError:
                now = None
            mine = os.fstat(fd)
            if now is not None and (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
                return fd
            os.close(fd)  # locked a deleted file: take the one at `path` now

    def acquire(self) -> FolderLock:
        folder = self.path.parent
        made = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        fd = self._open_locked()
        if fd is None:
            holder = _read_holder(self.path)
            raise FolderBusy(
                f"{self.what} is already being {self.verb} by {holder.describe()}; "
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
        self._fd, self._made_folder = fd, made
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)  # no stale "who" once free
            if self.tidy:  # deleted while still locked: a waiting taker sees it and retries
                self.path.unlink(missing_ok=True)
                if self._made_folder:
                    try:
                        self.path.parent.rmdir()  # only if empty: nothing was written
                    except OSError:
                        pass
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def lock_holder(path: str | os.PathLike) -> LockHolder | None:
    """Who holds the lock file now, or None when nobody does (takes the lock for an instant)."""
    if not Path(path).exists():
        return None
    probe = FolderLock(path)
    try:
        probe.acquire()
    except FolderBusy as exc:
        return exc.holder
    probe.release()
    return None


# ------------------------------------------------------------------ reach across machines


@dataclass(frozen=True)
class Mount:
    point: str
    fstype: str
    options: tuple[str, ...]


# A local disk is seen by this machine alone, so its locks reach every writer there is.
_LOCAL = {"ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "bcachefs", "f2fs", "jfs", "reiserfs",
          "tmpfs", "ramfs", "overlay", "vfat", "exfat", "ntfs", "ntfs3", "hfsplus", "apfs"}  # fmt: skip
_SHARED_LOCKS = {"nfs", "nfs4", "ceph", "gpfs", "lustre"}  # with the exceptions in lock_reach


def _unescape(field: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash as octal escapes (\\040)."""
    for code in ("040", "011", "012", "134"):
        field = field.replace("\\" + code, chr(int(code, 8)))
    return field


def mount_of(path: str | os.PathLike, table: str | None = None) -> Mount | None:
    """The mount holding `path` (its nearest existing folder, links resolved), from `table`
    (/proc/mounts' text; read here when None). None where there is no such table (not Linux)."""
    if table is None:
        try:
            table = Path("/proc/mounts").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    where = Path(os.path.abspath(path))
    while not where.exists() and where != where.parent:
        where = where.parent
    where = Path(os.path.realpath(where))
    found = None
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        point = Path(_unescape(fields[1]))
        if where == point or point in where.parents:
            # the deepest mount point wins; of equal ones the last, which hides the others
            if found is None or len(point.parts) >= len(Path(found.point).parts):
                found = Mount(str(point), fields[2], tuple(fields[3].split(",")))
    return found


def lock_reach(mount: Mount) -> tuple[bool | None, str]:
    """Whether a lock on this mount is seen by every machine that can write there: True (a
    local disk, or a network file system that shares locks), False (shared storage whose locks
    stay on each machine), None (cannot tell); with the reason in words."""
    fstype, options = mount.fstype, set(mount.options)
    name = f"{fstype} at {mount.point}"
    if fstype in _LOCAL:
        return True, f"{name} is a local file system"
    if fstype in ("nfs", "nfs4"):
        local = {"nolock", "local_lock=flock", "local_lock=all"} & options
        if local:
            return False, f"{name} is mounted {sorted(local)[0]}: its locks stay on each machine"
        return True, f"{name} shares locks through the server"
    if fstype == "lustre" and {"localflock", "noflock"} & options:
        return False, f"{name} is mounted without -o flock: its locks stay on each machine"
    if fstype in _SHARED_LOCKS:
        return True, f"{name} shares locks between its clients"
    return None, f"{name}: not known whether its locks reach other machines"
