"""Dataset planning without Blender: ids, pairs, shards, reproducible specs, camera geometry."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from blender_addon.core.camera import CameraView, grid_centers_mm, pixel_centers_mm, view_rect_mm
from blender_addon.core.errors import RenderSetupError
from blender_addon.core.render_plan import Shard, plan_ids, plan_samples
from blender_addon.core.sample_spec import DatasetSettings, SampleSpec

RENDER_PY = Path(__file__).resolve().parents[2] / "blender_addon" / "render.py"


def test_paired_plan_pairs_clean_and_stained_with_identical_texture_and_seed():
    plan = plan_samples(DatasetSettings(count=3, variant="paired"))
    assert [p.sample_id for p in plan][:2] == ["000000_clean", "000000_stained"]
    for clean, stained in zip(plan[0::2], plan[1::2], strict=True):
        assert clean.pair == stained.pair and clean.variant == "clean"
        assert clean.spec.texture == stained.spec.texture
        assert clean.spec.sampling_seed == stained.spec.sampling_seed
        assert clean.spec.stain is None and stained.spec.stain is not None
    assert len({p.spec.sampling_seed for p in plan}) == 3


def test_shards_partition_plates_and_keep_pairs_together():
    settings = DatasetSettings(count=7, variant="paired")
    full = {p.sample_id: p.spec for p in plan_samples(settings)}
    parts = [plan_samples(settings, Shard(i, 3)) for i in (1, 2, 3)]
    ids = [p.sample_id for part in parts for p in part]
    assert sorted(ids) == sorted(full) and len(ids) == len(set(ids))
    for part in parts:
        assert all(full[p.sample_id] == p.spec for p in part)  # same spec whichever shard
        assert len({p.pair for p in part}) * 2 == len(part)
    assert plan_ids(json.loads(json.dumps(settings.to_dict())), Shard(2, 3)) == [
        p.sample_id for p in parts[1]
    ]


def test_spec_round_trips_through_manifest_params():
    spec = plan_samples(DatasetSettings(count=1, variant="stained"))[0].spec
    params = json.loads(json.dumps(spec.to_params()))
    assert SampleSpec.from_params(params) == spec


def test_grid_views_share_the_plate_and_cover_it():
    settings = DatasetSettings(count=1, variant="stained", grid=(4, 3))
    plan = plan_samples(settings)
    assert len(plan) == 12 and plan[0].sample_id == "000000_v00"
    assert len({json.dumps(p.spec.texture, sort_keys=True) for p in plan}) == 1
    centers = grid_centers_mm(4, 3)
    assert centers[0] == (-37.5, 40.0) and centers[-1] == (37.5, -40.0)


def test_view_rect_and_pixel_centres_follow_the_image_convention():
    view = CameraView(center_mm=(5.0, -2.0), width_mm=40.0)
    x0, y0, x1, y1 = view_rect_mm(view, (200, 100))
    assert (x0, x1) == (-15.0, 25.0) and (y0, y1) == (-12.0, 8.0)
    xs, ys = pixel_centers_mm(view, (200, 100))
    assert xs.shape == (100, 200)
    assert xs[0, 0] == pytest.approx(-15.0 + 0.1) and ys[0, 0] == pytest.approx(8.0 - 0.1)
    assert np.all(np.diff(ys[:, 0]) < 0)  # row 0 is the top (largest Y)


def test_bad_settings_and_shards_are_clear_errors():
    with pytest.raises(ValueError, match="light"):
        DatasetSettings(lights=("spot",))
    with pytest.raises(RenderSetupError, match="I/N"):
        Shard.parse("two")
    with pytest.raises(RenderSetupError, match="1 <= I <= N"):
        Shard.parse("3/2")


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--out", "x", "--light", "spot"], "--light"),
        (["--out", "x", "--count", "0"], "--count"),
        (["--count", "2"], "--out"),
        (["--out", "x", "--impurities", "water_stain,mud"], "mud"),
        (["--out", "x", "--variant", "dirty"], "--variant"),
        (["--", "--out", "x", "--count", "0"], "--count"),  # blender -b -P render.py -- ARGS
        (["--out", "x", "--preset", "demo-val", "--variant", "paired"], "stained or clean"),
        (["--out", "x", "--defects", "3-1"], "--defects"),
    ],
)
def test_render_py_bad_options_exit_nonzero_with_one_line(args, needle):
    proc = subprocess.run([sys.executable, str(RENDER_PY), *args], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("render.py: error:") and needle in lines[0]


def test_each_purpose_draws_from_its_own_plate_stream():
    from blender_addon.core import sample_spec
    from blender_addon.core.target_domain import TARGET_STREAM

    streams = (sample_spec.TEXTURE_STREAM, sample_spec.STAIN_STREAM, sample_spec.INSTANCE_STREAM,
               sample_spec.LIGHT_STREAM, TARGET_STREAM)  # fmt: skip
    assert sorted(streams) == list(range(5))  # the numbers every rendered manifest was drawn with
