"""Procedural defects (scratch, bump, dent) and impurities (fingerprint, sticker): settings and sampling.

The real dataset of the paper is not public, so SeqCore renders its own validation and test sets
with the difficulties of paper §V.C / Appendix B. This module draws instance parameters with a
seeded generator (numpy only, no bpy); `defect_raster.rasterize` turns them into the height /
albedo / roughness / instance arrays that `nodes/surface_layer.py` splices into the plate material.

Placement keeps instances apart (their footprints, unions of discs, at least ``min_gap_mm`` apart)
so that every instance owns its pixels; ``placement="next_to_defect"`` puts each impurity a small
gap (``gap_mm``) beside a defect, the prediction-leakage case of Appendix B.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from .defect_params import (
    PARAMS_BY_CLASS,
    BumpParams,
    DentParams,
    FingerprintParams,
    InstanceSpec,
    ScratchParams,
    StickerParams,
    instances_from_dicts,
    params_from_dict,
)
from .defect_raster import SurfaceLayer, bezier_points, footprint, rasterize, scratch_polyline
from .errors import SettingsError
from .look import BUMP_HEIGHT_MM
from .vocabulary import DEFECT_CLASSES, IMPURITY_CLASSES, PLACEMENTS

__all__ = [
    "PARAMS_BY_CLASS",
    "SIZE_FIELDS",
    "BumpParams",
    "DefectSettings",
    "DentParams",
    "FingerprintParams",
    "InstanceSpec",
    "ScratchParams",
    "StickerParams",
    "SurfaceLayer",
    "draw_params",
    "footprint",
    "footprint_distance",
    "instances_from_dicts",
    "params_from_dict",
    "place_instances",
    "rasterize",
    "sample_instances",
    "scratch_polyline",
]

# The per-class size ranges of DefectSettings (the UI and the CLI list these).
SIZE_FIELDS = (
    "scratch_length_mm",
    "scratch_width_mm",
    "scratch_depth_mm",
    "bump_radius_mm",
    "bump_height_mm",
    "dent_radius_mm",
    "dent_depth_mm",
    "fingerprint_size_mm",
    "sticker_size_mm",
    "sticker_thickness_mm",
)
_RANGE_FIELDS = (*SIZE_FIELDS, "gap_mm")


@dataclass(frozen=True)
class DefectSettings:
    """What to draw per image and the size ranges (min, max) of every class, in millimetres.

    Counts are inclusive ranges drawn uniformly per image; classes are drawn uniformly from the
    enabled ones. The defaults suit a ~40 mm field of view on the 100 x 120 mm plate.
    """

    defect_count: tuple = (1, 3)
    defect_classes: tuple = DEFECT_CLASSES
    impurity_count: tuple = (0, 1)
    impurity_classes: tuple = IMPURITY_CLASSES
    placement: str = "random"
    scratch_length_mm: tuple = (5.0, 20.0)
    scratch_width_mm: tuple = (0.1, 0.6)
    scratch_depth_mm: tuple = (0.01, 0.04)
    bump_radius_mm: tuple = (1.5, 5.0)
    bump_height_mm: tuple = BUMP_HEIGHT_MM  # calibrated: core.look
    dent_radius_mm: tuple = (1.0, 3.5)
    dent_depth_mm: tuple = (0.05, 0.15)
    fingerprint_size_mm: tuple = (12.0, 20.0)
    sticker_size_mm: tuple = (8.0, 20.0)
    sticker_thickness_mm: tuple = (0.05, 0.1)
    gap_mm: tuple = (0.3, 2.0)  # impurity-to-defect gap for placement "next_to_defect"
    min_gap_mm: float = 0.5  # any two instances at least this far apart

    def __post_init__(self) -> None:
        for name in ("defect_count", "impurity_count"):
            low, high = getattr(self, name)
            if int(low) != low or int(high) != high or not 0 <= low <= high:
                raise SettingsError(
                    f"DefectSettings.{name}: need integers 0 <= min <= max, got {low, high}"
                )
        for name in _RANGE_FIELDS:
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise SettingsError(f"DefectSettings.{name}: need 0 < min <= max, got {low, high}")
        for name, known in (
            ("defect_classes", DEFECT_CLASSES),
            ("impurity_classes", IMPURITY_CLASSES),
        ):
            unknown = [c for c in getattr(self, name) if c not in known]
            if unknown:
                raise SettingsError(
                    f"DefectSettings.{name}: unknown {unknown}; known: {list(known)}"
                )
        if self.placement not in PLACEMENTS:
            raise SettingsError(f"DefectSettings.placement: {self.placement!r} not in {PLACEMENTS}")
        if self.min_gap_mm < 0:
            raise SettingsError("DefectSettings.min_gap_mm: must be >= 0")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DefectSettings:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"DefectSettings: unknown keys {unknown}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def _uniform(rng: np.random.Generator, bounds) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _ordered_pair(rng: np.random.Generator, bounds) -> tuple:
    a, b = sorted(rng.uniform(bounds[0], bounds[1], size=2))
    return (float(a), float(b))


def _draw_scratch(rng: np.random.Generator, s: DefectSettings) -> ScratchParams:
    length = _uniform(rng, s.scratch_length_mm)
    # Control points along a unit chord with perpendicular sway, then rotated and scaled so the
    # curve's arc length is exactly `length`.
    xs = np.array([0.0, rng.uniform(0.2, 0.45), rng.uniform(0.55, 0.8), 1.0]) - 0.5
    ys = np.array([0.0, rng.normal(0, 0.22), rng.normal(0, 0.22), 0.0])
    angle = rng.uniform(0, np.pi)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = np.stack([xs, ys], axis=1) @ rot.T
    curve = bezier_points(points, np.linspace(0, 1, 513))
    arc = float(np.linalg.norm(np.diff(curve, axis=0), axis=1).sum())
    points = points * (length / arc)
    return ScratchParams(
        control_points_mm=tuple((float(x), float(y)) for x, y in points),
        length_mm=length,
        width_mm=_ordered_pair(rng, s.scratch_width_mm),
        depth_mm=_ordered_pair(rng, s.scratch_depth_mm),
        width_freq=float(rng.uniform(0.5, 2.5)),
        width_phase=float(rng.uniform(0, 2 * np.pi)),
        depth_freq=float(rng.uniform(0.5, 2.5)),
        depth_phase=float(rng.uniform(0, 2 * np.pi)),
        profile=str(rng.choice(["V", "U"])),
        burr=float(rng.uniform(0.0, 0.3)),
    )


def _draw_bump(rng: np.random.Generator, s: DefectSettings) -> BumpParams:
    return BumpParams(
        center_mm=(0.0, 0.0),
        radius_mm=_uniform(rng, s.bump_radius_mm),
        aspect=float(rng.uniform(0.6, 1.0)),
        angle=float(rng.uniform(0, np.pi)),
        height_mm=_uniform(rng, s.bump_height_mm),
        wobble=(
            float(rng.uniform(0, 0.12)),
            float(rng.uniform(0, 2 * np.pi)),
            float(rng.uniform(0, 0.08)),
            float(rng.uniform(0, 2 * np.pi)),
        ),
    )


def _draw_dent(rng: np.random.Generator, s: DefectSettings) -> DentParams:
    return DentParams(
        center_mm=(0.0, 0.0),
        radius_mm=_uniform(rng, s.dent_radius_mm),
        aspect=float(rng.uniform(0.6, 1.0)),
        angle=float(rng.uniform(0, np.pi)),
        depth_mm=_uniform(rng, s.dent_depth_mm),
        rim=float(rng.uniform(0.15, 0.4)),
        ripple_count=float(rng.uniform(1.5, 4.0)),
        crease_count=int(rng.integers(3, 8)),
        pattern=float(rng.uniform(0.15, 0.35)),
        phase=float(rng.uniform(0, 2 * np.pi)),
    )


def _draw_fingerprint(rng: np.random.Generator, s: DefectSettings) -> FingerprintParams:
    grey = rng.uniform(0.25, 0.45)
    return FingerprintParams(
        center_mm=(0.0, 0.0),
        size_mm=_uniform(rng, s.fingerprint_size_mm),
        aspect=float(rng.uniform(0.6, 0.8)),
        angle=float(rng.uniform(0, np.pi)),
        ridge_spacing_mm=float(rng.uniform(0.4, 0.55)),
        residue=float(rng.uniform(0.08, 0.22)),  # low contrast: a faint film, never a print
        residue_color=(float(grey), float(grey * 0.93), float(grey * 0.82)),
        roughness_delta=float(rng.uniform(0.05, 0.2)),
        height_mm=float(rng.uniform(0.0005, 0.002)),
        seed=int(rng.integers(0, 2**31 - 1)),
    )


def _draw_sticker(rng: np.random.Generator, s: DefectSettings) -> StickerParams:
    width = _uniform(rng, s.sticker_size_mm)
    height = float(
        np.clip(width * rng.uniform(0.5, 0.9), s.sticker_size_mm[0], s.sticker_size_mm[1])
    )
    papers = ((0.85, 0.85, 0.82), (0.9, 0.8, 0.35), (0.75, 0.85, 0.9), (0.92, 0.92, 0.92))
    inks = ((0.02, 0.02, 0.02), (0.02, 0.04, 0.25), (0.35, 0.02, 0.02))
    bubbles = []
    for _ in range(int(rng.integers(0, 4))):
        radius = float(rng.uniform(0.3, min(1.0, 0.2 * height)))
        u = float(rng.uniform(-width / 2 + radius, width / 2 - radius))
        v = float(rng.uniform(-height / 2 + radius, height / 2 - radius))
        bubbles.append((u, v, radius, float(rng.uniform(0.02, 0.05))))
    return StickerParams(
        center_mm=(0.0, 0.0),
        size_mm=(width, height),
        angle=float(rng.uniform(-0.4, 0.4) + rng.integers(0, 2) * np.pi / 2),
        thickness_mm=_uniform(rng, s.sticker_thickness_mm),
        number=int(rng.integers(1, 1000)),
        paper_color=papers[int(rng.integers(len(papers)))],
        ink_color=inks[int(rng.integers(len(inks)))],
        bubbles=tuple(bubbles),
    )


_DRAW = {
    "scratch": _draw_scratch,
    "bump": _draw_bump,
    "dent": _draw_dent,
    "fingerprint": _draw_fingerprint,
    "sticker": _draw_sticker,
}


def draw_params(rng: np.random.Generator, class_name: str, settings: DefectSettings):
    """Shape parameters of one instance of `class_name`, centred at the origin."""
    if class_name not in _DRAW:
        raise ValueError(f"unknown defect/impurity class {class_name!r}; known: {sorted(_DRAW)}")
    return _DRAW[class_name](rng, settings)


def _translated(params, offset: np.ndarray):
    if isinstance(params, ScratchParams):
        moved = np.asarray(params.control_points_mm) + offset
        return replace(params, control_points_mm=tuple((float(x), float(y)) for x, y in moved))
    cx, cy = np.asarray(params.center_mm) + offset
    return replace(params, center_mm=(float(cx), float(cy)))


def footprint_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Smallest gap between two footprints (unions of discs x, y, r); negative when they overlap."""
    centre_gap = np.linalg.norm(a[:, None, :2] - b[None, :, :2], axis=-1)
    return float((centre_gap - a[:, None, 2] - b[None, :, 2]).min())


def _inside(disc: np.ndarray, view_rect_mm, strict: bool) -> bool:
    x0, y0, x1, y1 = view_rect_mm
    if strict:
        r = disc[:, 2]
        return bool(
            np.all(disc[:, 0] - r >= x0)
            & np.all(disc[:, 0] + r <= x1)
            & np.all(disc[:, 1] - r >= y0)
            & np.all(disc[:, 1] + r <= y1)
        )
    cx, cy = disc[:, :2].mean(axis=0)
    return bool(x0 <= cx <= x1 and y0 <= cy <= y1)


def _candidate_offset(rng, shape_disc, view_rect_mm, anchor, gap_bounds):
    """A random translation for a shape centred at the origin: uniform in view, or beside `anchor`."""
    if anchor is None:
        x0, y0, x1, y1 = view_rect_mm
        return np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
    # Beside the anchor: from one of its discs, outwards in a random direction, by the two radii
    # plus the gap; the exact gap is checked afterwards on the full footprints.
    target = anchor[int(rng.integers(len(anchor)))]
    reach = float(np.max(np.linalg.norm(shape_disc[:, :2], axis=1) + shape_disc[:, 2]))
    own = float(shape_disc[:, 2].max())
    distance = target[2] + rng.uniform(min(own, reach), reach) + _uniform(rng, gap_bounds)
    phi = rng.uniform(0, 2 * np.pi)
    return target[:2] + distance * np.array([np.cos(phi), np.sin(phi)])


def _place_one(rng, class_name, settings, view_rect_mm, discs, anchors, tries):
    """One instance of `class_name` clear of `discs` (and beside one of `anchors`), or None."""
    per_shape = max(tries // 3, 2)
    for attempt in range(tries):
        if attempt % per_shape == 0:
            shape = draw_params(rng, class_name, settings)
            shape_disc = footprint(InstanceSpec(class_name, shape))
        anchor = anchors[int(rng.integers(len(anchors)))] if anchors else None
        offset = _candidate_offset(rng, shape_disc, view_rect_mm, anchor, settings.gap_mm)
        moved = shape_disc.copy()
        moved[:, :2] += offset
        # The first half of each shape's attempts wants the whole footprint in view, then its centre.
        if not _inside(moved, view_rect_mm, strict=attempt % per_shape < per_shape // 2):
            continue
        if any(footprint_distance(moved, d) < settings.min_gap_mm for d in discs):
            continue
        if anchors and min(footprint_distance(moved, d) for d in anchors) > settings.gap_mm[1]:
            continue
        return InstanceSpec(class_name, _translated(shape, offset)), moved
    return None


def place_instances(
    rng: np.random.Generator,
    class_names,
    settings: DefectSettings,
    view_rect_mm,
    placement: str | None = None,
    tries: int = 96,
) -> list[InstanceSpec]:
    """Draw and place one instance per entry of `class_names` (defects first, then impurities).

    An impurity that finds no spot beside a defect is placed anywhere; an instance that finds
    no free spot at all after `tries` attempts (three shape draws) is dropped, so crowded
    requests return fewer instances rather than overlapping ones.
    """
    placement = settings.placement if placement is None else placement
    if placement not in PLACEMENTS:
        raise SettingsError(f"placement {placement!r} not in {PLACEMENTS}")
    ordered = [c for c in class_names if c in DEFECT_CLASSES] + [
        c for c in class_names if c not in DEFECT_CLASSES
    ]
    placed: list[InstanceSpec] = []
    discs: list[np.ndarray] = []
    for class_name in ordered:
        anchors = []
        if placement == "next_to_defect" and class_name not in DEFECT_CLASSES:
            anchors = [d for d, p in zip(discs, placed, strict=True) if p.is_defect]
        found = _place_one(rng, class_name, settings, view_rect_mm, discs, anchors, tries)
        if found is None and anchors:
            found = _place_one(rng, class_name, settings, view_rect_mm, discs, [], tries)
        if found is not None:
            placed.append(found[0])
            discs.append(found[1])
    return placed


def sample_instances(
    rng: np.random.Generator, settings: DefectSettings, view_rect_mm
) -> list[InstanceSpec]:
    """The defects and impurities of one image: counts and classes drawn from `settings`, then placed."""
    names = []
    for (low, high), classes in (
        (settings.defect_count, settings.defect_classes),
        (settings.impurity_count, settings.impurity_classes),
    ):
        count = int(rng.integers(low, high + 1)) if classes else 0
        names += [str(c) for c in rng.choice(list(classes), size=count)] if count else []
    return place_instances(rng, names, settings, view_rect_mm)
