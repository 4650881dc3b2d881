"""Semantic and instance masks from the render's AOV planes (no bpy).

Cycles averages AOVs over the pixel filter like any pass, so boundary pixels carry partial values. We
make them hard: a pixel belongs to a stain when the stain-mask AOV >= 0.5 (coverage majority), and its
stain is identified by ratio: the id AOV holds mask * id, so id = (id AOV) / (mask AOV) exactly when one
stain covers the pixel; ratios at the rare pixels shared by two touching stains are snapped to the
nearest id seen fully inside a stain. Defect and impurity ids (the surface layer writes 1-based indices
into `seqcore_defect_id`) are resolved by the same ratio against their coverage AOV. They win over stains.
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

_FULL = 0.999  # every filter sample inside
_ID_DECIMALS = 5


@dataclass(frozen=True)
class MaskResult:
    semantic: np.ndarray  # (H, W) uint8 class id
    instance: np.ndarray  # (H, W) uint16 instance id
    valid: np.ndarray  # (H, W) bool, plate surface
    instances: list  # [(instance_id, class_name, params)]


def resolve_stain_ids(mask_aov: np.ndarray, id_aov: np.ndarray) -> np.ndarray:
    """Per pixel stain id value (float, 0 outside stains), hard-thresholded at coverage 0.5."""
    inside = mask_aov >= 0.5
    ratio = np.divide(id_aov, mask_aov, out=np.zeros_like(id_aov), where=mask_aov > 0)
    ratio = np.round(ratio, _ID_DECIMALS)
    clean = np.unique(ratio[mask_aov >= _FULL])
    if len(clean):
        mixed = inside & (mask_aov < _FULL)
        values = ratio[mixed]
        pos = np.clip(np.searchsorted(clean, values), 1, len(clean)) if len(clean) > 1 else None
        if pos is not None:
            left, right = clean[pos - 1], clean[np.minimum(pos, len(clean) - 1)]
            snapped = np.where(np.abs(values - left) <= np.abs(values - right), left, right)
        else:
            snapped = np.full_like(values, clean[0])
        # a ratio far from every clean id belongs to a stain too small to have a fully covered pixel
        far = np.abs(snapped - values) > 10.0 ** (-_ID_DECIMALS + 1)
        ratio[mixed] = np.where(far, values, snapped)
    return np.where(inside, ratio, 0.0)


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
        ratio = np.divide(defect_aov, mask_aov, out=np.zeros_like(defect_aov), where=mask_aov > 0)
        return np.where(mask_aov >= 0.5, np.rint(ratio), 0.0).astype(np.int64)
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
