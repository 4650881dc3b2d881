"""Every defect/impurity instance is visible, and only inside its mask (real, tiny Cycles renders).

The same sample is rendered with all instances and again without one of them, with the same
sampling seed and no denoiser, so Monte-Carlo noise cancels wherever the surface is unchanged.
"""

from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from blender_addon.core.camera import CameraView, pixel_centers_mm, view_rect_mm
from blender_addon.core.defects import DefectSettings, place_instances, rasterize
from blender_addon.core.masks import assemble_masks
from blender_addon.core.sample_spec import SampleSpec, sample_texture
from shared_schemas import DEFAULT_CLASSES

pytestmark = [pytest.mark.blender, pytest.mark.slow]

CLASSES = ("scratch", "bump", "dent", "fingerprint", "sticker")
# Sizes scaled to a 24 mm view so all five fit in one tiny image.
SETTINGS = DefectSettings(
    scratch_length_mm=(6.0, 10.0),
    scratch_width_mm=(0.3, 0.6),
    bump_radius_mm=(1.5, 2.5),
    dent_radius_mm=(1.0, 2.0),
    fingerprint_size_mm=(8.0, 10.0),
    sticker_size_mm=(5.0, 7.0),
)


def _read(path) -> np.ndarray:
    import imageio.v3 as iio

    return iio.imread(path).astype(np.float64)


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Square dilation: every pixel within `radius` (Chebyshev) of the mask."""
    return ndimage.binary_dilation(mask, structure=np.ones((2 * radius + 1,) * 2, bool))


def _box3(image: np.ndarray) -> np.ndarray:
    """3 x 3 mean per channel: compares local appearance rather than per-pixel path noise."""
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = image.shape[:2]
    return sum(padded[i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9.0


def test_each_instance_changes_the_image_inside_its_mask_only(fresh_bpy, tmp_path):
    from blender_addon.scene.render_sample import render_spec

    camera = CameraView(width_mm=24.0)
    resolution = (128, 107)
    rect = view_rect_mm(camera, resolution)
    specs = place_instances(np.random.default_rng(1), list(CLASSES), SETTINGS, rect)
    assert [s.class_name for s in specs] == list(CLASSES)
    instances = tuple(s.to_dict() for s in specs)
    sample = SampleSpec(
        texture=sample_texture(np.random.default_rng(0)),
        light="hex",
        camera=camera,
        resolution=resolution,
        samples=16,
        sampling_seed=3,
        instances=instances,
        denoise=False,
    )
    full = render_spec(sample, tmp_path / "full")
    image = _read(full.image_path)
    class_ids = {c.name: c.id for c in DEFAULT_CLASSES}
    masks = assemble_masks(full.planes, instances, class_ids)
    # Noise yardstick: the same scene rendered with another sampling seed.
    reseeded = _read(render_spec(replace(sample, sampling_seed=4), tmp_path / "noise").image_path)
    noise = np.abs(_box3(image) - _box3(reseeded)).mean(axis=-1)

    # The AOV mask lands where the layer put the instance (checks mapping and orientation).
    x, y = pixel_centers_mm(camera, resolution)
    layer = rasterize(specs, rect, 8 * resolution[0] / (rect[2] - rect[0]))
    xs, ys = layer.pixel_centres()
    cols = np.clip(np.searchsorted(xs, x) - 1, 0, len(xs) - 1)
    rows = np.clip(np.searchsorted(ys, y) - 1, 0, len(ys) - 1)
    expected = layer.instance[rows, cols]

    for index, spec in enumerate(specs, start=1):
        mask = masks.instance == index
        assert mask.sum() >= 20, spec.class_name
        assert np.all(masks.semantic[mask] == class_ids[spec.class_name])
        truth = expected == index
        iou = (mask & truth).sum() / (mask | truth).sum()
        assert iou > 0.6, (spec.class_name, iou)

        without = replace(
            sample, instances=tuple(d for k, d in enumerate(instances, 1) if k != index)
        )
        other = _read(render_spec(without, tmp_path / f"without_{index}").image_path)
        change = np.abs(image - other).mean(axis=-1)
        outside = ~_dilate(mask, 3)
        assert np.percentile(change[outside], 99) <= 2.0, spec.class_name
        local_change = np.abs(_box3(image) - _box3(other)).mean(axis=-1)
        assert change[mask].mean() >= 3.0, spec.class_name
        assert local_change[mask].mean() >= 1.5 * noise[mask].mean(), (
            spec.class_name,
            local_change[mask].mean(),
            noise[mask].mean(),
        )


def _png(path) -> np.ndarray:
    from shared_schemas import read_png

    img = read_png(path)
    dtype = ">u2" if img.bit_depth == 16 else np.uint8
    return np.frombuffer(img.data, dtype=dtype).reshape(img.height, img.width)


def test_twenty_image_test_preset_holds_every_class_and_validates(fresh_bpy, tmp_path):
    from blender_addon.render_command import main
    from shared_schemas import load_manifest

    out = tmp_path / "test_set"
    argv = ["--out", str(out), "--preset", "demo-test", "--resolution", "96", "80"]
    assert main([*argv, "--samples", "2"]) == 0
    manifest = load_manifest(out)  # validates schema, files, classes, unique instance ids
    assert len(manifest.samples) == 20
    assert {s.split for s in manifest.samples} == {"test"}
    seen_in_masks = set()
    kinds = set()
    for sample in manifest.samples:
        semantic = _png(out / sample.semantic_mask)
        instance = _png(out / sample.instance_mask)
        ids = [i.id for i in sample.instances]
        assert len(ids) == len(set(ids))
        assert set(np.unique(instance)) - {0} == set(ids), sample.id
        for inst in sample.instances:
            class_id = manifest.class_by_name(inst.class_name).id
            assert np.all(semantic[instance == inst.id] == class_id)
            seen_in_masks.add(inst.class_name)
        names = {i.class_name for i in sample.instances}
        kinds.add(
            "defect" if names & {"scratch", "bump", "dent"} else ("impurity" if names else "clean")
        )
    assert seen_in_masks == {c.name for c in DEFAULT_CLASSES}
    assert kinds == {"clean", "defect", "impurity"}


def test_scratch_flips_bright_dark_across_the_light_reflection(fresh_bpy, tmp_path):
    """Paper Appendix B: a long scratch is bright in the dark field and dark in the bright field."""
    from blender_addon.core.defects import InstanceSpec, ScratchParams, scratch_polyline
    from blender_addon.scene.render_sample import render_spec

    # from the edge of the view through the band and across the dark hole in its middle
    points = ((-19.5, -1.0), (-12.0, 0.5), (-4.0, 1.0), (4.0, 0.0))
    draft = ScratchParams(points, 24.0, (0.4, 0.6), (0.03, 0.04), 1.0, 0.0, 1.0, 1.0, "V", 0.0)
    xy, _ = scratch_polyline(draft, step_mm=0.01)
    length = float(np.linalg.norm(np.diff(xy, axis=0), axis=1).sum())
    instances = (InstanceSpec("scratch", replace(draft, length_mm=length)).to_dict(),)
    camera = CameraView(width_mm=40.0)
    sample = SampleSpec(
        texture=sample_texture(np.random.default_rng(0)),
        light="hex",
        camera=camera,
        resolution=(128, 107),
        samples=16,
        sampling_seed=3,
        instances=instances,
        denoise=False,
    )
    rendered = render_spec(sample, tmp_path / "with")
    image = _read(rendered.image_path).mean(axis=-1)
    plain = _read(render_spec(replace(sample, instances=()), tmp_path / "plain").image_path)
    plain = plain.mean(axis=-1)
    mask = assemble_masks(
        rendered.planes, instances, {c.name: c.id for c in DEFAULT_CLASSES}
    ).instance
    change = (image - plain)[mask == 1]
    base = plain[mask == 1]
    # the reflection, and the dark field: the rough plate's reflection tails light the dark field
    # to ~40-100 levels (Appendix A: the brushing shows there), the hole in the band's middle too
    bright, dark = base > 160, base < 100
    assert bright.sum() >= 10 and dark.sum() >= 10  # the scratch does cross the reflection
    assert change[bright].mean() < -15  # darker where the plate mirrors the light
    assert change[dark].mean() > 15  # brighter where it mirrors the dark surroundings
