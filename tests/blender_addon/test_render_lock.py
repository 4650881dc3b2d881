"""One render per folder and shard: a second run is refused in one line, a killed run leaves no stale
lock, shards run side by side; render.py prints one line per sample, none of Blender's "Fra:" lines."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from blender_addon.core.errors import RenderSetupError
from blender_addon.core.render_lock import RenderLock, RenderLockError, lock_holder, lock_path
from blender_addon.core.render_log import is_status_line, render_status_filtered
from shared_schemas import load_manifest

REPO = Path(__file__).resolve().parents[2]
RENDER_PY = REPO / "blender_addon" / "render.py"
HOLD = """
import sys, time
sys.path.insert(0, {repo!r})
from blender_addon.core.errors import RenderSetupError
from blender_addon.core.render_lock import RenderLock
with RenderLock({out!r}, {i}, {n}):
    print("locked", flush=True)
    time.sleep(120)
"""


def _holder_process(out: Path, i: int = 1, n: int = 1) -> subprocess.Popen:
    """Another process that takes the lock and keeps it until killed."""
    code = HOLD.format(repo=str(REPO), out=str(out), i=i, n=n)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
    proc.wait(timeout=10)


def test_second_run_is_refused_naming_the_folder_and_the_process(tmp_path):
    out = tmp_path / "ds"
    holder = _holder_process(out)
    try:
        with pytest.raises(RenderLockError) as caught:
            RenderLock(out).acquire()
        message = str(caught.value)
        assert "\n" not in message and str(out) in message and f"process {holder.pid}" in message
        found = lock_holder(out)
        assert found is not None and found.pid == holder.pid
    finally:
        _kill(holder)


def test_a_killed_run_leaves_no_stale_lock(tmp_path):
    out = tmp_path / "ds"
    holder = _holder_process(out)
    _kill(holder)  # no chance to clean up: the kernel drops the lock
    assert lock_path(out).exists()  # the file stays; only the lock matters
    assert lock_holder(out) is None
    with RenderLock(out) as lock:
        assert lock.path == lock_path(out)
        assert f'"pid": {os.getpid()}' in lock.path.read_text()
    assert lock_path(out).read_text() == ""  # released: no one named


def test_shards_of_one_folder_lock_separately(tmp_path):
    out = tmp_path / "ds"
    holder = _holder_process(out, 1, 2)
    try:
        with RenderLock(out, 2, 2):  # the other shard runs side by side
            assert lock_holder(out, 1, 2).pid == holder.pid
        with pytest.raises(RenderLockError, match=r"\(shard 1/2\)"):
            RenderLock(out, 1, 2).acquire()
    finally:
        _kill(holder)


def test_unwritable_folder_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RenderSetupError) as caught:
        RenderLock(blocker / "ds").acquire()
    message = str(caught.value)
    assert "output folder is not writable" in message and str(blocker) in message


def test_status_filter_drops_blenders_lines_and_keeps_the_rest(capfd):
    kept = ["[1/2] 000000_clean  0.3 s", "Warning: something a user must see"]
    with render_status_filtered():
        for line in [
            "Fra:1 Mem:12.15M (Peak 12.19M) | Time:00:00.03 | Sample 1/2",
            kept[0],
            "Saved: 'out/x/image.png'",
            "Time: 00:00.23 (Saving: 00:00.00)",
            "00:03.113  render           | Saved: 'out/x/aov.exr'",
            "",
            kept[1],
        ]:
            os.write(1, (line + "\n").encode())  # as C code writes: below sys.stdout
    assert capfd.readouterr().out.splitlines() == kept
    assert is_status_line(b"Fra:12 Mem:1M") and not is_status_line(b"[3/8] 000001_stained  2.0 s")


def _render_cmd(out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, str(RENDER_PY), "--out", str(out), "--count", "2", "--variant", "clean",
        "--resolution", "40", "32", "--samples", "1", *extra,
    ]  # fmt: skip


@pytest.mark.blender
@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs POSIX signals")
def test_render_py_refuses_a_second_run_and_resumes_after_a_crash(tmp_path):
    pytest.importorskip("bpy")
    out = tmp_path / "ds"
    first = subprocess.Popen(
        _render_cmd(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert first.stdout.readline().startswith("[1/2]")
        first.send_signal(signal.SIGSTOP)  # frozen mid-dataset, lock held, whatever the speed
        second = subprocess.run(_render_cmd(out), capture_output=True, text=True, timeout=120)
        assert second.returncode == 1
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and str(out) in lines[0] and f"process {first.pid}" in lines[0]
        assert lines[0].startswith("render.py: error: ")
    finally:
        first.kill()  # a crash mid-render
        first.wait(timeout=30)
    deadline = time.monotonic() + 30
    while lock_holder(out) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    third = subprocess.run(_render_cmd(out), capture_output=True, text=True, timeout=300)
    assert third.returncode == 0, third.stderr
    # bpy 4.2 reports its own leaks when the process ends, after render.py's last line
    lines = [x for x in third.stdout.splitlines() if not x.startswith("Error: Not freed memory")]
    # one progress line per sample; Blender's "Fra:"/"Saved:" lines are filtered out
    assert lines[-1] == f"dataset ready: {out}"
    assert [x.split()[0] for x in lines[:-1]] == ["[1/2]", "[2/2]"]
    assert "skipped (already rendered)" in lines[0]  # the crashed run's first sample is kept
    assert not any(x.startswith("Fra:") for x in third.stdout.splitlines())
    assert len(load_manifest(out).samples) == 2
