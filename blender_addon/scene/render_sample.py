"""Render one SampleSpec: the RGB image (PNG) and, from the same render, the AOV planes (EXR).

The compositor's File Output node writes the AOVs of this very render into an uncompressed multilayer
EXR that `core.exr` reads back, since the `bpy` module offers no pixels of multilayer images.
"""

from __future__ import annotations

import os
from pathlib import Path

import bpy

from ..core.errors import DeviceError, SettingsError
from ..core.exr import read_exr_channels
from ..core.gpu_selection import CyclesGpu, RenderDevice, choose_gpus
from ..core.masks import AOV_NAMES
from ..core.sample_spec import SampleSpec
from .build import build_scene, inspection_scene

__all__ = [
    "COMPOSITOR_NAME",
    "RenderedSample",
    "configure_device",
    "purge_orphans",
    "render_scene_once",
    "render_spec",
]

COMPOSITOR_NAME = "SeqCore Masks"


class RenderedSample:
    def __init__(self, image_path: Path, planes: dict):
        self.image_path = image_path
        self.planes = planes


def configure_device(scene, device: str | RenderDevice) -> str:
    """The CPU, or exactly the GPUs `device` asks for: "gpu", "gpu:optix", "gpu:cuda:0,2" (see
    core.gpu_selection). Returns what renders, e.g. "OptiX: 0 NVIDIA RTX A6000".

    A GPU is chosen in the Cycles add-on's preferences (backend, devices in use), which Blender
    saves on quit: callers wrap the render in `device_prefs.device_preferences_kept`.
    """
    try:
        request = device if isinstance(device, RenderDevice) else RenderDevice.parse(device)
    except SettingsError as exc:
        raise DeviceError(str(exc)) from None
    scene.render.engine = "CYCLES"
    if request.kind == "cpu":
        scene.cycles.device = "CPU"
        return "CPU"
    try:
        prefs = bpy.context.preferences.addons["cycles"].preferences
    except KeyError:
        raise DeviceError(
            "GPU requested but the Cycles add-on preferences are unavailable"
        ) from None
    built = [item[0] for item in prefs.get_device_types(bpy.context)]

    def found(backend: str) -> list[CyclesGpu]:
        # the devices present now (stale saved entries are not listed), in Cycles' order
        return [
            CyclesGpu(d.name, d.id)
            for d in prefs.get_devices_for_type(backend)
            if d.type == backend
        ]

    choice = choose_gpus(request, built, found)
    prefs.compute_device_type = choice.backend
    chosen = {gpu.id for gpu in choice.gpus}
    for entry in prefs.devices:  # the CPU and every other GPU off: exactly the chosen ones render
        entry.use = entry.type == choice.backend and entry.id in chosen
    scene.cycles.device = "GPU"
    return choice.describe()


def _compositor(scene, directory: Path, with_masks: bool) -> None:
    """File Output of the AOVs into `directory/aov*.exr` (uncompressed float multilayer EXR)."""
    if hasattr(scene, "compositing_node_group"):  # Blender >= 5.0: compositor trees are node groups
        tree = bpy.data.node_groups.get(COMPOSITOR_NAME)
        if tree is None:
            tree = bpy.data.node_groups.new(COMPOSITOR_NAME, "CompositorNodeTree")
        tree.nodes.clear()
        scene.compositing_node_group = tree if with_masks else None
    else:  # Blender 4.2-4.5 (untested here: this repository tests with bpy 5.0.1)
        scene.use_nodes = with_masks
        tree = scene.node_tree
        if tree is not None:
            tree.nodes.clear()
    scene.render.use_compositing = with_masks
    if not with_masks:
        return
    layers = tree.nodes.new("CompositorNodeRLayers")
    layers.scene = scene
    out = tree.nodes.new("CompositorNodeOutputFile")
    if hasattr(out, "file_output_items"):
        out.format.media_type = "MULTI_LAYER_IMAGE"
        out.format.file_format = "OPEN_EXR_MULTILAYER"
        out.directory = str(directory)
        out.file_name = "aov"
        for name in AOV_NAMES:
            out.file_output_items.new("FLOAT", name)
    else:
        composite = tree.nodes.new("CompositorNodeComposite")
        tree.links.new(layers.outputs["Image"], composite.inputs["Image"])
        out.format.file_format = "OPEN_EXR_MULTILAYER"
        out.base_path = str(directory / "aov")
        out.layer_slots.clear()
        for name in AOV_NAMES:
            out.layer_slots.new(name)
    out.format.exr_codec = "NONE"
    out.format.color_depth = "32"
    for name in AOV_NAMES:
        tree.links.new(layers.outputs[name], out.inputs[name])


def purge_orphans() -> None:
    """Drop data-blocks nothing uses any more, so long runs keep flat memory."""
    bpy.data.orphans_purge(do_local_ids=True, do_linked_ids=True, do_recursive=True)


def render_spec(
    spec: SampleSpec, work_dir: Path, scene=None, with_masks: bool = True
) -> RenderedSample:
    """Build the scene for `spec` (by default in the inspection scene), render once, return the PNG
    path and AOV planes (H, W) by name."""
    scene = scene or inspection_scene()
    build_scene(spec, scene)
    return render_scene_once(scene, work_dir, with_masks)


def render_scene_once(scene, work_dir: Path, with_masks: bool = True) -> RenderedSample:
    """Render `scene` as it stands once: the PNG and the AOV planes (H, W) by name."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    _compositor(scene, work_dir, with_masks)
    image_path = work_dir / "image.png"
    for stale in [image_path, *work_dir.glob("aov*.exr")]:
        if stale.exists():
            os.remove(stale)
    scene.render.filepath = str(image_path)
    bpy.ops.render.render(write_still=True, scene=scene.name)
    if not image_path.exists():
        raise RuntimeError(f"Blender did not write the image {image_path}")
    planes: dict = {}
    if with_masks:
        written = sorted(work_dir.glob("aov*.exr"))  # 4.x appends the frame number
        if not written:
            raise RuntimeError(f"Blender did not write the mask passes into {work_dir}")
        exr_path = written[0]
        channels = read_exr_channels(exr_path)
        for name in AOV_NAMES:
            plane = channels.get(f"{name}.V", channels.get(name))
            if plane is None:
                raise RuntimeError(f"{exr_path}: pass {name!r} missing")
            planes[name] = plane  # EXR rows run top-down, like the PNG
    return RenderedSample(image_path, planes)
