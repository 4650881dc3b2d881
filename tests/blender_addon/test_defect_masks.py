"""Defect ids from filtered AOVs: the id / coverage ratio keeps border pixels of thin defects."""

import numpy as np

from blender_addon.core.masks import resolve_defect_ids


def test_half_covered_pixel_of_id_two_is_not_read_as_id_one():
    # A thin scratch (id 2) half-covers pixels next to a bump (id 1): the pixel filter averages
    # the id AOV to 2 * 0.5 = 1.0 there, and the coverage AOV to 0.5.
    ids = np.array([[1.0, 0.0, 1.0, 2.0, 1.5]])
    coverage = np.array([[1.0, 0.0, 0.5, 1.0, 0.75]])
    np.testing.assert_array_equal(resolve_defect_ids(ids, coverage), [[1, 0, 2, 2, 2]])


def test_coverage_below_half_is_background():
    ids = np.array([[0.6, 1.2, 3.0]])
    coverage = np.array([[0.2, 0.4, 1.0]])
    np.testing.assert_array_equal(resolve_defect_ids(ids, coverage), [[0, 0, 3]])
