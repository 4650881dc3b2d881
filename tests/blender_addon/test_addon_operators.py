"""The add-on as Blender runs it: operators headless, and the extension zip installed into bpy."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shared_schemas import load_manifest

pytestmark = pytest.mark.blender

REPO = Path(__file__).resolve().parents[2]


def _run_operators(bpy, out: Path) -> dict:
    """Build the scene, stain a second object's material, render 2 samples; what a user does."""
    settings = bpy.context.scene.seqcore
    settings.resolution_x, settings.resolution_y, settings.samples = 48, 40, 2
    startup_scene = bpy.context.scene
    assert bpy.ops.seqcore.build_scene() == {"FINISHED"}
    # built in a scene of its own, whatever the user's scene holds, shown with the same settings
    inspection = bpy.data.scenes["SeqCore Inspection"]
    assert inspection != startup_scene
    assert not any(o.name.startswith("SeqCore") for o in startup_scene.collection.all_objects)
    assert all(o.name.startswith("SeqCore") for o in inspection.collection.all_objects)
    assert bpy.context.window is None or bpy.context.scene == inspection
    settings = bpy.context.scene.seqcore
    assert (settings.resolution_x, settings.resolution_y, settings.samples) == (48, 40, 2)
    plate = bpy.data.objects["SeqCore Plate"]
    bsdf = plate.active_material.node_tree.nodes["SeqCore BSDF"]
    assert bsdf.bl_idname == "ShaderNodeBsdfPrincipled"

    mesh = bpy.data.meshes.new("cube")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (1, 1, 0)], [], [(0, 1, 2)])
    cube = bpy.data.objects.new("Other", mesh)
    bpy.context.scene.collection.objects.link(cube)
    bpy.context.view_layer.objects.active = cube
    assert bpy.ops.seqcore.add_water_stain() == {"FINISHED"}
    assert bpy.ops.seqcore.add_water_stain() == {"FINISHED"}  # chaining a second stain works
    groups = [n for n in cube.active_material.node_tree.nodes if n.bl_idname == "ShaderNodeGroup"]
    assert len(groups) == 2 and all(g.node_tree.name == "SeqCore Water Stain" for g in groups)

    settings.output_dir = str(out)
    settings.count, settings.variant = 1, "paired"
    assert bpy.ops.seqcore.render_dataset() == {"FINISHED"}
    return {"groups": len(groups)}


def test_operators_run_headless(fresh_bpy, tmp_path):
    import blender_addon

    blender_addon.register()
    try:
        _run_operators(fresh_bpy, tmp_path / "ds")
    finally:
        blender_addon.unregister()
    manifest = load_manifest(tmp_path / "ds")
    assert sorted(s.variant for s in manifest.samples) == ["clean", "stained"]
    assert not hasattr(fresh_bpy.types.Scene, "seqcore")


def _blender_build(out: Path) -> Path:
    """`blender -c extension build`: blender_ext.py from the installed bpy wheel."""
    import importlib.util

    bpy_dir = Path(importlib.util.find_spec("bpy").origin).parent
    tool = next(bpy_dir.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    out.mkdir(parents=True)
    zip_path = out / "seqcore.zip"
    args = [
        "build",
        "--source-dir",
        str(REPO / "blender_addon"),
        "--output-filepath",
        str(zip_path),
    ]
    subprocess.run([sys.executable, str(tool), *args], check=True, capture_output=True, timeout=120)
    return zip_path


@pytest.mark.parametrize("builder", ["make addon", "blender -c extension build"])
def test_extension_zip_installs_enables_and_runs(tmp_path, builder):
    from blender_addon.build_zip import build_zip

    build = build_zip if builder == "make addon" else _blender_build
    zip_path = build(tmp_path / "dist")
    script = tmp_path / "install.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, sys
            import bpy
            # hide the checkout's editable shared_schemas: the extension must bring its own
            sys.meta_path[:] = [
                f for f in sys.meta_path
                if "seqcore_shared_schemas" not in getattr(f, "__module__", "")]
            assert "shared_schemas" not in sys.modules
            result = bpy.ops.extensions.package_install_files(
                filepath={str(zip_path)!r}, repo="user_default", enable_on_install=True)
            assert result == {{"FINISHED"}}, result
            enabled = [a.module for a in bpy.context.preferences.addons]
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            from test_addon_operators import _run_operators
            info = _run_operators(bpy, __import__("pathlib").Path({str(tmp_path / "ds")!r}))
            import shared_schemas
            schemas = shared_schemas.__file__
            from bl_ext.user_default.seqcore.operators import output_folder
            bpy.context.scene.seqcore.output_dir = ""  # the default, with no saved .blend
            default = str(output_folder(bpy.context))
            user = bpy.utils.extension_path_user("bl_ext.user_default.seqcore")
            print("RESULT " + json.dumps({{
                "enabled": enabled, "schemas": schemas, "default": default, "user": user, **info}}))
            """
        )
    )
    env = {**os.environ, "HOME": str(tmp_path / "home")}  # a throwaway Blender user folder
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    assert "bl_ext.user_default.seqcore" in result["enabled"]
    # shared_schemas comes from the bundled wheel, installed into the extensions' site-packages
    site = tmp_path / "home" / ".config" / "blender"
    assert Path(result["schemas"]).is_relative_to(site), result["schemas"]
    assert "site-packages" in Path(result["schemas"]).parts
    # without a saved .blend, the default folder is under the extension's user directory
    assert Path(result["default"]).is_relative_to(result["user"]) and result["user"].startswith(
        str(site)
    )
    assert len(load_manifest(tmp_path / "ds").samples) == 2


def test_panel_settings_map_to_dataset_settings_with_defects(fresh_bpy):
    import blender_addon
    from blender_addon.core.render_plan import plan_samples
    from blender_addon.properties import dataset_settings

    blender_addon.register()
    try:
        s = fresh_bpy.context.scene.seqcore
        s.count, s.variant, s.defects, s.stickers = 2, "stained", True, True
        s.lights = {"hex", "ring"}
        settings = dataset_settings(s)
    finally:
        blender_addon.unregister()
    assert settings.lights == ("hex", "ring") and settings.variant == "stained"
    assert settings.defect_settings.impurity_classes == ("sticker",)
    plan = plan_samples(settings)
    assert len(plan) == 2 and all(p.spec.stain is not None for p in plan)
    assert any(p.spec.instances for p in plan)


def test_a_users_material_named_like_ours_is_left_alone(fresh_bpy):
    import numpy as np

    from blender_addon.core.camera import CameraView
    from blender_addon.core.sample_spec import SampleSpec, sample_texture
    from blender_addon.nodes.helpers import node_tree_of
    from blender_addon.scene.build import build_scene
    from blender_addon.scene.materials import OWNER_KEY, PLATE_MATERIAL

    mine = fresh_bpy.data.materials.new(PLATE_MATERIAL)
    node_tree_of(mine).nodes.new("ShaderNodeEmission").name = "the user's node"
    spec = SampleSpec(
        texture=sample_texture(np.random.default_rng(0)),
        light="hex",
        camera=CameraView(),
        resolution=(32, 27),
        samples=1,
        sampling_seed=0,
    )
    first = build_scene(spec)["material"]
    again = build_scene(spec)["material"]
    assert first == again and first != mine and first[OWNER_KEY] == PLATE_MATERIAL
    assert mine.name == PLATE_MATERIAL and "the user's node" in mine.node_tree.nodes
    assert OWNER_KEY not in mine


def test_preferences_fall_back_to_their_declared_defaults(fresh_bpy):
    import blender_addon
    from blender_addon.preferences import get_preferences

    blender_addon.register()  # registered, not enabled: no preferences stored
    try:
        prefs = get_preferences(fresh_bpy.context)
        assert (prefs.default_output, prefs.device) == ("//seqcore_dataset", "cpu")
    finally:
        blender_addon.unregister()
