"""Render a whole dataset (or one shard of it) into a folder, resumably; shared by render.py and the UI.

Each sample: render once, assemble masks from the AOVs, write image and masks atomically, then add
the sample to the manifest (atomic rewrite). A crash loses at most the sample in flight; re-running
skips every sample the manifest already lists with its files present.

The image written is Blender's 8-bit PNG as rendered; or, for `--bit-depth 16`, the same render saved
as a 16-bit PNG; or, for a target-domain sample, the scene-linear render (saved as float EXR) turned
into a photograph by `core.target_domain.apply_effects` and encoded at the chosen bit depth.
"""

from __future__ import annotations

import os
import shutil
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._schemas import schemas
from ..core.errors import RenderSetupError
from ..core.exr import read_exr_channels
from ..core.masks import AOV_PLATE, assemble_masks
from ..core.render_plan import (
    PlannedSample,
    Shard,
    check_compatible,
    generator_info,
    manifest_sample,
    merge_shards,
    plan_samples,
    shard_manifest_path,
)
from ..core.sample_spec import DatasetSettings, SampleSpec
from ..core.target_domain import apply_effects, quantize
from ..core.version import addon_version, source_digest
from .build import inspection_scene
from .render_sample import configure_device, purge_orphans, render_spec

__all__ = [
    "Progress",
    "encode_rgb_png",
    "finish_image",
    "prepare_output",
    "render_dataset",
    "strip_png_metadata",
    "write_sample_files",
]


@dataclass(frozen=True)
class Progress:
    done: int  # samples finished in this shard, including skipped ones
    total: int
    sample_id: str
    seconds: float
    skipped: bool


def prepare_output(out: Path) -> None:
    """Create the dataset folders, or fail with one line if the folder cannot be written."""
    try:
        for sub in ("images", "masks"):
            (out / sub).mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise RenderSetupError(
            f"{out}: output folder is not writable ({exc.strerror or exc})"
        ) from None


def _class_ids() -> dict[str, int]:
    return {c.name: c.id for c in schemas.DEFAULT_CLASSES}


def _save_render(scene, path: Path, file_format: str, depth: str) -> Path:
    """The last render (Blender's "Render Result") saved again in another format or depth."""
    import bpy

    image = scene.render.image_settings
    before = (image.file_format, image.color_depth, image.color_mode)
    try:
        image.file_format = file_format
        image.color_depth = depth
        if file_format == "OPEN_EXR":
            image.exr_codec = "NONE"
        else:
            image.color_mode = "RGB"
        bpy.data.images["Render Result"].save_render(str(path), scene=scene)
    finally:  # the scene's own output settings, as build_scene left them
        image.file_format, image.color_depth, image.color_mode = before
    return path


def encode_rgb_png(values: np.ndarray) -> bytes:
    """uint8 or uint16 (H, W, 3) as PNG bytes: only critical chunks, so same pixels, same bytes."""
    height, width, channels = values.shape
    bits = 16 if values.dtype == np.uint16 else 8
    data = values.astype(">u2" if bits == 16 else np.uint8).tobytes()
    return schemas.encode_png(data, width, height, channels, bits)


def finish_image(
    spec: SampleSpec, image_path: Path, planes: dict, bit_depth: int = 8, scene=None
) -> bytes:
    """The PNG bytes of the image of a sample just rendered (see the module docstring)."""
    if spec.target is None and bit_depth == 8:
        return strip_png_metadata(image_path)
    scene = scene or inspection_scene()
    work = Path(image_path).parent
    if spec.target is None:
        return strip_png_metadata(_save_render(scene, work / "image16.png", "PNG", "16"))
    exr = _save_render(scene, work / "linear.exr", "OPEN_EXR", "32")
    channels = read_exr_channels(exr)
    os.remove(exr)
    linear = np.stack([channels[c] for c in ("R", "G", "B")], axis=-1)
    plate = planes.get(AOV_PLATE, np.ones(linear.shape[:2], np.float32))
    return encode_rgb_png(quantize(apply_effects(linear, plate, spec.target), bit_depth))


def write_sample_files(
    out: Path,
    planned: PlannedSample,
    image_path: Path,
    planes: dict,
    split: str,
    image_bytes: bytes | None = None,
    bit_depth: int = 8,
):
    """Masks and image of one rendered sample into the dataset; returns its manifest entry.

    `image_bytes`: the finished image (`finish_image`); None writes the rendered PNG as it is.
    """
    result = assemble_masks(planes, planned.spec.instances, _class_ids())
    height, width = result.semantic.shape
    sid = planned.sample_id
    schemas.write_png(
        out / "masks" / f"{sid}_semantic.png", result.semantic.tobytes(), width, height
    )
    schemas.write_png(
        out / "masks" / f"{sid}_instance.png",
        result.instance.astype(">u2").tobytes(),
        width,
        height,
        1,
        16,
    )
    valid = (result.valid * 255).astype(np.uint8)
    schemas.write_png(out / "masks" / f"{sid}_valid.png", valid.tobytes(), width, height)
    if image_bytes is None:
        image_bytes = strip_png_metadata(image_path)
    schemas.atomic_write_bytes(out / "images" / f"{sid}.png", image_bytes)
    os.remove(image_path)
    return manifest_sample(planned, split, result.instances, with_valid=True, bit_depth=bit_depth)


def strip_png_metadata(path: Path) -> bytes:
    """The PNG with only its critical chunks: Cycles stamps render times into tEXt chunks, which
    would make two renders of one spec differ in bytes though not in pixels."""
    data = Path(path).read_bytes()
    keep, pos = [data[:8]], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        end = pos + 12 + length
        if data[pos + 4 : pos + 8] in (b"IHDR", b"PLTE", b"IDAT", b"IEND"):
            keep.append(data[pos:end])
        pos = end
    return b"".join(keep)


def _finished_ids(manifest_file: Path, settings: DatasetSettings, generator: dict) -> set[str]:
    if not manifest_file.exists():
        return set()
    try:
        existing = schemas.load_manifest(manifest_file, check_files=False)
    except schemas.ManifestError as exc:
        raise RenderSetupError(str(exc)) from None
    check_compatible(existing, settings, manifest_file, generator)
    root = manifest_file.parent
    return {
        s.id
        for s in existing.samples
        if all((root / p).exists() for p in (s.image, s.semantic_mask, s.instance_mask) if p)
    }


def render_dataset(
    settings: DatasetSettings,
    out: str | os.PathLike,
    shard: Shard | None = None,
    device: str = "cpu",
    scene=None,
    blender_version: str = "",
    planner=plan_samples,
    renderer=render_spec,
) -> Iterator[Progress]:
    """Render the shard's missing samples, yielding progress after each; merges shards at the end.

    `planner(settings, shard)` plans the samples and `renderer(spec, work, scene)` renders one: the
    plate's by default, a user's scene's from `scene.user_scene`.
    """
    out = Path(out)
    shard = shard or Shard()
    import bpy

    scene = scene or inspection_scene()
    configure_device(scene, device)  # first: a missing GPU must not leave empty folders behind
    prepare_output(out)
    manifest_file = shard_manifest_path(out, shard)
    generator = generator_info(
        settings,
        addon_version(),
        blender_version or bpy.app.version_string,
        shard,
        source_digest(),
    )
    finished = _finished_ids(manifest_file, settings, generator)
    plan = planner(settings, shard)
    work = out / f".work-{shard.index}-of-{shard.count}"
    name = out.resolve().name
    done = 0
    for planned in plan:
        if planned.sample_id in finished:
            done += 1
            yield Progress(done, len(plan), planned.sample_id, 0.0, True)
            continue
        start = time.perf_counter()
        rendered = renderer(planned.spec, work, scene)
        image = finish_image(
            planned.spec, rendered.image_path, rendered.planes, settings.bit_depth, scene
        )
        try:
            sample = write_sample_files(
                out,
                planned,
                rendered.image_path,
                rendered.planes,
                settings.split,
                image,
                settings.bit_depth,
            )
            schemas.append_samples(manifest_file, [sample], name=name, generator=generator)
        except OSError as exc:  # a full disk, a folder made read-only mid-run
            raise RenderSetupError(
                f"{out}: cannot write sample {planned.sample_id} ({exc.strerror or exc})"
            ) from None
        purge_orphans()
        done += 1
        yield Progress(done, len(plan), planned.sample_id, time.perf_counter() - start, False)
    if not manifest_file.exists():  # a shard without plates still reports in, so merging can finish
        schemas.append_samples(manifest_file, [], name=name, generator=generator)
    shutil.rmtree(work, ignore_errors=True)
    if shard.count > 1:
        merge_shards(out, shard.count, name)
