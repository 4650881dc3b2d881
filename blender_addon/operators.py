"""Operators: build the inspection scene, add a water stain, render a dataset (modal, cancellable).

Each reports the add-on's own errors (`SeqCoreAddonError`) as one line and cancels; any other exception
is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path

import bpy

from .core.errors import SeqCoreAddonError
from .preferences import get_preferences
from .properties import (
    NO_PRESET,
    dataset_settings,
    defect_preview_spec,
    scene_spec,
    stain_params,
)
from .scene.build import build_scene
from .scene.materials import add_water_stain

__all__ = [
    "SEQCORE_OT_add_water_stain",
    "SEQCORE_OT_build_scene",
    "SEQCORE_OT_preview_defects",
    "SEQCORE_OT_render_dataset",
    "classes",
]


class SEQCORE_OT_build_scene(bpy.types.Operator):
    """Build or refresh the plate, camera, light and render settings from the SeqCore settings"""

    bl_idname = "seqcore.build_scene"
    bl_label = "Build Inspection Scene"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        objects = build_scene(scene_spec(context.scene.seqcore), context.scene)
        context.view_layer.objects.active = objects["plate"]
        self.report({"INFO"}, f"SeqCore scene built ({context.scene.seqcore.light} light)")
        return {"FINISHED"}


class SEQCORE_OT_preview_defects(bpy.types.Operator):
    """Build the scene as plate 0 of the dataset renders it, with its defects and impurities"""

    bl_idname = "seqcore.preview_defects"
    bl_label = "Preview Defects"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings = context.scene.seqcore
        drawn = settings.defects or settings.fingerprints or settings.stickers
        if not (drawn or settings.preset != NO_PRESET):
            self.report({"ERROR"}, "Enable Defects, Fingerprints or Stickers, or a Preset, first")
            return {"CANCELLED"}
        try:
            spec = defect_preview_spec(settings)
        except SeqCoreAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        objects = build_scene(spec, context.scene)
        context.view_layer.objects.active = objects["plate"]
        names = ", ".join(d["class"] for d in spec.instances) or "no defects or impurities"
        self.report({"INFO"}, f"SeqCore scene built as plate 0 with {names}")
        return {"FINISHED"}


class SEQCORE_OT_add_water_stain(bpy.types.Operator):
    """Add a SeqCore Water Stain node group in front of the active material's Base Color"""

    bl_idname = "seqcore.add_water_stain"
    bl_label = "Add Water Stain"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        return obj is not None and obj.type == "MESH"

    def execute(self, context):
        obj = context.active_object
        material = obj.active_material
        if material is None:
            material = bpy.data.materials.new(f"{obj.name} Material")
            obj.data.materials.append(material)
        try:
            add_water_stain(material, stain_params(context.scene.seqcore))
        except SeqCoreAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Water stain added to material {material.name!r}")
        return {"FINISHED"}


class SEQCORE_OT_render_dataset(bpy.types.Operator):
    """Render a dataset with the SeqCore dataset settings (resumes an existing folder; Esc cancels)"""

    bl_idname = "seqcore.render_dataset"
    bl_label = "Render Dataset"

    _timer = None
    _steps = None

    def _start(self, context):
        settings = context.scene.seqcore
        prefs = get_preferences(context)
        out = Path(bpy.path.abspath(settings.output_dir or prefs.default_output))
        from .scene.dataset_render import render_dataset

        self._out = out
        self._steps = render_dataset(
            dataset_settings(settings), out, device=prefs.device, scene=context.scene
        )

    def _step(self, context) -> bool:
        """Render one sample; False when the dataset is complete."""
        progress = next(self._steps, None)
        if progress is None:
            return False
        self._done, self._total = progress.done, progress.total
        state = "skipped" if progress.skipped else f"{progress.seconds:.1f} s"
        self.report({"INFO"}, f"[{progress.done}/{progress.total}] {progress.sample_id} {state}")
        return True

    def execute(self, context):  # headless / scripted: render everything now
        try:
            self._start(context)
            while self._step(context):
                pass
        except SeqCoreAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Dataset ready: {self._out}")
        return {"FINISHED"}

    def invoke(self, context, event):
        try:
            self._start(context)
        except SeqCoreAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        wm = context.window_manager
        self._done, self._total = 0, 1
        wm.progress_begin(0, 100)
        self._timer = wm.event_timer_add(0.05, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type in {"ESC", "RIGHTMOUSE"}:
            self._finish(context)
            self.report({"WARNING"}, "Render cancelled; Render Dataset again resumes it")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            more = self._step(context)
        except SeqCoreAddonError as exc:
            self._finish(context)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        except BaseException:  # a bug: stop the timer and progress bar, keep the traceback
            self._finish(context)
            raise
        context.window_manager.progress_update(int(100 * self._done / max(self._total, 1)))
        if more:
            return {"RUNNING_MODAL"}
        self._finish(context)
        self.report({"INFO"}, f"Dataset ready: {self._out}")
        return {"FINISHED"}

    def _finish(self, context):
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if self._steps is not None:
            self._steps.close()


classes = (
    SEQCORE_OT_build_scene,
    SEQCORE_OT_preview_defects,
    SEQCORE_OT_add_water_stain,
    SEQCORE_OT_render_dataset,
)
