"""The render look: the scene constants set by the render calibration, kept in one place.

They were tuned only against the paper's two baseline rows (Real: fit on target-domain nominal
plates; Synth: fit on clean synthetic plates; both evaluated on the target domain) and against the
three fields of the paper's Appendix A, then frozen before any other row was run (BENCHMARKS.md,
"Render calibration"). Every manifest records `look_record()` in its generator, so sets rendered
with another look can be told apart. Change LOOK_VERSION with any of them.
"""

from __future__ import annotations

__all__ = [
    "BUMP_HEIGHT_MM",
    "EMISSION_GLOW",
    "HALL_RADIANCE",
    "HALL_ZENITH_DEG",
    "LIGHT_RADII",
    "LIGHT_STRENGTH",
    "LINE_WIDTH",
    "LOOK_VERSION",
    "ROUGHNESS",
    "STAIN_FILM_COVER",
    "STAIN_RESIDUE_GREY",
    "STAIN_RIM_COVER",
    "TARGET_EXPOSURE_STOPS",
    "TARGET_STAINS",
    "look_record",
]

# 1: an evenly shining band of 0.05-0.11 camera distances at strength 2.5, roughness 0.02-0.06, the
#    camera 0.25 m away whatever the view, target stains drawn by Algorithm 1 like the synthetic ones,
#    bumps 0.03-0.1 mm high, target exposure -0.3..+0.5 stops
# 2: rendered inside Blender's startup scene (its 2 m grey cube enclosed plate, camera and light), bumps
#    0.08-0.25 mm, target stains' rim cover 0.5-0.85 and film 0.05-0.2, no hall light
# 3: target stains' rim cover 0.7-0.95 and film 0.1-0.3 (every stain about equally dense)
LOOK_VERSION = 4
LIGHT_STRENGTH = 6.0  # peak emission, along the band's middle
LIGHT_RADII = (0.04, 0.14)  # the band's inner, outer circumradius per metre of camera distance
EMISSION_GLOW = 0.14  # the band's even glow, relative to its peak
LINE_WIDTH = 0.05  # Gaussian width of the bright line along the band's middle, share of its width
ROUGHNESS = (0.03, 0.09)  # the plate's base roughness, drawn per plate
TARGET_STAINS = "residue films 1"  # the target domain's stain model (core.target_stains)
# The hall around the plate, seen only off the plate's normal: the world is dark (the camera and its
# light's housing) within the first angle from the zenith, rising to the radiance beyond the second.
# The metal's mirror reflection stays in the dark cone (its three fields keep their shares), while
# diffuse labels and the walls of dents and scratches get the light a real hall gives them.
HALL_ZENITH_DEG = (20.0, 40.0)
HALL_RADIANCE = (0.02, 0.8)  # linear, inside the dark cone and beyond the ramp
# set against the Real row (BENCHMARKS.md, "Render calibration", rounds 2, 5 and 8)
BUMP_HEIGHT_MM = (0.2, 0.5)  # default bump heights: the shadows a camera sees in them
TARGET_EXPOSURE_STOPS = (-0.6, 0.2)  # the target domain's exposure jitter
# target stains range from faint to dense, as the paper's: found less often, covered more when found
STAIN_RIM_COVER = (0.45, 0.95)  # target stains: residue cover at the rim,
STAIN_FILM_COVER = (0.05, 0.35)  # of the interior film,
STAIN_RESIDUE_GREY = (0.1, 0.25)  # and the residue's linear grey


def look_record() -> dict:
    """The look as JSON, for the manifest's generator."""
    return {
        "version": LOOK_VERSION,
        "light_strength": LIGHT_STRENGTH,
        "light_radii": list(LIGHT_RADII),
        "emission_glow": EMISSION_GLOW,
        "line_width": LINE_WIDTH,
        "roughness": list(ROUGHNESS),
        "scene": "a scene of its own (no startup objects)",
        "hall_zenith_deg": list(HALL_ZENITH_DEG),
        "hall_radiance": list(HALL_RADIANCE),
        "camera_distance": "follows the view width (0.25 m at 40 mm)",
        "target_stains": TARGET_STAINS,
        "bump_height_mm": list(BUMP_HEIGHT_MM),
        "target_exposure_stops": list(TARGET_EXPOSURE_STOPS),
        "stain_rim_cover": list(STAIN_RIM_COVER),
        "stain_film_cover": list(STAIN_FILM_COVER),
        "stain_residue_grey": list(STAIN_RESIDUE_GREY),
    }
