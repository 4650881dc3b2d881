"""The one-writer lock with real processes: a second taker is refused in one line naming the holder,
a killed holder leaves no stale lock (not even while a child it started lives on), locks on other
files never refuse each other; which file systems share locks between machines."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from shared_schemas import (
    FolderBusy,
    FolderLock,
    Mount,
    folder_lock,
    lock_holder,
    lock_reach,
    mount_of,
)

REPO = Path(__file__).resolve().parents[2]
HOLD = """
import subprocess, sys, time
sys.path.insert(0, {repo!r})
from shared_schemas import FolderLock
with FolderLock({path!r}, tidy={tidy}):
    if {child}:  # a child that outlives this process (as render.py may outlive a killed run)
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                                 close_fds=False)  # only inheritable descriptors pass
        print(child.pid, flush=True)
    print("locked", flush=True)
    time.sleep(120)
"""


def _holder(path: Path, tidy: bool = False, child: bool = False) -> tuple[subprocess.Popen, int]:
    """Another process that takes the lock and keeps it until killed (and its child's pid)."""
    code = HOLD.format(repo=str(REPO), path=str(path), tidy=tidy, child=child)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child_pid = int(proc.stdout.readline()) if child else 0
    assert proc.stdout.readline().strip() == "locked"
    return proc, child_pid


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)


@pytest.mark.parametrize("tidy", [False, True])
def test_a_second_taker_is_refused_in_one_line_naming_the_holder(tmp_path, tidy):
    path = tmp_path / "out" / ".lock"
    holder, _ = _holder(path, tidy)
    try:
        with pytest.raises(FolderBusy) as caught:
            FolderLock(path, what="OUT-NAME").acquire()
        message = str(caught.value)
        assert "\n" not in message and message.startswith("OUT-NAME is already being written by ")
        assert f"process {holder.pid} on {socket.gethostname()} (started 20" in message
        assert caught.value.holder.pid == holder.pid
        assert lock_holder(path).pid == holder.pid
    finally:
        _kill(holder.pid)
        holder.wait(timeout=30)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups and signals")
def test_a_killed_holder_leaves_no_lock_although_its_child_lives_on(tmp_path):
    path = tmp_path / "out" / ".lock"
    holder, child = _holder(path, tidy=True, child=True)
    try:
        _kill(holder.pid)  # no chance to clean up: the kernel drops the lock
        holder.wait(timeout=30)
        os.kill(child, 0)  # the child still runs; the lock's descriptor was not inherited
        assert f'"pid": {holder.pid}' in path.read_text()  # the dead holder's record stays
        assert lock_holder(path) is None
        with FolderLock(path, tidy=True) as lock:
            assert f'"pid": {os.getpid()}' in lock.path.read_text()
        assert not path.exists()
    finally:
        _kill(child)


def test_locks_on_other_files_never_refuse_each_other_but_one_file_twice_is_refused(tmp_path):
    out = tmp_path / "out"
    with FolderLock(out / ".seqcore-writer.lock"):  # a command's lock on its output folder ...
        with FolderLock(out / "data" / "set" / ".render-1-of-1.lock"):  # ... and its step's
            with pytest.raises(FolderBusy, match=f"process {os.getpid()} "):
                FolderLock(out / ".seqcore-writer.lock").acquire()  # even by the same process


def test_tidy_release_removes_the_lock_and_the_folder_it_made_only_if_empty(tmp_path):
    made = tmp_path / "new"
    with FolderLock(made / ".lock", tidy=True):
        assert made.is_dir()
    assert not made.exists()  # nothing written: nothing left
    with FolderLock(made / ".lock", tidy=True):
        (made / "result.txt").write_text("kept")
    assert sorted(p.name for p in made.iterdir()) == ["result.txt"]
    kept = tmp_path / "kept"
    kept.mkdir()
    with FolderLock(kept / ".lock", tidy=True):
        pass
    assert kept.is_dir()  # a folder the lock did not make stays
    with FolderLock(kept / ".lock"):
        pass
    assert (kept / ".lock").read_text() == ""  # untidy: the file stays, naming no one


def test_a_taker_that_locked_a_file_a_tidy_holder_just_deleted_takes_the_new_one(
    tmp_path, monkeypatch
):
    path = tmp_path / "out" / ".lock"
    real_try_lock, calls = folder_lock._try_lock, []

    def deleted_meanwhile(fd):  # the holder deletes the file between our open and our lock
        calls.append(fd)
        if len(calls) == 1:
            path.unlink()
        return real_try_lock(fd)

    monkeypatch.setattr(folder_lock, "_try_lock", deleted_meanwhile)
    with FolderLock(path, tidy=True) as lock:
        assert len(calls) == 2  # the lock on the deleted file was let go, the new file locked
        assert os.path.samestat(os.fstat(lock._fd), os.stat(path))
        assert lock_holder(path).pid == os.getpid()


def test_an_unwritable_place_is_the_os_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError) as caught:
        FolderLock(blocker / "out" / ".lock").acquire()
    assert caught.value.filename is not None and str(blocker) in caught.value.filename


def _table(*lines: tuple[Path | str, str, str]) -> str:
    """/proc/mounts text: mount points escaped as the kernel writes them."""
    rows = []
    for point, fstype, options in lines:
        escaped = str(point).replace("\\", "\\134").replace(" ", "\\040")
        rows.append(f"dev {escaped} {fstype} {options} 0 0")
    return "\n".join(rows) + "\n"


def test_the_deepest_mount_holds_a_path_also_one_not_made_yet(tmp_path):
    shared = tmp_path / "shared dir"  # a space: \040 in the table
    shared.mkdir()
    table = _table(("/", "ext4", "rw"), (shared, "nfs4", "rw,vers=4.2"), (tmp_path, "xfs", "rw"))
    mount = mount_of(shared / "run1" / "not-yet", table)
    assert mount == Mount(str(shared), "nfs4", ("rw", "vers=4.2"))
    assert mount_of(tmp_path / "elsewhere", table).fstype == "xfs"
    later = table + _table((shared, "nfs", "rw,nolock"))  # mounted over the first: it wins
    assert mount_of(shared, later).options == ("rw", "nolock")
    assert mount_of(tmp_path, "") is None


@pytest.mark.parametrize(
    "fstype, options, reaches, words",
    [
        ("ext4", "rw,relatime", True, "local file system"),
        ("tmpfs", "rw", True, "local file system"),
        ("nfs4", "rw,vers=4.2,local_lock=none", True, "shares locks"),
        ("nfs", "rw,vers=3", True, "shares locks"),
        ("nfs", "rw,vers=3,nolock", False, "mounted nolock"),
        ("nfs4", "rw,local_lock=flock", False, "mounted local_lock=flock"),
        ("nfs", "rw,local_lock=all", False, "mounted local_lock=all"),
        ("lustre", "rw,flock", True, "shares locks"),
        ("lustre", "rw,localflock", False, "without -o flock"),
        ("ceph", "rw,name=admin", True, "shares locks"),
        ("fuse.sshfs", "rw", None, "not known"),
        ("cifs", "rw", None, "not known"),
    ],
)
def test_which_file_systems_share_locks_between_machines(fstype, options, reaches, words):
    verdict, why = lock_reach(Mount("/mnt/x", fstype, tuple(options.split(","))))
    assert verdict is reaches and words in why and f"{fstype} at /mnt/x" in why
