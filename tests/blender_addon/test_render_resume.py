"""render.py as a user runs it: resume after a kill, shards that merge, one-line errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared_schemas import load_manifest, source_digest

pytestmark = pytest.mark.blender

RENDER_PY = Path(__file__).resolve().parents[2] / "blender_addon" / "render.py"
TINY = ["--resolution", "64", "54", "--samples", "4"]


def _run(*args, **kw):
    return subprocess.run(
        [sys.executable, str(RENDER_PY), *args], capture_output=True, text=True, timeout=300, **kw
    )


def _manifest_count(path: Path) -> int:
    try:
        return len(json.loads(path.read_text())["samples"])
    except (OSError, ValueError, KeyError):
        return 0


def test_resume_after_kill_completes_without_duplicates(tmp_path):
    out = tmp_path / "ds"
    args = ["--out", str(out), "--count", "3", "--variant", "paired", *TINY]
    proc = subprocess.Popen(
        [sys.executable, str(RENDER_PY), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while _manifest_count(out / "manifest.json") < 2 and time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # our own child's process group only
    proc.wait()
    finished = _manifest_count(out / "manifest.json")
    assert 2 <= finished < 6, "the kill should land mid-run"

    again = _run(*args)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("skipped (already rendered)") == finished
    manifest = load_manifest(out)
    ids = [s.id for s in manifest.samples]
    assert len(ids) == len(set(ids)) == 6
    assert {s.pair for s in manifest.samples} == {"000000", "000001", "000002"}
    assert not list(out.glob(".work-*"))


def test_shards_render_apart_and_merge(fresh_bpy, tmp_path):
    from blender_addon.core.render_plan import Shard
    from blender_addon.core.sample_spec import DatasetSettings
    from blender_addon.scene.dataset_render import render_dataset

    settings = DatasetSettings(count=3, resolution=(48, 40), samples=2, variant="stained")
    list(render_dataset(settings, tmp_path, Shard(2, 2)))
    assert not (tmp_path / "manifest.json").exists()  # shard 1 still missing
    list(render_dataset(settings, tmp_path, Shard(1, 2)))
    merged = load_manifest(tmp_path)
    assert [s.id for s in merged.samples] == ["000000", "000001", "000002"]
    assert len(load_manifest(tmp_path / "manifest.shard-1-of-2.json").samples) == 2


def test_unwritable_output_is_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = _run("--out", str(blocker / "ds"), "--count", "1", *TINY)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "not writable" in lines[0] and str(blocker) in lines[0]


def test_resume_with_other_settings_is_refused(tmp_path):
    first = _run("--out", str(tmp_path), "--count", "1", "--variant", "stained", *TINY)
    assert first.returncode == 0, first.stderr
    second = _run(
        "--out", str(tmp_path), "--count", "1", "--variant", "stained", "--seed", "9", *TINY
    )
    assert second.returncode == 1 and "other settings (seed)" in second.stderr


@pytest.mark.parametrize("older", ["0123456789abcdef", None])  # None: before sources were recorded
def test_resume_into_a_set_from_another_renderer_is_refused(tmp_path, older):
    args = ["--out", str(tmp_path), "--count", "1", "--variant", "stained", *TINY]
    first = _run(*args)
    assert first.returncode == 0, first.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["generator"]["source"] == source_digest(RENDER_PY.parent)
    if older:
        manifest["generator"]["source"] = older
    else:
        del manifest["generator"]["source"]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    second = _run(*args)
    lines = second.stderr.strip().splitlines()
    assert second.returncode == 1 and len(lines) == 1
    assert "another renderer" in lines[0] and f"source {older or 'unrecorded'}" in lines[0]
    assert len(json.loads((tmp_path / "manifest.json").read_text())["samples"]) == 1


def test_shards_from_two_renderers_are_not_merged(fresh_bpy, tmp_path):
    from blender_addon.core.errors import RenderSetupError
    from blender_addon.core.render_plan import Shard
    from blender_addon.core.sample_spec import DatasetSettings
    from blender_addon.scene.dataset_render import render_dataset

    settings = DatasetSettings(count=2, resolution=(48, 40), samples=2, variant="stained")
    list(render_dataset(settings, tmp_path, Shard(2, 2)))
    shard = tmp_path / "manifest.shard-2-of-2.json"
    manifest = json.loads(shard.read_text())
    manifest["generator"]["source"] = "0123456789abcdef"  # as if another machine's checkout
    shard.write_text(json.dumps(manifest))
    with pytest.raises(RenderSetupError, match="different renderers"):
        list(render_dataset(settings, tmp_path, Shard(1, 2)))
    assert not (tmp_path / "manifest.json").exists()


def test_unavailable_gpu_is_one_line_error(fresh_bpy, tmp_path):
    from blender_addon.core.errors import DeviceError
    from blender_addon.scene.render_sample import configure_device

    try:
        configure_device(fresh_bpy.context.scene, "gpu")
        pytest.skip("this machine has a GPU")
    except DeviceError:
        pass
    proc = _run("--out", str(tmp_path / "g"), "--count", "1", "--device", "gpu", *TINY)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "GPU requested" in lines[0]
