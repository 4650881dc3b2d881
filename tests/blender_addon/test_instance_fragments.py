"""Touching water stains: every stain pixel carries the id of one real stain, no blended fragments.

Cycles averages the id AOV over a pixel's samples, so where two stains touch a pixel holds a blend
p * a + (1 - p) * b of their ids. Read as an id, such blends made extra one- or two-pixel instances.
"""

import numpy as np
import pytest

from blender_addon.core.masks import (
    AOV_PLATE,
    AOV_STAIN_ID,
    AOV_STAIN_MASK,
    assemble_masks,
    resolve_stain_ids,
)

CLASS_IDS = {"water_stain": 4}
MIN_STAIN_PX = 6  # smallest water-stain instance allowed away from the image border (see below)


def _box(fine: np.ndarray, factor: int) -> np.ndarray:
    h, w = fine.shape[0] // factor, fine.shape[1] // factor
    return fine.reshape(h, factor, w, factor).mean(axis=(1, 3))


def _border_ids(instance: np.ndarray) -> set:
    return set(
        np.unique(np.concatenate([instance[0], instance[-1], instance[:, 0], instance[:, -1]]))
    )


def test_blend_of_two_ids_is_never_read_as_a_third_stain():
    # stains a | b share a slanted border; c lies far away with an id between a's and b's, so the
    # blend of a and b at 50 % is nearer c than either (the old snapping turned it into c)
    fine = 8
    yy, xx = np.mgrid[0 : 24 * fine, 0 : 40 * fine] / fine
    disc_ab = (xx - 12) ** 2 + (yy - 12) ** 2 < 9.0**2
    a = disc_ab & (xx < 12 + 0.3 * (yy - 12))
    b = disc_ab & ~a
    c = (xx - 32) ** 2 + (yy - 12) ** 2 < 4.0**2
    ids = np.select([a, b, c], [0.2, 0.8, 0.5], 0.0)
    mask = (a | b | c).astype(float)
    resolved = resolve_stain_ids(_box(mask, fine), _box(mask * ids, fine))
    assert set(np.unique(resolved)) == {0.0, 0.2, 0.5, 0.8}
    cov_a, cov_b = _box(a.astype(float), fine), _box(b.astype(float), fine)
    inside = _box(mask, fine) >= 0.5
    # the larger share decides (ties may go either way)
    assert np.all(resolved[inside & (cov_a > cov_b)] == 0.2)
    assert np.all(resolved[inside & (cov_b > cov_a)] == 0.8)
    near_c = _box(c.astype(float), fine) > 0
    assert not np.any((resolved == 0.5) & ~near_c)


@pytest.mark.blender
@pytest.mark.slow
def test_touching_stains_render_without_fragments(fresh_bpy, tmp_path):
    from blender_addon.core.camera import CameraView
    from blender_addon.core.sample_spec import SampleSpec, sample_texture
    from blender_addon.core.water_stain import StainParams
    from blender_addon.scene.render_sample import render_spec

    # r / G = 0.62: neighbouring stains reach their Voronoi border, so most stains touch another
    stain = StainParams(
        radius=0.0025, frequency=300.0, amplitude=0.00075, cell_size=0.004, jitter=1.0, seed=3
    )
    spec = SampleSpec(
        texture=sample_texture(np.random.default_rng(3)),
        light="hex",
        camera=CameraView(width_mm=40.0),
        resolution=(96, 80),
        samples=8,
        sampling_seed=5,
        stain=stain,
    )
    rendered = render_spec(spec, tmp_path / "spp8")
    result = assemble_masks(rendered.planes, [], CLASS_IDS)
    instance = result.instance
    sizes = np.bincount(instance.ravel())
    listed = {k: p["stain_id"] for k, c, p in result.instances}
    assert len(listed) >= 40  # many stains, most of them touching a neighbour

    # the real ids: at one sample per pixel an AOV is one point's value, never a blend
    real = set()
    for seed in range(8):
        single = render_spec(
            SampleSpec(**{**spec.__dict__, "samples": 1, "sampling_seed": 100 + seed}),
            tmp_path / f"spp1_{seed}",
        ).planes
        full = single[AOV_STAIN_MASK] > 0.5
        real |= set(np.round(single[AOV_STAIN_ID][full] / single[AOV_STAIN_MASK][full], 5))
    real_ids = np.array(sorted(real))
    for k, value in listed.items():
        assert np.min(np.abs(real_ids - value)) <= 2e-5, f"instance {k}: id {value} is a blend"

    # no fragments: small instances only where the image border cuts a stain
    border = _border_ids(instance)
    small = [k for k in listed if sizes[k] < MIN_STAIN_PX and k not in border]
    assert not small, f"instances {small} have {[int(sizes[k]) for k in small]} px"
    assert result.valid.all() and AOV_PLATE in rendered.planes
