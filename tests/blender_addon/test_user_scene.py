"""render.py --scene on the example part (examples/scenes/build_bracket.py), as a user runs it: pairs,
masks from the same render, the file never written, resume after kill -9, bad input, and
seqcore-train on the result."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import binary_dilation

from shared_schemas import load_manifest

pytestmark = [pytest.mark.blender, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
RENDER_PY = ROOT / "blender_addon" / "render.py"
BUILD = ROOT / "examples" / "scenes" / "build_bracket.py"
TINY = ["--count", "2", "--resolution", "96", "72", "--samples", "4"]


def _run(*args, **kw):
    return subprocess.run(
        [sys.executable, *map(str, args)], capture_output=True, text=True, timeout=300, **kw
    )


def bpy_version() -> tuple:
    import bpy

    return tuple(bpy.app.version)


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _files(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


@pytest.fixture(scope="module")
def bracket(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("part") / "bracket.blend"
    built = _run(BUILD, path)
    assert built.returncode == 0, built.stderr
    return path


@pytest.fixture(scope="module")
def rendered(bracket, tmp_path_factory):
    """The example part, both cameras, paired: 8 renders; with the .blend's digest before."""
    before = _sha(bracket)
    out = tmp_path_factory.mktemp("scene") / "ds"
    proc = _run(RENDER_PY, "--scene", bracket, "--out", out, *TINY)
    assert proc.returncode == 0, proc.stderr
    return out, before


def _read(out: Path, name: str) -> np.ndarray:
    return np.asarray(Image.open(out / name))


def test_the_users_file_is_never_written_and_the_manifest_names_it(bracket, rendered):
    out, before = rendered
    assert _sha(bracket) == before
    assert not list(bracket.parent.glob("*.blend1"))
    manifest = load_manifest(out)
    scene = manifest.generator["settings"]["scene"]
    assert scene == {"path": str(bracket), "sha256": before}
    assert manifest.generator["settings"]["cameras"] == ["Camera Side", "Camera Top"]
    assert manifest.generator["settings"]["stain_materials"] == ["Brushed Steel"]  # the checkbox
    assert len(manifest.samples) == 8
    assert {s.params["camera"] for s in manifest.samples} == {"Camera Side", "Camera Top"}


def test_pairs_agree_outside_the_stains_and_the_masks_are_the_difference(rendered):
    out, _ = rendered
    manifest = load_manifest(out)
    stained = [s for s in manifest.samples if s.variant == "stained"]
    assert len(stained) == 4
    for sample in stained:
        clean = next(s for s in manifest.samples if s.pair == sample.pair and s is not sample)
        assert clean.params["sampling_seed"] == sample.params["sampling_seed"]
        assert not _read(out, clean.semantic_mask).any()  # a clean render has no stains
        a = _read(out, clean.image).astype(int)
        b = _read(out, sample.image).astype(int)
        diff = np.abs(a - b).max(axis=-1)
        semantic = _read(out, sample.semantic_mask)
        stains = semantic > 0
        valid = _read(out, sample.valid_mask) > 0
        assert stains.sum() > 20, sample.id
        assert set(np.unique(semantic)) == {0, 4}  # water_stain
        assert not (stains & ~valid).any()  # stains only on the marked material
        assert 0.05 < valid.mean() < 0.6  # the bracket, not the table
        # outside the stains (their mask dilated 3 px) the pair is the same render: only stains
        # seen indirectly (in the other leg's mirror, light bounced onto the table) differ
        far = ~binary_dilation(stains, iterations=3)
        assert (diff[far] == 0).mean() >= 0.98, sample.id
        assert np.percentile(diff[far], 99) <= 2, sample.id
        # what changed is where the mask says: strong changes lie on the mask (2 px dilated)
        changed = diff > 8
        near = binary_dilation(stains, iterations=2)
        # measured: 91-100 % under bpy 5.0.1; 87.5 % (21 of 24 pixels) in one view under 4.2.23,
        # whose indirect reflections of the stains are brighter
        share = 0.9 if bpy_version() >= (5, 0, 0) else 0.85
        assert (changed & near).sum() >= share * changed.sum(), sample.id
        assert diff[stains].mean() > 20 * max(diff[far].mean(), 0.05), sample.id
        ids = np.unique(_read(out, sample.instance_mask))
        assert len(ids) - 1 == len(sample.instances) > 0


def test_resume_after_kill_gives_identical_files(bracket, rendered, tmp_path):
    reference, _ = rendered
    out = tmp_path / "ds"
    args = [sys.executable, str(RENDER_PY), "--scene", str(bracket), "--out", str(out), *TINY]
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True
    )
    for line in proc.stdout:  # the kill lands after the third sample, before the last
        if line.startswith(b"[3/8]"):
            break
    os.killpg(proc.pid, signal.SIGKILL)  # our own child's process group only
    proc.wait()
    finished = len(json.loads((out / "manifest.json").read_text())["samples"])
    assert 3 <= finished < 8
    again = _run(*args[1:])
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("skipped (already rendered)") == finished
    ours, theirs = _files(out), _files(reference)
    assert ours.keys() == theirs.keys()
    differ = [name for name in ours if name != "manifest.json" and ours[name] != theirs[name]]
    assert not differ
    manifests = [json.loads(f["manifest.json"]) for f in (ours, theirs)]
    assert manifests[0]["samples"] == manifests[1]["samples"]


def test_a_resumed_run_refuses_a_changed_file(bracket, tmp_path):
    part = tmp_path / "part.blend"
    part.write_bytes(bracket.read_bytes())
    out = tmp_path / "ds"
    args = [RENDER_PY, "--scene", part, "--out", out, "--count", "1", "--variant", "clean"]
    first = _run(*args, "--resolution", "32", "24", "--samples", "1", "--camera", "Camera Top")
    assert first.returncode == 0, first.stderr
    edit = (
        "import bpy, sys; bpy.ops.wm.open_mainfile(filepath=sys.argv[1]); "
        "bpy.data.lights['Softbox'].energy = 9.0; bpy.ops.wm.save_mainfile()"
    )
    assert _run("-c", edit, part).returncode == 0
    second = _run(*args, "--resolution", "32", "24", "--samples", "1", "--camera", "Camera Top")
    lines = second.stderr.strip().splitlines()
    assert second.returncode == 1 and len(lines) == 1, second.stderr
    assert f"another version of {part}" in lines[0]


@pytest.fixture(scope="module")
def broken_parts(bracket, tmp_path_factory):
    """The bracket without cameras, and without its material's checkbox."""
    folder = tmp_path_factory.mktemp("broken")
    script = (
        "import bpy, sys\n"
        "src, folder = sys.argv[1], sys.argv[2]\n"
        "bpy.ops.wm.open_mainfile(filepath=src)\n"
        "bpy.types.Material.seqcore_stain = bpy.props.BoolProperty()\n"
        "bpy.data.materials['Brushed Steel'].seqcore_stain = False\n"
        "bpy.ops.wm.save_as_mainfile(filepath=folder + '/unmarked.blend', copy=True)\n"
        "for cam in [o for o in bpy.data.objects if o.type == 'CAMERA']:\n"
        "    bpy.data.objects.remove(cam)\n"
        "bpy.ops.wm.save_as_mainfile(filepath=folder + '/no_camera.blend', copy=True)\n"
    )
    made = _run("-c", script, bracket, folder)
    assert made.returncode == 0, made.stderr
    return folder


@pytest.mark.parametrize(
    ("case", "extra", "problem"),
    [
        ("text", [], "not a .blend file"),
        ("bracket", ["--stain-material", "Gold"], "no material 'Gold' (materials: Brushed Steel"),
        ("bracket", ["--camera", "Drone"], "no camera 'Drone' in scene 'Bracket'"),
        ("no_camera", [], "scene 'Bracket' has no camera"),
        ("unmarked", [], "no material is marked for water stains"),
        ("bracket", ["--stain-material", "Table", "--grid", "2", "2"], "--grid is an option of"),
    ],
)
def test_bad_input_is_one_line_naming_the_file_and_writes_nothing(
    bracket, broken_parts, tmp_path, case, extra, problem
):
    if case == "text":
        part = tmp_path / "part.blend"
        part.write_text("solid bracket\n")
    else:
        part = bracket if case == "bracket" else broken_parts / f"{case}.blend"
    out = tmp_path / "out"
    proc = _run(RENDER_PY, "--scene", part, "--out", out, *TINY, *extra)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    assert problem in lines[0] and (str(part) in lines[0] or "--grid" in problem), lines[0]
    assert not out.exists()


def test_a_marked_material_without_principled_bsdf_is_one_line(bracket, tmp_path):
    part = tmp_path / "emissive.blend"
    script = (
        "import bpy, sys\n"
        "bpy.ops.wm.open_mainfile(filepath=sys.argv[1])\n"
        "m = bpy.data.materials.new('Glow'); m.use_nodes = True\n"
        "t = m.node_tree; t.nodes.remove(t.nodes['Principled BSDF'])\n"
        "bpy.data.objects['Table'].data.materials[0] = m\n"
        "bpy.ops.wm.save_as_mainfile(filepath=sys.argv[2], copy=True)\n"
    )
    assert _run("-c", script, bracket, part).returncode == 0
    out = tmp_path / "out"
    proc = _run(RENDER_PY, "--scene", part, "--out", out, "--stain-material", "Glow", *TINY)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert str(part) in lines[0] and "'Glow' has no Principled BSDF" in lines[0]
    assert not out.exists()


def test_seqcore_train_fits_and_evaluates_on_the_renders(rendered, tmp_path):
    for toolkit_need in ("torch", "click"):  # absent from the Blender-only (4.2 LTS) environment
        pytest.importorskip(toolkit_need)
    from click.testing import CliRunner

    from seqcore_train.cli import cli

    out, _ = rendered
    model = tmp_path / "clean.safetensors"
    fast = ["--coreset-size", "32", "--epochs", "1", "--chunk-size", "512"]
    fit = CliRunner().invoke(cli, ["fit", f"{out}::variant=clean", "--out", str(model), *fast])
    assert fit.exit_code == 0, fit.output
    report_dir = tmp_path / "eval"
    evaluate = CliRunner().invoke(
        cli,
        ["evaluate", str(model), f"{out}::variant=stained", "--split", "train",
         "--threshold", "0", "--out", str(report_dir)],
    )  # fmt: skip
    assert evaluate.exit_code == 0, evaluate.output
    report = json.loads((report_dir / "report.json").read_text())
    # threshold 0 flags every pixel: the evaluated pixels are exactly the valid ones (the bracket)
    manifest = load_manifest(out)
    valid = sum(
        int((_read(out, s.valid_mask) > 0).sum())
        for s in manifest.samples
        if s.variant == "stained"
    )
    stains = sum(
        int((_read(out, s.semantic_mask) > 0).sum())
        for s in manifest.samples
        if s.variant == "stained"
    )
    assert report["pixel"]["fp"] + report["pixel"]["tp"] == valid < 4 * 96 * 72
    assert report["per_class"]["water_stain"]["pixels"] == stains > 0


def test_render_this_scene_renders_the_saved_file_in_the_background(bracket, fresh_bpy, tmp_path):
    import blender_addon
    from blender_addon.background_render import BackgroundRender
    from blender_addon.properties import scene_render_options

    before = _sha(bracket)
    fresh_bpy.ops.wm.open_mainfile(filepath=str(bracket))
    blender_addon.register()
    try:
        materials = fresh_bpy.data.materials
        assert materials["Brushed Steel"].seqcore_stain and not materials["Table"].seqcore_stain
        settings = fresh_bpy.context.scene.seqcore
        settings.count, settings.samples, settings.scene_cameras = 1, 1, "Camera Top"
        settings.scene_lights = {"rot90_x2"}
        job = BackgroundRender(scene_render_options(settings, fresh_bpy.data.filepath), tmp_path)
        while job.poll().running:
            job.process.wait(timeout=120)
        state = job.poll()
        assert state.returncode == 0, state.error
        assert (state.done, state.total) == (2, 2)
        samples = load_manifest(tmp_path).samples
        assert [s.params["light"] for s in samples] == ["rot90_x2"] * 2
        assert _read(tmp_path, samples[0].image).shape == (240, 320, 3)  # the file's size
        fresh_bpy.ops.wm.read_homefile(use_empty=True)  # a file never saved
        with pytest.raises(RuntimeError, match="Save the .blend first"):
            fresh_bpy.ops.seqcore.render_this_scene()
    finally:
        blender_addon.unregister()
    assert _sha(bracket) == before
