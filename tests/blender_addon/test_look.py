"""The calibrated render look: one record, used by the scene and written into every manifest."""

import json

from blender_addon.core import lights, look
from blender_addon.core.render_plan import Shard, generator_info
from blender_addon.core.sample_spec import DatasetSettings, plate_rng, sample_texture


def test_the_manifest_records_the_look_it_was_rendered_with():
    info = generator_info(DatasetSettings(), "0.1.0", "5.0.1", Shard(1, 1), "0" * 16)
    record = json.loads(json.dumps(info))["look"]
    assert record == look.look_record()
    assert (
        record["version"] == look.LOOK_VERSION and record["light_strength"] == look.LIGHT_STRENGTH
    )


def test_the_scene_uses_the_looks_constants():
    assert lights.LIGHT_RADII == look.LIGHT_RADII
    assert lights.emission_profile(0.0) == lights.emission_profile(1.0)
    assert abs(lights.emission_profile(0.0) - look.EMISSION_GLOW) < 1e-9
    draws = [sample_texture(plate_rng(0, k, 0))["roughness"] for k in range(200)]
    low, high = look.ROUGHNESS
    assert low <= min(draws) and max(draws) <= high and max(draws) - min(draws) > 0.8 * (high - low)
