"""The bpy side of GPU selection: Cycles preferences switched to exactly the chosen GPUs while the
render runs, and put back as the user had them, whatever happens.

Real Blender (bpy 5.0.1) throughout. On a machine without GPUs (this repository's CI), Cycles finds
none, so the error paths run for real; the test that checks which devices are switched on replaces
only Cycles' device discovery (`get_devices_for_type`) with a listing of three GPUs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.blender

RENDER_PY = Path(__file__).resolve().parents[2] / "blender_addon" / "render.py"
TINY = ["--count", "1", "--resolution", "64", "54", "--samples", "1"]


def _cycles(bpy):
    return bpy.context.preferences.addons["cycles"].preferences


def _found(bpy, backend):
    return [d for d in _cycles(bpy).get_devices_for_type(backend) if d.type == backend]


def _snapshot(bpy):
    cycles = _cycles(bpy)
    devices = [(d.id, d.type, d.name, d.use) for d in cycles.devices]
    return cycles.compute_device_type, devices, bpy.context.preferences.is_dirty


def _users_own_setup(bpy):
    """Preferences as a user might have saved them: HIP chosen, devices of another machine."""
    cycles = _cycles(bpy)
    cycles.compute_device_type = "HIP"
    for kind, gpu_id, use in (
        ("CUDA", "CUDA_Old Card_0000:05:00", False),
        ("HIP", "HIP_W7900", True),
    ):
        entry = cycles.devices.add()
        entry.id, entry.name, entry.type, entry.use = gpu_id, gpu_id, kind, use
    bpy.context.preferences.is_dirty = False


def _run(*args):
    return subprocess.run(
        [sys.executable, str(RENDER_PY), *args], capture_output=True, text=True, timeout=300
    )


def test_a_backend_without_devices_is_one_line_and_leaves_the_preferences(fresh_bpy, tmp_path):
    from blender_addon.core.errors import DeviceError
    from blender_addon.device_prefs import device_preferences_kept
    from blender_addon.scene.render_sample import configure_device

    if _found(fresh_bpy, "CUDA"):
        pytest.skip("this machine has a CUDA GPU")
    _users_own_setup(fresh_bpy)
    before = _snapshot(fresh_bpy)
    with device_preferences_kept():
        # the saved CUDA entry is not a GPU Cycles finds now: it must not count
        with pytest.raises(DeviceError, match="^GPU requested but Cycles finds no CUDA device"):
            configure_device(fresh_bpy.context.scene, "gpu:cuda")
        with pytest.raises(DeviceError, match=r"^--gpu-ids: no OptiX GPU|no OptiX device"):
            configure_device(fresh_bpy.context.scene, "gpu:optix:0")
        during = _snapshot(fresh_bpy)
    # a refused request switches nothing (the skip check above already let Cycles list the CPU);
    # that the block puts back what a successful one switches is the last test's
    assert during == before
    assert _snapshot(fresh_bpy) == before
    assert fresh_bpy.context.scene.cycles.device == "CPU"

    proc = _run("--out", str(tmp_path / "ds"), *TINY, "--device", "gpu", "--gpu-backend", "cuda")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "GPU requested but Cycles finds no CUDA device" in lines[0], lines
    # the device is checked before the data set's folders are made (only the render lock is there)
    left = {p.name for p in (tmp_path / "ds").iterdir()} if (tmp_path / "ds").exists() else set()
    assert left <= {".render-1-of-1.lock"}, left


def test_a_backend_this_blender_lacks(fresh_bpy, tmp_path):
    built = [item[0] for item in _cycles(fresh_bpy).get_device_types(fresh_bpy.context)]
    if "METAL" in built:
        pytest.skip("this Blender has Metal (macOS)")
    proc = _run("--out", str(tmp_path / "ds"), *TINY, "--device", "gpu", "--gpu-backend", "METAL")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--gpu-backend metal: this Blender has no Metal support" in lines[0]


def test_usage_errors_before_blender_starts_rendering(tmp_path):
    for bad, message in (
        (["--gpu-ids", "0,2"], "--gpu-ids needs --device gpu"),
        (["--device", "gpu", "--gpu-backend", "vulkan"], "unknown backend"),
    ):
        proc = _run("--out", str(tmp_path / "ds"), *TINY, *bad)
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
        assert message in proc.stderr
    assert not (tmp_path / "ds").exists()


def test_exactly_the_chosen_gpus_are_switched_on_then_put_back(fresh_bpy, monkeypatch):
    from blender_addon.core.errors import DeviceError
    from blender_addon.device_prefs import device_preferences_kept
    from blender_addon.scene.render_sample import configure_device

    _users_own_setup(fresh_bpy)
    before = _snapshot(fresh_bpy)
    cycles = _cycles(fresh_bpy)
    with device_preferences_kept():
        # Cycles' discovery on a 3-GPU NVIDIA machine: entries as update_device_entries adds them
        present = {"CPU": [], "CUDA": [], "OPTIX": []}
        for kind, suffix in (("CUDA", ""), ("OPTIX", "_OptiX")):
            for i in range(3):
                entry = cycles.devices.add()
                entry.id, entry.name = f"CUDA_A100_0000:0{i + 1}:00{suffix}", f"A100 #{i}"
                entry.type, entry.use = kind, True
                present[kind].append(entry.id)
        cpu = cycles.devices.add()
        cpu.id, cpu.name, cpu.type, cpu.use = "CPU", "CPU", "CPU", True
        present["CPU"].append("CPU")

        def discovered(self, backend):  # GPUs of that backend, then the CPU, as Cycles returns
            ids = present.get(backend, []) + present["CPU"]
            return [
                d for i in ids for d in self.devices if d.id == i and d.type in (backend, "CPU")
            ]

        monkeypatch.setattr(type(cycles), "get_devices_for_type", discovered)
        scene = fresh_bpy.context.scene
        assert configure_device(scene, "gpu:cuda:0,2") == "CUDA: 0 A100 #0, 2 A100 #2"
        assert cycles.compute_device_type == "CUDA" and scene.cycles.device == "GPU"
        on = sorted((d.type, d.id) for d in cycles.devices if d.use)
        assert on == [("CUDA", "CUDA_A100_0000:01:00"), ("CUDA", "CUDA_A100_0000:03:00")]

        assert configure_device(scene, "gpu").startswith("OptiX: 0 A100 #0, 1 A100 #1, 2 A100")
        on = sorted((d.type, d.id) for d in cycles.devices if d.use)
        assert on == [("OPTIX", i) for i in present["OPTIX"]]

        with pytest.raises(DeviceError, match=r"^--gpu-ids: no OptiX GPU 3; Cycles finds 0 A100"):
            configure_device(scene, "gpu:optix:1,3")
        assert configure_device(scene, "cpu") == "CPU" and scene.cycles.device == "CPU"
    assert _snapshot(fresh_bpy) == before


def test_the_sidebar_render_takes_the_gpu_choice_from_the_preferences(fresh_bpy, tmp_path):
    from blender_addon.preferences import get_preferences, render_device_spec

    if _found(fresh_bpy, "CUDA"):
        pytest.skip("this machine has a CUDA GPU")
    assert fresh_bpy.ops.preferences.addon_enable(module="blender_addon") == {"FINISHED"}
    try:
        prefs = get_preferences(fresh_bpy.context)
        assert (prefs.device, prefs.gpu_backend, prefs.gpu_ids) == ("cpu", "AUTO", "")
        prefs.gpu_backend, prefs.gpu_ids = "CUDA", "0"
        assert render_device_spec(prefs) == "cpu"  # GPU fields only count with the GPU chosen
        prefs.device = "gpu"
        assert render_device_spec(prefs) == "gpu:cuda:0"
        settings = fresh_bpy.context.scene.seqcore
        settings.output_dir, settings.count, settings.samples = str(tmp_path / "ds"), 1, 1
        settings.resolution_x, settings.resolution_y = 48, 40
        before = _snapshot(fresh_bpy)
        with pytest.raises(RuntimeError, match="GPU requested but Cycles finds no CUDA device"):
            fresh_bpy.ops.seqcore.render_dataset()  # scripted: renders here, or reports why not
        assert _snapshot(fresh_bpy) == before
        prefs.gpu_ids = "0,x"
        with pytest.raises(RuntimeError, match=r"SeqCore preferences: --gpu-ids '0,x': give GPU"):
            fresh_bpy.ops.seqcore.render_dataset()
    finally:
        fresh_bpy.ops.preferences.addon_disable(module="blender_addon")
