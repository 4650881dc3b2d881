"""The "target" domain (no bpy): renders made to differ from the training renders the way the paper's
real photographs do, as a stand-in for its unpublished real data set.

The scene is the same; what a camera adds is modelled here, drawn per plate from its own seeded stream
(`TARGET_STREAM`, so the synthetic draws of a plate keep their values) and stored in the sample's
`params["target"]`, so a sample re-renders byte for byte:

- texture parameters drawn partly outside the synthetic ranges (`target_texture`: the plate's
  synthetic draw scaled by factors around 1, so some land beyond the ranges whatever they are);
- the plate's edge and the black background in a share of views (`edge_view`: the camera moved
  towards a plate border, as the real images at the plate's border show);
- on the rendered scene-linear image (`apply_effects`): background set to black, lens blur (a
  Gaussian point spread, symmetric so nothing moves against the masks), exposure and white-balance
  jitter, sensor shot and read noise in electrons, a 12-bit ADC, then the sRGB encoding Blender's
  "Standard" view transform applies.

The noise figures are those of 5 MP global-shutter machine-vision sensors like the 2448 x 2048
Sony IMX264 (EMVA 1288 data sheets: about 10 000 e- full well, 2-3 e- temporal dark noise, 12-bit ADC).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .camera import PLATE_SIZE_MM, CameraView, view_rect_mm
from .look import TARGET_EXPOSURE_STOPS

__all__ = [
    "ADC_BITS",
    "EDGE_SHARE",
    "TARGET_STAIN_STREAM",
    "TARGET_STREAM",
    "apply_effects",
    "clip_to_plate",
    "draw_effects",
    "edge_view",
    "gaussian_blur",
    "quantize",
    "srgb_decode",
    "srgb_encode",
    "target_plate",
    "target_texture",
]

TARGET_STREAM = 4  # plate_rng stream of the target draws (0-3 are the synthetic ones)
TARGET_STAIN_STREAM = 5  # plate_rng stream of the target domain's water stains (core.target_stains)
EDGE_SHARE = 0.3  # share of views that show the plate's edge
EDGE_FRACTION = (0.1, 0.4)  # share of the image beyond the edge, when shown
ADC_BITS = 12
BLUR_SIGMA_PX = (0.5, 1.5)  # lens point spread, Gaussian sigma in image pixels
EXPOSURE_STOPS = TARGET_EXPOSURE_STOPS  # calibrated (core.look)
WHITE_BALANCE = (0.92, 1.08)  # red and blue gain against green
FULL_WELL_E = (6000.0, 12000.0)
READ_NOISE_E = (2.0, 6.0)
# factors on the plate's synthetic texture draw: wide enough that a good share leaves the ranges
_TEXTURE_FACTORS = {
    "roughness": (0.6, 2.0),
    "groove_depth": (0.7, 1.6),
    "groove_frequency": (0.8, 1.3),
    "anisotropy": (0.7, 1.4),
    "streak_contrast": (0.5, 1.8),
}
_SIDES = ("left", "right", "top", "bottom")


def target_texture(rng: np.random.Generator, texture: dict) -> tuple[dict, dict]:
    """(texture, factors): `texture` with its parameters scaled by factors drawn around 1.

    Only keys the texture has are touched, in a fixed order, so every factor is always drawn.
    """
    out = dict(texture)
    factors = {}
    for key, (low, high) in _TEXTURE_FACTORS.items():
        factor = float(rng.uniform(low, high))
        if key in out:
            factors[key] = factor
            out[key] = float(out[key]) * factor
    if "anisotropy" in out:
        out["anisotropy"] = min(out["anisotropy"], 0.95)
    turn = float(rng.normal(0.0, 2.0))
    if "direction_deg" in out:
        out["direction_deg"] = float(out["direction_deg"]) + turn
        factors["direction_turn_deg"] = turn
    return out, factors


def edge_view(
    rng: np.random.Generator, view: CameraView, resolution: tuple[int, int]
) -> tuple[CameraView, dict | None]:
    """With probability EDGE_SHARE, the view moved across one plate border so that a share of the
    image (EDGE_FRACTION) shows the background; else the view itself. Always draws the same numbers.

    A view at the plate's centre goes to a random border; a view of a grid to its nearest border, so
    the grid's other positions keep imaging the plate's inside.
    """
    show, side_index = rng.random(), int(rng.integers(0, len(_SIDES)))
    fraction = float(rng.uniform(*EDGE_FRACTION))
    if show >= EDGE_SHARE:
        return view, None
    x0, y0, x1, y1 = view_rect_mm(view, resolution)
    w, h = x1 - x0, y1 - y0
    half_x, half_y = PLATE_SIZE_MM[0] / 2, PLATE_SIZE_MM[1] / 2
    side = _SIDES[side_index]
    if tuple(view.center_mm) != (0.0, 0.0):
        gaps = {
            "left": x0 + half_x,
            "right": half_x - x1,
            "top": half_y - y1,
            "bottom": y0 + half_y,
        }
        side = min(_SIDES, key=lambda s: gaps[s])
    cx, cy = view.center_mm
    if side in ("left", "right"):
        cx = (half_x + fraction * w - w / 2) * (1 if side == "right" else -1)
    else:
        cy = (half_y + fraction * h - h / 2) * (1 if side == "top" else -1)
    return replace(view, center_mm=(float(cx), float(cy))), {"side": side, "fraction": fraction}


def clip_to_plate(rect: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The part of a plate rectangle (x0, y0, x1, y1) on the plate: defects go only there."""
    hx, hy = PLATE_SIZE_MM[0] / 2, PLATE_SIZE_MM[1] / 2
    x0, y0, x1, y1 = rect
    return (max(x0, -hx), max(y0, -hy), min(x1, hx), min(y1, hy))


def draw_effects(rng: np.random.Generator, mm_per_px: float) -> dict:
    """The camera of one view: blur, exposure, white balance, sensor; JSON-ready."""
    sigma = float(rng.uniform(*BLUR_SIGMA_PX))
    return {
        "blur_sigma_px": sigma,
        "blur_sigma_mm": sigma * mm_per_px,
        "exposure_stops": float(rng.uniform(*EXPOSURE_STOPS)),
        "white_balance": [
            float(rng.uniform(*WHITE_BALANCE)),
            1.0,
            float(rng.uniform(*WHITE_BALANCE)),
        ],
        "full_well_e": float(rng.uniform(*FULL_WELL_E)),
        "read_noise_e": float(rng.uniform(*READ_NOISE_E)),
        "adc_bits": ADC_BITS,
        "noise_seed": int(rng.integers(0, 2**31 - 1)),
    }


def target_plate(
    rng: np.random.Generator, texture: dict, views: list, resolution: tuple[int, int]
) -> tuple[dict, list, list[dict]]:
    """The target domain of one plate: its texture, its views (some at the edge), each view's effects.

    `rng` is the plate's TARGET_STREAM; each view's "target" dict holds all it changed.
    """
    texture, factors = target_texture(rng, texture)
    moved, effects = [], []
    for view in views:
        new_view, edge = edge_view(rng, view, resolution)
        fx = draw_effects(rng, view.width_mm / resolution[0])
        fx["edge"] = edge
        fx["texture_factors"] = factors
        moved.append(new_view)
        effects.append(fx)
    return texture, moved, effects


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Scene-linear [0, 1] -> sRGB-encoded [0, 1] (IEC 61966-2-1), as Blender's Standard view."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055)


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
    x = np.clip(encoded, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, np.power((x + 0.055) / 1.055, 2.4))


def gaussian_blur(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Separable Gaussian blur of (H, W[, C]), mirrored at the borders. The kernel is symmetric and
    normalised, so the blur moves no edge or centroid and keeps the mean of a flat region."""
    if sigma_px <= 0:
        return image
    radius = max(1, math.ceil(3.0 * sigma_px))
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (taps / sigma_px) ** 2)
    kernel /= kernel.sum()
    out = np.asarray(image, dtype=np.float32)
    for axis in (0, 1):
        size = out.shape[axis]
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="symmetric" if size <= radius else "reflect")

        def tap(k, size=size, axis=axis, padded=padded):  # view of the input shifted by k - radius
            index = [slice(None)] * padded.ndim
            index[axis] = slice(k, k + size)
            return padded[tuple(index)]

        acc = tap(radius) * np.float32(kernel[radius])
        pair = np.empty_like(acc)
        for k in range(radius):  # symmetric kernel: one multiply per pair of taps
            np.add(tap(k), tap(2 * radius - k), out=pair)
            pair *= np.float32(kernel[k])
            acc += pair
        out = acc
    return out


def apply_effects(linear: np.ndarray, plate: np.ndarray, effects: dict) -> np.ndarray:
    """The photograph of a rendered view: sRGB-encoded float32 (H, W, 3) in [0, 1].

    linear: the render, scene-linear RGB (H, W, 3); plate: the plate's coverage AOV (H, W), 0 on the
    background. Same inputs and effects, same output (the noise is seeded by the effects).
    """
    rgb = np.asarray(linear, dtype=np.float32)[..., :3]
    coverage = np.clip(np.asarray(plate, dtype=np.float32), 0.0, 1.0)
    rgb = rgb * coverage[..., None]  # the real background is black; blur then spills light over it
    rgb = gaussian_blur(rgb, float(effects["blur_sigma_px"]))
    gain = np.float32(2.0 ** float(effects["exposure_stops"]))
    gains = gain * np.asarray(effects["white_balance"], dtype=np.float32)
    full_well = float(effects["full_well_e"])
    electrons = np.clip(rgb * gains * np.float32(full_well), 0.0, full_well)
    # shot noise (Poisson, variance = mean: its normal approximation, exact in mean and variance)
    # and read noise, from fixed per-pixel normal draws: a clean/stained pair then gets the same
    # noise at every pixel, and stays equal outside the (blurred) stains; a Poisson sampler would
    # consume a varying count of random numbers and decorrelate the pair from the first stain on
    rng = np.random.default_rng(int(effects["noise_seed"]))
    shot = rng.standard_normal(electrons.shape, dtype=np.float32)
    read = rng.standard_normal(electrons.shape, dtype=np.float32)
    electrons = electrons + np.sqrt(electrons) * shot
    electrons += np.float32(effects["read_noise_e"]) * read
    levels = 2 ** int(effects["adc_bits"]) - 1
    counts = np.clip(np.rint(electrons * np.float32(levels / full_well)), 0, levels)
    return srgb_encode(counts / np.float32(levels)).astype(np.float32)


def quantize(encoded: np.ndarray, bits: int) -> np.ndarray:
    """[0, 1] floats -> uint8 or uint16 (rounded to nearest)."""
    if bits not in (8, 16):
        raise ValueError(f"bit depth must be 8 or 16, not {bits}")
    top = 2**bits - 1
    values = np.rint(np.clip(encoded, 0.0, 1.0) * top)
    return values.astype(np.uint8 if bits == 8 else np.uint16)
