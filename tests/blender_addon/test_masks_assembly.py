"""Mask assembly from AOV planes: hard thresholds, id recovery by ratio, defects before stains."""

import numpy as np

from blender_addon.core.masks import (
    AOV_DEFECT_ID,
    AOV_PLATE,
    AOV_STAIN_ID,
    AOV_STAIN_MASK,
    assemble_masks,
    resolve_defect_ids,
    resolve_stain_ids,
)

CLASS_IDS = {"scratch": 1, "bump": 2, "dent": 3, "water_stain": 4, "fingerprint": 5, "sticker": 6}


def _supersampled(labels: np.ndarray, factor: int) -> np.ndarray:
    """Box-filtered coverage of a fine label image, like an AOV averaged over samples."""
    h, w = labels.shape[0] // factor, labels.shape[1] // factor
    return labels.reshape(h, factor, w, factor).mean(axis=(1, 3))


def _two_stains(fine: int = 8):
    yy, xx = np.mgrid[0 : 32 * fine, 0 : 32 * fine] / fine
    a = (xx - 10) ** 2 + (yy - 10) ** 2 < 5.3**2
    b = (xx - 22) ** 2 + (yy - 20) ** 2 < 4.1**2
    ids = np.where(a, 0.123457, np.where(b, 0.876543, 0.0))
    mask = (a | b).astype(float)
    return _supersampled(mask, fine), _supersampled(mask * ids, fine), a, b, fine


def test_stain_ids_are_recovered_and_majority_coverage_decides():
    mask_aov, id_aov, a, b, fine = _two_stains()
    ids = resolve_stain_ids(mask_aov, id_aov)
    assert set(np.unique(ids)) == {0.0, 0.12346, 0.87654}
    coverage_a = _supersampled(a.astype(float), fine)
    np.testing.assert_array_equal(ids == 0.12346, coverage_a >= 0.5)


def test_defect_ids_keep_index_on_partial_pixels():
    fine = 8
    yy, xx = np.mgrid[0 : 16 * fine, 0 : 16 * fine] / fine
    labels = np.where((xx - 5) ** 2 + (yy - 5) ** 2 < 3.2**2, 3.0, 0.0)
    labels = np.where((xx > 10) & (yy > 9), 1.0, labels)
    aov = _supersampled(labels, fine)
    ids = resolve_defect_ids(aov)
    for k in (1.0, 3.0):
        coverage = _supersampled((labels == k).astype(float), fine)
        np.testing.assert_array_equal(ids == k, coverage >= 0.5)


def test_assemble_numbers_defects_first_and_defects_win_overlaps():
    mask_aov, id_aov, a, b, fine = _two_stains()
    defect = np.zeros_like(mask_aov)
    defect[8:12, 8:12] = 2.0  # overlaps stain a
    defects = [
        {"class": "scratch", "params": {"w": 1}},
        {"class": "dent", "params": {}},
    ]
    planes = {
        AOV_STAIN_MASK: mask_aov,
        AOV_STAIN_ID: id_aov,
        AOV_DEFECT_ID: defect,
        AOV_PLATE: np.ones_like(mask_aov),
    }
    result = assemble_masks(planes, defects, CLASS_IDS)
    assert result.semantic.dtype == np.uint8 and result.instance.dtype == np.uint16
    assert np.all(result.instance[8:12, 8:12] == 2) and np.all(result.semantic[8:12, 8:12] == 3)
    listed = {i: c for i, c, _ in result.instances}
    assert listed == {2: "dent", 3: "water_stain", 4: "water_stain"}  # scratch 1 is not visible
    stain_a = result.instance[10, 5]
    assert stain_a == 3 and result.semantic[10, 5] == 4  # stain a appears first in raster order
    assert result.instance[20, 22] == 4
    assert result.valid.all()
    assert set(np.unique(result.instance)) == {0, 2, 3, 4}
