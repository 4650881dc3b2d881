"""Render Dataset off Blender's main thread: the background job reports progress, refuses a second
start on its folder, cancels leaving a resumable folder; relative folders without a saved .blend go
under the user directory; a GPU request never changes the user's preferences."""

import re
import signal
import time
from pathlib import Path

import pytest

from blender_addon.background_render import (
    BackgroundRender,
    options_from_json,
    options_to_json,
)
from blender_addon.core.output_folder import resolve_output_folder
from blender_addon.core.render_lock import lock_holder
from blender_addon.core.render_options import RenderOptions, to_settings
from shared_schemas import load_manifest


def test_options_reach_the_child_unchanged():
    options = RenderOptions(
        count=3,
        seed=7,
        resolution=(64, 48),
        samples=4,
        variant="stained",
        lights=("hex", "ring"),
        defect_count=(1, 2),
        sizes=(("scratch_width_mm", (0.10000000149011612, 0.30000001192092896)),),
        denoise=True,
    )
    again = options_from_json(options_to_json(options))
    assert again == options
    assert to_settings(again) == to_settings(options)


def test_relative_folders_without_a_saved_blend_go_under_the_user_directory(tmp_path):
    user = tmp_path / "user"
    assert resolve_output_folder("//seqcore_dataset", "", user) == user / "seqcore_dataset"
    assert resolve_output_folder("runs/a", "", user) == user / "runs" / "a"
    blend = tmp_path / "shots" / "plate.blend"
    assert resolve_output_folder("//ds", str(blend), user) == blend.parent.resolve() / "ds"
    assert resolve_output_folder(str(tmp_path / "abs"), "", user) == tmp_path / "abs"


def _wait(job: BackgroundRender, until, timeout_s: float = 240.0):
    deadline = time.monotonic() + timeout_s
    while True:
        state = job.poll()
        if until(state) or not state.running:
            return state
        assert time.monotonic() < deadline, f"no progress in {timeout_s} s: {state}"
        time.sleep(0.05)


@pytest.mark.blender
@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs POSIX signals")
def test_background_render_progresses_refuses_a_second_start_cancels_and_resumes(tmp_path):
    pytest.importorskip("bpy")
    out = tmp_path / "ds"
    # 12 tiny samples: one poll may read several progress lines (a loaded machine once let 3 finish
    # between two polls), but never a whole dataset's
    count = 12
    options = RenderOptions(count=count, variant="clean", resolution=(40, 32), samples=1)
    first = BackgroundRender(options, out)
    state = _wait(first, lambda s: s.done >= 1)
    # The last progress line read names the samples done so far.
    assert state.running and state.total == count and 1 <= state.done < count
    assert re.match(rf"\[ *{state.done}/{count}\]", state.last), state.last
    first.process.send_signal(signal.SIGSTOP)  # mid-dataset, whatever the machine's speed
    try:
        assert lock_holder(out).pid == first.process.pid  # what the operator checks first
        second = BackgroundRender(options, out)  # the child's own check, after a race
        refused = _wait(second, lambda s: False)
        assert refused.returncode == 1 and refused.done == 0
        assert str(out) in refused.error and f"process {first.process.pid}" in refused.error
    finally:
        first.process.send_signal(signal.SIGCONT)
        first.cancel()
    assert first.process.returncode is not None  # ended when cancel() returned
    assert lock_holder(out) is None
    kept = len(load_manifest(out / "manifest.json", check_files=True).samples)
    assert 1 <= kept <= count

    again = BackgroundRender(options, out)
    final = _wait(again, lambda s: False)
    assert final.returncode == 0, final.error
    assert (final.done, final.total) == (count, count)
    assert len(load_manifest(out).samples) == count


@pytest.mark.blender
def test_background_render_reports_a_settings_error_in_one_line(tmp_path):
    pytest.importorskip("bpy")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    job = BackgroundRender(RenderOptions(count=1, resolution=(16, 16), samples=1), blocker / "ds")
    state = _wait(job, lambda s: False)
    assert state.returncode == 1 and "not writable" in state.error and "\n" not in state.error


@pytest.mark.blender
def test_gpu_request_leaves_the_users_preferences_as_they_were(fresh_bpy):
    from blender_addon.core.errors import DeviceError
    from blender_addon.device_prefs import device_preferences_kept
    from blender_addon.scene.render_sample import configure_device

    prefs = fresh_bpy.context.preferences
    cycles = prefs.addons["cycles"].preferences

    def snapshot():
        devices = [(d.id, d.type, d.use) for d in cycles.devices]
        return cycles.compute_device_type, devices, prefs.is_dirty

    before = snapshot()
    with device_preferences_kept():
        try:
            configure_device(fresh_bpy.context.scene, "gpu")
        except DeviceError:
            pass  # no GPU here; the backends were still tried, and set, on the way
        changed = snapshot()
    assert snapshot() == before
    # not vacuous: picking a GPU does rewrite the preferences while it runs
    assert changed != before


@pytest.mark.blender
def test_the_operator_refuses_a_folder_another_process_renders(fresh_bpy, tmp_path):
    """The button's first check (the background child checks again), and the scripted path."""
    import subprocess
    import sys

    import blender_addon

    out = tmp_path / "ds"
    code = (
        f"import sys, time; sys.path.insert(0, {str(Path(__file__).parents[2])!r}); "
        "from blender_addon.core.render_lock import RenderLock; "
        f"lock = RenderLock({str(out)!r}).acquire(); print('locked', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        blender_addon.register()
        try:
            settings = fresh_bpy.context.scene.seqcore
            settings.output_dir, settings.count, settings.samples = str(out), 1, 1
            with pytest.raises(RuntimeError, match=rf"process {holder.pid}"):
                fresh_bpy.ops.seqcore.render_dataset("INVOKE_DEFAULT")  # no window: runs here
        finally:
            blender_addon.unregister()
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert not (out / "manifest.json").exists()
