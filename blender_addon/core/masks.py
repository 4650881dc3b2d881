"""Semantic and instance masks from the render's AOV planes (no bpy).

Cycles averages AOVs over the pixel filter like any pass, so boundary pixels carry partial values. We
make them hard: a pixel belongs to a stain when the stain-mask AOV >= 0.5 (coverage majority), and its
stain is identified by ratio: the id AOV holds mask * id, so id = (id AOV) / (mask AOV) exactly when one
stain covers the pixel. Where two stains touch, a pixel's samples see both and the ratio is a blend
p * a + (1 - p) * b that is no stain's id; read as an id it made extra one- or two-pixel "instances"
(92 of 172 water-stain instances of the demo test set). So a ratio counts as an id only when it is
seen on an *interior* pixel (every covered 3 x 3 neighbour has the same ratio, which a blend along a
boundary never has) next to it; every other covered pixel takes, among its resolved neighbours, the
id closest to its blend, i.e. the stain with the larger share of its samples (`_resolve_blends`).
Defect and impurity ids (the surface layer writes 1-based indices into `seqcore_defect_id`) are
resolved the same way against their coverage AOV. They win over stains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .vocabulary import WATER_STAIN

__all__ = [
    "AOV_DEFECT_ID",
    "AOV_DEFECT_MASK",
    "AOV_NAMES",
    "AOV_PLATE",
    "AOV_STAIN_ID",
    "AOV_STAIN_MASK",
    "MaskResult",
    "assemble_masks",
    "resolve_defect_ids",
    "resolve_stain_ids",
]

AOV_STAIN_MASK = "seqcore_stain_mask"
AOV_STAIN_ID = "seqcore_stain_id"  # mask * per-stain random id
AOV_DEFECT_ID = "seqcore_defect_id"  # 1-based index into the surface layer's instances, 0 = none
# 1 inside any defect/impurity instance. A partial pixel k*c of id k alone is ambiguous
# (2 * 0.5 reads as id 1), so ids are read as the ratio id / mask, like the stains.
AOV_DEFECT_MASK = "seqcore_defect_mask"
AOV_PLATE = "seqcore_plate"  # 1 on the plate's surface
AOV_NAMES = (AOV_STAIN_MASK, AOV_STAIN_ID, AOV_DEFECT_ID, AOV_DEFECT_MASK, AOV_PLATE)

_ID_DECIMALS = 5


@dataclass(frozen=True)
class MaskResult:
    semantic: np.ndarray  # (H, W) uint8 class id
    instance: np.ndarray  # (H, W) uint16 instance id
    valid: np.ndarray  # (H, W) bool, plate surface
    instances: list  # [(instance_id, class_name, params)]


def _shifted(values: np.ndarray, fill) -> list[np.ndarray]:
    """The 8 neighbours of every pixel as arrays (edge pixels see `fill` outside the image)."""
    h, w = values.shape
    padded = np.pad(values, 1, constant_values=fill)
    return [
        padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if dy or dx
    ]


def _resolve_blends(ratio: np.ndarray, covered: np.ndarray, inside: np.ndarray, tol: float):
    """Give every `inside` pixel a ratio seen unblended nearby; pixels with no unblended ratio near
    them at all (a stain smaller than a pixel) keep their own. Vectorised over the image."""
    big = np.float64(np.inf)
    vals = np.where(covered, ratio, np.nan)
    hi, lo = vals.copy(), vals.copy()
    for shifted in _shifted(vals, np.nan):
        np.fmax(hi, shifted, out=hi)
        np.fmin(lo, shifted, out=lo)
    interior = covered & (hi - lo <= tol)
    clean = np.where(interior, ratio, big)
    # pure: its ratio is the ratio of an interior pixel within its 3 x 3 neighbourhood
    pure = np.abs(clean - ratio) <= tol
    for shifted in _shifted(clean, big):
        pure |= np.abs(shifted - ratio) <= tol
    pure &= inside
    resolved = np.where(pure, ratio, np.nan)
    todo = inside & ~pure
    for _ in range(max(ratio.shape)):  # blends are a pixel or two wide: few rounds
        if not todo.any():
            break
        candidates = np.stack(_shifted(resolved, np.nan))  # (8, H, W)
        gap = np.where(np.isnan(candidates), big, np.abs(candidates - ratio))
        best = np.argmin(gap, axis=0)
        pick = np.take_along_axis(candidates, best[None], axis=0)[0]
        newly = todo & ~np.isnan(pick)
        if not newly.any():
            break
        resolved = np.where(newly, pick, resolved)
        todo &= ~newly
    out = np.where(inside, np.where(np.isnan(resolved), ratio, resolved), 0.0)
    return _canonical(out, np.unique(ratio[interior]), tol)


def _canonical(values: np.ndarray, seen: np.ndarray, tol: float) -> np.ndarray:
    """Values within `tol` of an interior ratio become one representative of its run of close
    ratios, so float rounding never splits a stain into two ids."""
    if not len(seen):
        return values
    run_start = np.concatenate([[True], np.diff(seen) > tol])
    reps = seen[run_start][np.cumsum(run_start) - 1]
    pos = np.clip(np.searchsorted(seen, values), 1, len(seen) - 1) if len(seen) > 1 else None
    if pos is None:
        nearest = np.zeros(values.shape, np.int64)
    else:
        left_closer = np.abs(values - seen[pos - 1]) <= np.abs(values - seen[pos])
        nearest = np.where(left_closer, pos - 1, pos)
    close = (np.abs(values - seen[nearest]) <= tol) & (values != 0)
    return np.where(close, reps[nearest], values)


def resolve_stain_ids(mask_aov: np.ndarray, id_aov: np.ndarray) -> np.ndarray:
    """Per pixel stain id value (float, 0 outside stains), hard-thresholded at coverage 0.5; pixels
    where touching stains blend take the id of the stain with the larger share."""
    covered = mask_aov > 0
    ratio = np.divide(id_aov, mask_aov, out=np.zeros_like(id_aov), where=covered)
    ratio = np.round(ratio.astype(np.float64), _ID_DECIMALS)
    tol = 1.5 * 10.0**-_ID_DECIMALS  # float32 rounding can move the 5th decimal by one
    return _resolve_blends(ratio, covered, mask_aov >= 0.5, tol)


def _neighbour_max(values: np.ndarray) -> np.ndarray:
    padded = np.pad(values, 1)
    h, w = values.shape
    return np.max([padded[i : i + h, j : j + w] for i in range(3) for j in range(3)], axis=0)


def resolve_defect_ids(defect_aov: np.ndarray, mask_aov: np.ndarray | None = None) -> np.ndarray:
    """Integer defect index per pixel (0 = none). A partial pixel k*c keeps id k when c >= 0.5.

    With the coverage AOV the id is the exact ratio (the surface layer writes both); without it
    the neighbouring clean id is the reference.
    """
    if mask_aov is not None:
        covered = mask_aov > 0
        ratio = np.divide(defect_aov, mask_aov, out=np.zeros_like(defect_aov), where=covered)
        ratio = np.round(ratio.astype(np.float64), 3)  # blends of ids k and j are not integers
        resolved = _resolve_blends(ratio, covered, mask_aov >= 0.5, 1.5e-3)
        return np.rint(resolved).astype(np.int64)
    nearest = np.rint(defect_aov)
    clean = np.where((nearest >= 1) & (np.abs(defect_aov - nearest) < 1e-3), nearest, 0.0)
    reference = np.where(clean > 0, clean, _neighbour_max(clean))
    reference = np.where(reference > 0, reference, np.maximum(nearest, 0.0))
    coverage = np.divide(defect_aov, reference, out=np.zeros_like(defect_aov), where=reference > 0)
    return np.where(coverage >= 0.5, reference, 0.0).astype(np.int64)


def assemble_masks(
    planes: dict[str, np.ndarray], instances: tuple | list, class_ids: dict[str, int]
) -> MaskResult:
    """The manifest's masks (see shared_schemas): the surface layer's `instances` (defects and
    impurities, `SampleSpec.instances`) get instance ids 1..n in list order, then each distinct water
    stain the next ids in raster order of first appearance, class `water_stain`."""
    shape = planes[AOV_STAIN_MASK].shape
    zeros = np.zeros(shape, np.float32)
    stain = resolve_stain_ids(planes[AOV_STAIN_MASK], planes.get(AOV_STAIN_ID, zeros))
    layer = resolve_defect_ids(planes.get(AOV_DEFECT_ID, zeros), planes.get(AOV_DEFECT_MASK))
    layer = np.where(layer <= len(instances), layer, 0)
    semantic = np.zeros(shape, np.uint8)
    instance = np.zeros(shape, np.uint16)
    found: list = []
    layer_classes = np.array([0] + [class_ids[_class_of(d)] for d in instances], dtype=np.uint8)
    semantic[:] = layer_classes[layer]
    instance[:] = layer
    for k in np.unique(layer[layer > 0]):
        d = instances[k - 1]
        found.append((int(k), _class_of(d), dict(d.get("params") or {})))
    free = (layer == 0) & (stain > 0)
    values, first = np.unique(stain.ravel(), return_index=True)
    keep = values > 0
    order = np.argsort(first[keep])
    inst_id = len(instances)
    for value in values[keep][order]:
        where = free & (stain == value)
        if not where.any():  # entirely under a defect or impurity
            continue
        inst_id += 1
        instance[where] = inst_id
        semantic[where] = class_ids[WATER_STAIN]
        found.append((inst_id, WATER_STAIN, {"stain_id": float(value)}))
    valid = planes[AOV_PLATE] >= 0.5 if AOV_PLATE in planes else np.ones(shape, bool)
    return MaskResult(semantic, instance, valid, found)


def _class_of(instance: dict) -> str:
    name = instance.get("class", instance.get("class_name"))
    if not name:
        raise ValueError(f"instance without a class: {instance!r}")
    return str(name)
