"""Operators: build the inspection scene, add a water stain, render a dataset (in a background
Blender, polled by a modal operator: the interface stays responsive, Esc cancels).

Each reports the add-on's own errors (`SeqCoreAddonError`) as one line and cancels; any other exception
is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path

import bpy

from .background_render import BackgroundRender, JobState
from .core.errors import SeqCoreAddonError, SettingsError
from .core.output_folder import resolve_output_folder
from .core.render_lock import RenderLock, RenderLockError, lock_holder
from .core.render_options import RenderOptions, check_scene_options, to_settings
from .core.render_plan import Shard
from .device_prefs import device_preferences_kept
from .preferences import get_preferences, render_device_spec
from .properties import (
    NO_PRESET,
    defect_preview_spec,
    render_options,
    scene_render_options,
    scene_spec,
    stain_params,
)
from .scene.build import build_scene, inspection_scene
from .scene.materials import add_water_stain

__all__ = [
    "SEQCORE_OT_add_water_stain",
    "SEQCORE_OT_build_scene",
    "SEQCORE_OT_preview_defects",
    "SEQCORE_OT_render_dataset",
    "SEQCORE_OT_render_this_scene",
    "cancel_all_jobs",
    "classes",
    "output_folder",
    "running_jobs",
]


class SEQCORE_OT_build_scene(bpy.types.Operator):
    """Build or refresh the plate, camera, light and render settings from the SeqCore settings"""

    bl_idname = "seqcore.build_scene"
    bl_label = "Build Inspection Scene"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings = context.scene.seqcore
        _build_shown(context, scene_spec(settings))
        self.report({"INFO"}, f"SeqCore scene built ({settings.light} light)")
        return {"FINISHED"}


def _build_shown(context, spec) -> None:
    """Build `spec` in the inspection scene and show it in the window, the plate active, with the
    SeqCore settings it was built from (the panel then shows and edits those)."""
    scene = inspection_scene()
    if scene != context.scene:
        source, target = context.scene.seqcore, scene.seqcore
        for prop in source.bl_rna.properties:
            if prop.identifier != "rna_type" and not prop.is_readonly:
                setattr(target, prop.identifier, getattr(source, prop.identifier))
    objects = build_scene(spec, scene)
    scene.view_layers[0].objects.active = objects["plate"]
    if context.window is not None:
        context.window.scene = scene


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
        _build_shown(context, spec)
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


def _user_directory() -> Path:
    """The extension's own user folder (kept across updates); a checkout's add-on gets a datafiles one."""
    try:
        return Path(bpy.utils.extension_path_user(__package__, path="datasets"))
    except ValueError:  # registered from a checkout as a legacy add-on, not an extension
        return Path(bpy.utils.user_resource("DATAFILES", path="seqcore/datasets"))


def output_folder(context) -> Path:
    """The panel's folder, else the preferences' default; relative ones as `resolve_output_folder`."""
    folder = context.scene.seqcore.output_dir or get_preferences(context).default_output
    return resolve_output_folder(folder, bpy.data.filepath, _user_directory())


_JOBS: dict[Path, BackgroundRender] = {}  # background renders of this Blender session, by folder


def running_jobs() -> dict[Path, JobState]:
    """Folder -> progress of each background render still running (the panel draws them)."""
    return {out: job.poll() for out, job in _JOBS.items() if job.process.poll() is None}


def cancel_all_jobs() -> None:
    """On unregister: no background Blender outlives the add-on."""
    for job in _JOBS.values():
        job.cancel()
    _JOBS.clear()


def _refuse_if_running(out: Path) -> None:
    if out in running_jobs():
        raise RenderLockError(
            f"{out} is already being rendered by this Blender; Esc cancels it", None
        )
    holder = lock_holder(out)
    if holder is not None:
        raise RenderLockError(f"{out} is already being rendered by {holder.describe()}", holder)


class _BackgroundJob:
    """The sidebar button's side of a dataset render: a background Blender renders while a modal
    operator polls it (progress in the status bar and the panel; Esc cancels). Operators using it
    give `_prepare(context) -> (RenderOptions, out)`."""

    _timer = None
    _job: BackgroundRender | None = None

    def invoke(self, context, event):  # the sidebar button: a background Blender renders
        if context.window is None:  # `blender -b` scripts: no window to poll from
            return self.execute(context)
        try:
            options, out = self._prepare(context)
            job = BackgroundRender(
                options, out, render_device_spec(get_preferences(context)), bpy.app.binary_path
            )
        except (SeqCoreAddonError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self._job = _JOBS[out] = job
        wm = context.window_manager
        wm.progress_begin(0, 100)
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        self._status(context, f"SeqCore: rendering into {out} (starting)... Esc cancels")
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job = self._job
        if event.type == "ESC" and event.value == "PRESS":
            job.cancel()
            state = job.poll()
            self._finish(context)
            self.report(
                {"WARNING"},
                f"Render cancelled after {state.done} of {state.total or '?'} samples; "
                "Render Dataset again resumes it",
            )
            return {"CANCELLED"}
        if event.type != "TIMER":  # any timer's tick polls: cheap, and never blocks
            return {"PASS_THROUGH"}
        state = job.poll()
        if state.total:
            context.window_manager.progress_update(int(100 * state.done / state.total))
        self._status(context, f"SeqCore {state.last or 'starting Blender...'}  (Esc cancels)")
        if state.running:
            return {"PASS_THROUGH"}
        self._finish(context)
        if state.returncode == 0:
            self.report({"INFO"}, f"Dataset ready: {job.out}")
            return {"FINISHED"}
        self.report({"ERROR"}, state.error or f"background render failed (exit {state.returncode})")
        return {"CANCELLED"}

    @staticmethod
    def _status(context, text: str | None) -> None:
        if context.workspace is not None:
            context.workspace.status_text_set(text)
        for area in context.screen.areas if context.screen else ():
            if area.type == "VIEW_3D":
                area.tag_redraw()

    def _finish(self, context):
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        self._status(context, None)
        _JOBS.pop(self._job.out, None)


class SEQCORE_OT_render_dataset(_BackgroundJob, bpy.types.Operator):
    """Render a dataset with the SeqCore dataset settings in a background Blender (resumes an
    existing folder; Esc cancels)"""

    bl_idname = "seqcore.render_dataset"
    bl_label = "Render Dataset"

    def _prepare(self, context) -> tuple[RenderOptions, Path]:
        options = render_options(context.scene.seqcore)
        to_settings(options)  # conflicting settings: one line now, not from the background
        out = output_folder(context)
        _refuse_if_running(out)
        return options, out

    def execute(self, context):  # scripted (bpy.ops...()): render here and now, blocking
        from .scene.dataset_render import render_dataset

        try:
            device = render_device_spec(get_preferences(context))
            options, out = self._prepare(context)
            with RenderLock(out), device_preferences_kept():
                steps = render_dataset(to_settings(options), out, device=device)
                for progress in steps:
                    state = "skipped" if progress.skipped else f"{progress.seconds:.1f} s"
                    self.report(
                        {"INFO"}, f"[{progress.done}/{progress.total}] {progress.sample_id} {state}"
                    )
        except SeqCoreAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Dataset ready: {out}")
        return {"FINISHED"}


class SEQCORE_OT_render_this_scene(_BackgroundJob, bpy.types.Operator):
    """Render a paired clean/stained dataset of this saved .blend: its objects, lights and cameras,
    water stains on the materials marked Water Stains (a background Blender reads the saved file;
    nothing is saved; Esc cancels)"""

    bl_idname = "seqcore.render_this_scene"
    bl_label = "Render This Scene"

    def _prepare(self, context) -> tuple[RenderOptions, Path]:
        path = bpy.data.filepath
        if not path:
            raise SettingsError("Save the .blend first: Render This Scene renders the saved file")
        if bpy.data.is_dirty:
            raise SettingsError(
                f"{Path(path).name} has unsaved changes: save it first (Render This Scene "
                "renders the file as saved, and never saves it)"
            )
        options = scene_render_options(context.scene.seqcore, path)
        check_scene_options(options)
        out = output_folder(context)
        _refuse_if_running(out)
        return options, out

    def execute(self, context):  # scripted: render here and now, blocking (reopens the file)
        from .render_command import render_scene_to_stdout

        try:
            device = render_device_spec(get_preferences(context))
            options, out = self._prepare(context)
            render_scene_to_stdout(options, out, Shard(), device)
        except SeqCoreAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Dataset ready: {out}")
        return {"FINISHED"}


classes = (
    SEQCORE_OT_build_scene,
    SEQCORE_OT_preview_defects,
    SEQCORE_OT_add_water_stain,
    SEQCORE_OT_render_dataset,
    SEQCORE_OT_render_this_scene,
)
