"""Defect/impurity geometry (numpy only): statistics over many seeds stay within the configured ranges."""

import json

import numpy as np
import pytest

from blender_addon.core.defect_raster import scratch_profile
from blender_addon.core.defects import (
    DefectSettings,
    InstanceSpec,
    footprint,
    footprint_distance,
    instances_from_dicts,
    place_instances,
    rasterize,
    sample_instances,
    scratch_polyline,
)
from blender_addon.core.vocabulary import DEFECT_CLASSES, IMPURITY_CLASSES

VIEW = (-20.0, -16.75, 20.0, 16.75)
PX_PER_MM = 20.0
SEEDS = range(40)
# Deliberately not the defaults, so a sampler that ignores the settings fails.
SETTINGS = DefectSettings(
    scratch_length_mm=(8.0, 14.0),
    scratch_width_mm=(0.2, 0.45),
    scratch_depth_mm=(0.02, 0.03),
    bump_radius_mm=(2.0, 3.0),
    bump_height_mm=(0.04, 0.06),
    dent_radius_mm=(1.5, 2.5),
    dent_depth_mm=(0.08, 0.12),
    fingerprint_size_mm=(13.0, 16.0),
    sticker_size_mm=(9.0, 14.0),
    sticker_thickness_mm=(0.06, 0.08),
)


def _solo(class_name: str, seed: int) -> tuple[InstanceSpec, object]:
    specs = place_instances(np.random.default_rng(seed), [class_name], SETTINGS, VIEW)
    assert len(specs) == 1, f"{class_name} seed {seed}: no spot found in an empty view"
    return specs[0], rasterize(specs, VIEW, PX_PER_MM)


def _within(value: float, bounds, rel: float = 1e-6) -> bool:
    low, high = bounds
    return low * (1 - rel) <= value <= high * (1 + rel)


def _pixel_area(layer, index: int = 1) -> float:
    return float((layer.instance == index).sum()) / PX_PER_MM**2


def test_scratch_length_width_depth_within_ranges():
    for seed in SEEDS:
        spec, layer = _solo("scratch", seed)
        p = spec.params
        xy, frac = scratch_polyline(p, step_mm=0.02)
        arc = float(np.linalg.norm(np.diff(xy, axis=0), axis=1).sum())
        assert _within(arc, SETTINGS.scratch_length_mm, rel=2e-3), (seed, arc)
        assert _within(p.width_mm[0], SETTINGS.scratch_width_mm)
        assert _within(p.width_mm[1], SETTINGS.scratch_width_mm)
        width, depth = scratch_profile(p, frac)
        assert width.max() <= SETTINGS.scratch_width_mm[1] + 1e-9
        interior = (frac > 0.06) & (frac < 0.94)  # away from the end tapers
        assert width[interior].min() >= SETTINGS.scratch_width_mm[0] - 1e-9
        assert depth[interior].min() >= SETTINGS.scratch_depth_mm[0] - 1e-9
        # The rasterised groove (height < 0) has the area of the width profile integrated along it.
        groove_area = float((layer.height < 0).sum()) / PX_PER_MM**2
        expected = float(np.trapz(width, frac * arc))
        assert groove_area == pytest.approx(expected, rel=0.12), seed
        deepest = -float(layer.height.min())
        assert deepest <= SETTINGS.scratch_depth_mm[1] + 1e-6
        assert deepest >= SETTINGS.scratch_depth_mm[0] * 0.8  # pixel centres miss the exact V apex


def test_bump_radius_height_area():
    for seed in SEEDS:
        spec, layer = _solo("bump", seed)
        p = spec.params
        assert _within(p.radius_mm, SETTINGS.bump_radius_mm)
        a2, _, a3, _ = p.wobble
        expected = np.pi * p.radius_mm**2 * p.aspect * (1 + a2**2 / 2 + a3**2 / 2)
        assert _pixel_area(layer) == pytest.approx(expected, rel=0.05), seed
        assert float(layer.height.min()) >= 0.0
        assert float(layer.height.max()) == pytest.approx(p.height_mm, rel=0.03)
        assert _within(float(layer.height.max()), SETTINGS.bump_height_mm, rel=0.03)
        # Soft border: heights fall to nothing at the edge of the mask.
        edge = (layer.instance == 1) & (layer.height < 0.02 * p.height_mm)
        assert edge.sum() > 0


def test_dent_radius_depth_rim_area():
    for seed in SEEDS:
        spec, layer = _solo("dent", seed)
        p = spec.params
        assert _within(p.radius_mm, SETTINGS.dent_radius_mm)
        assert _within(p.depth_mm, SETTINGS.dent_depth_mm)
        expected = np.pi * p.radius_mm**2 * p.aspect
        assert _pixel_area(layer) == pytest.approx(expected, rel=0.05), seed
        deepest = -float(layer.height.min())
        assert p.depth_mm * (1 - p.pattern) <= deepest <= p.depth_mm * (1 + p.pattern) + 1e-9
        assert float(layer.height.max()) > 0.5 * p.rim * p.depth_mm  # a raised rim around it


def test_fingerprint_size_area_low_contrast():
    for seed in SEEDS[:15]:
        spec, layer = _solo("fingerprint", seed)
        p = spec.params
        assert _within(p.size_mm, SETTINGS.fingerprint_size_mm)
        a = p.size_mm / 2
        assert _pixel_area(layer) == pytest.approx(np.pi * a * a * p.aspect, rel=0.03), seed
        alpha = layer.albedo[..., 3][layer.instance == 1]
        assert 0.0 < alpha.max() <= p.residue + 1e-6 <= 0.35 + 1e-6  # residue, never opaque
        assert float(np.abs(layer.height).max()) < 0.005


def test_sticker_size_thickness_print():
    bubbles = 0
    for seed in SEEDS:
        spec, layer = _solo("sticker", seed)
        p = spec.params
        width, height = p.size_mm
        assert _within(width, SETTINGS.sticker_size_mm) and _within(
            height, SETTINGS.sticker_size_mm
        )
        assert _pixel_area(layer) == pytest.approx(width * height, rel=0.03), seed
        assert _within(p.thickness_mm, SETTINGS.sticker_thickness_mm)
        label = layer.instance == 1
        assert float(layer.height[label].min()) == pytest.approx(p.thickness_mm, rel=1e-5)
        lift = max((b[3] for b in p.bubbles), default=0.0)
        assert float(layer.height.max()) <= p.thickness_mm + lift + 1e-6
        bubbles += len(p.bubbles)
        np.testing.assert_array_equal(layer.albedo[..., 3] == 1.0, label)  # opaque, sharp edges
        ink = label & np.all(np.abs(layer.albedo[..., :3] - p.ink_color) < 1e-6, axis=-1)
        assert 0.03 < ink.sum() / label.sum() < 0.5, seed  # a printed number, not a blank label
    assert bubbles > 0  # some labels trap air pockets


@pytest.mark.parametrize("class_name", DEFECT_CLASSES + IMPURITY_CLASSES)
def test_footprint_covers_the_mask(class_name):
    """Placement and the per-instance raster window rely on the footprint covering the support."""
    for seed in SEEDS[:10]:
        spec = place_instances(np.random.default_rng(seed), [class_name], SETTINGS, VIEW)[0]
        layer = rasterize([spec], VIEW, 8.0, min_mask_mm=0.0)
        xs, ys = layer.pixel_centres()
        rows, cols = np.nonzero(layer.instance)
        points = np.column_stack([xs[cols], ys[rows]])
        discs = footprint(spec)
        gap = np.linalg.norm(points[:, None, :] - discs[None, :, :2], axis=-1) - discs[None, :, 2]
        assert gap.min(axis=1).max() <= 1e-9, (class_name, seed)


def test_thin_scratch_mask_keeps_a_minimum_width():
    settings = DefectSettings(scratch_width_mm=(0.05, 0.08), scratch_length_mm=(10.0, 10.0))
    spec = place_instances(np.random.default_rng(1), ["scratch"], settings, VIEW)[0]
    bare = rasterize([spec], VIEW, PX_PER_MM, min_mask_mm=0.0)
    wide = rasterize([spec], VIEW, PX_PER_MM, min_mask_mm=0.4)
    np.testing.assert_array_equal(bare.height, wide.height)  # the groove itself is unchanged
    assert _pixel_area(bare) < 0.1 * 10.0 * 1.2
    assert _pixel_area(wide) == pytest.approx(0.4 * 10.0 + np.pi * 0.2**2, rel=0.08)
    assert np.all(wide.instance[bare.instance == 1] == 1)


def test_instances_keep_their_own_pixels_and_counts_follow_settings():
    settings = DefectSettings(defect_count=(2, 4), impurity_count=(1, 2))
    counts = []
    for seed in SEEDS:
        specs = sample_instances(np.random.default_rng(seed), settings, VIEW)
        defects = [s for s in specs if s.is_defect]
        impurities = [s for s in specs if not s.is_defect]
        assert len(defects) <= 4 and len(impurities) <= 2
        counts.append((len(defects), len(impurities)))
        layer = rasterize(specs, VIEW, 10.0)
        for index, spec in enumerate(specs, start=1):
            alone = rasterize([spec], VIEW, 10.0)
            np.testing.assert_array_equal(layer.instance == index, alone.instance == 1)
    counts = np.array(counts)
    assert counts[:, 0].min() >= 1 and counts[:, 0].max() == 4 and counts[:, 1].min() >= 1
    assert np.mean(counts[:, 0] >= 2) > 0.9  # drops on a crowded plate are rare


def test_impurity_next_to_defect():
    settings = DefectSettings(
        defect_count=(1, 1), impurity_count=(1, 1), placement="next_to_defect"
    )
    beside = 0
    for seed in SEEDS:
        specs = sample_instances(np.random.default_rng(seed), settings, VIEW)
        assert [s.is_defect for s in specs] == [True, False], seed
        gap = footprint_distance(footprint(specs[0]), footprint(specs[1]))
        assert gap >= settings.min_gap_mm, seed
        if gap > settings.gap_mm[1]:
            continue  # no room beside this defect: placed anywhere (allowed, but rare)
        beside += 1
        # In pixels: the masks are disjoint and close. Footprints are conservative covers (bump
        # outline harmonics, disc padding), so the pixel gap may exceed the footprint gap a little.
        layer = rasterize(specs, VIEW, 5.0)
        xs, ys = layer.pixel_centres()
        points = []
        for index in (1, 2):
            mask = np.pad(layer.instance == index, 1)
            inner = mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2]
            edge = mask[1:-1, 1:-1] & ~(inner & mask[1:-1, 2:])  # the nearest pixels lie on it
            rows, cols = np.nonzero(edge)
            points.append(np.column_stack([xs[cols], ys[rows]]))
        nearest = np.min(np.linalg.norm(points[0][:, None] - points[1][None], axis=-1))
        assert 0 < nearest <= settings.gap_mm[1] + 1.5, (seed, nearest)
    assert beside >= 0.9 * len(SEEDS)


def test_random_placement_stays_in_view_and_is_reproducible():
    settings = DefectSettings(defect_count=(3, 3), impurity_count=(2, 2))
    a = sample_instances(np.random.default_rng(7), settings, VIEW)
    b = sample_instances(np.random.default_rng(7), settings, VIEW)
    assert a == b
    for spec in a:
        centre = footprint(spec)[:, :2].mean(axis=0)
        assert VIEW[0] <= centre[0] <= VIEW[2] and VIEW[1] <= centre[1] <= VIEW[3]


def test_only_enabled_classes_are_drawn():
    settings = DefectSettings(
        defect_count=(2, 2), defect_classes=("dent",), impurity_count=(1, 1), impurity_classes=()
    )
    for seed in SEEDS[:10]:
        names = {
            s.class_name for s in sample_instances(np.random.default_rng(seed), settings, VIEW)
        }
        assert names == {"dent"}


def test_json_round_trip():
    specs = sample_instances(
        np.random.default_rng(3), DefectSettings(defect_count=(3, 3), impurity_count=(2, 2)), VIEW
    )
    text = json.dumps([s.to_dict() for s in specs])
    assert instances_from_dicts(json.loads(text)) == specs
    settings = DefectSettings(defect_count=(0, 2), placement="next_to_defect")
    assert DefectSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"defect_count": (3, 1)}, "defect_count"),
        ({"scratch_width_mm": (0.0, 0.5)}, "scratch_width_mm"),
        ({"defect_classes": ("scratch", "crack")}, "crack"),
        ({"impurity_classes": ("water_stain",)}, "water_stain"),
        ({"placement": "anywhere"}, "placement"),
    ],
)
def test_bad_settings_name_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DefectSettings(**kwargs)


def test_bad_instance_dicts():
    with pytest.raises(ValueError, match="unknown defect/impurity class"):
        instances_from_dicts([{"class": "crack", "params": {}}])
    with pytest.raises(ValueError, match="missing keys"):
        instances_from_dicts([{"class": "bump", "params": {"center_mm": [0, 0]}}])


def test_layer_pixel_convention_row0_is_min_y():
    spec = place_instances(np.random.default_rng(0), ["bump"], SETTINGS, VIEW)[0]
    layer = rasterize([spec], VIEW, 10.0)
    xs, ys = layer.pixel_centres()
    row, col = np.unravel_index(np.argmax(layer.height), layer.shape)
    assert abs(xs[col] - spec.params.center_mm[0]) <= 0.1
    assert abs(ys[row] - spec.params.center_mm[1]) <= 0.1
    x0, y0, x1, y1 = layer.extent_mm
    assert x0 <= VIEW[0] and y0 <= VIEW[1] and x1 >= VIEW[2] and y1 >= VIEW[3]
    assert layer.class_names == ("bump",)
    assert layer.height.dtype == np.float32 and layer.instance.dtype == np.uint16
    assert layer.albedo.shape == layer.shape + (4,)
