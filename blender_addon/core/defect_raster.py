"""Rasterise defect/impurity instances into the arrays of a `SurfaceLayer` (vectorised numpy).

Each class renders inside the bounding box of its footprint only; per class, a function maps
plate coordinates (mm) to height (mm, + raised), residue/label albedo with coverage alpha, an
additive roughness change and the instance's support (its mask: every pixel the instance alters).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .defect_params import (
    BumpParams,
    DentParams,
    FingerprintParams,
    InstanceSpec,
    ResidueStainParams,
    ScratchParams,
    StickerParams,
)

__all__ = [
    "SurfaceLayer",
    "bezier_points",
    "footprint",
    "rasterize",
    "scratch_polyline",
    "scratch_profile",
]


@dataclass
class SurfaceLayer:
    """Defect/impurity arrays over `extent_mm` (the view rectangle plus a margin).

    Pixel (row, col) has its centre at ``(x0 + (col + 0.5) / px_per_mm, y0 + (row + 0.5) / px_per_mm)``
    with ``(x0, y0, x1, y1) = extent_mm``: row 0 is the MIN y edge, the order of Blender image
    pixels, so the arrays upload without flipping. ``instance`` holds 1-based indices into the
    instance list it was rasterised from (0 = none); ``class_names[i - 1]`` is the class of index i.
    """

    view_rect_mm: tuple
    px_per_mm: float
    extent_mm: tuple
    height: np.ndarray  # (H, W) float32, mm, + = raised
    albedo: (
        np.ndarray
    )  # (H, W, 4) float32 linear RGB + coverage alpha (straight, not premultiplied)
    roughness: np.ndarray  # (H, W) float32 additive roughness change
    instance: np.ndarray  # (H, W) uint16
    class_names: tuple

    @property
    def shape(self) -> tuple:
        return self.height.shape

    def pixel_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """x (W,) and y (H,) coordinates of the pixel centres in mm."""
        x0, y0, _, _ = self.extent_mm
        h, w = self.shape
        return (
            x0 + (np.arange(w) + 0.5) / self.px_per_mm,
            y0 + (np.arange(h) + 0.5) / self.px_per_mm,
        )


def bezier_points(points: np.ndarray, t: np.ndarray) -> np.ndarray:
    t = t[:, None]
    return (
        (1 - t) ** 3 * points[0]
        + 3 * (1 - t) ** 2 * t * points[1]
        + 3 * (1 - t) * t**2 * points[2]
        + t**3 * points[3]
    )


def scratch_polyline(params: ScratchParams, step_mm: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Points (N, 2) along the scratch and their arc-length fraction (N,) in [0, 1]."""
    points = np.asarray(params.control_points_mm, dtype=np.float64)
    count = max(64, int(np.ceil(params.length_mm / step_mm)) + 1)
    dense = bezier_points(points, np.linspace(0.0, 1.0, 4 * count))
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))])
    # Resample at equal arc length so widths vary with distance along the scratch, not Bezier t.
    fraction = np.linspace(0.0, 1.0, count)
    target = fraction * arc[-1]
    xy = np.stack(
        [np.interp(target, arc, dense[:, 0]), np.interp(target, arc, dense[:, 1])], axis=1
    )
    return xy, fraction


def scratch_profile(params: ScratchParams, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Width (mm) and depth (mm) at arc fractions `t`, including the taper to zero at both ends."""
    taper = np.sqrt(np.clip(np.minimum(t, 1.0 - t) / 0.06, 0.0, 1.0))
    wave_w = 0.5 + 0.5 * np.sin(2 * np.pi * params.width_freq * t + params.width_phase)
    wave_d = 0.5 + 0.5 * np.sin(2 * np.pi * params.depth_freq * t + params.depth_phase)
    (w0, w1), (d0, d1) = params.width_mm, params.depth_mm
    return (w0 + (w1 - w0) * wave_w) * taper, (d0 + (d1 - d0) * wave_d) * taper


_BURR_REACH = 0.3  # burr zone outside the groove, as a fraction of the local half-width


def footprint(spec: InstanceSpec) -> np.ndarray:
    """Discs (N, 3) of x, y, r in mm whose union covers every pixel the instance can alter."""
    p = spec.params
    if isinstance(p, ScratchParams):
        xy, _ = scratch_polyline(p, step_mm=max(p.length_mm / 63, 0.05))
        spacing = p.length_mm / (len(xy) - 1)
        radius = 0.5 * p.width_mm[1] * (1 + _BURR_REACH) + 0.5 * spacing
        return np.column_stack([xy, np.full(len(xy), radius)])
    if isinstance(p, StickerParams):
        width, height = p.size_mm
        cells_u = int(np.ceil(12 * width / max(width, height)))
        cells_v = int(np.ceil(12 * height / max(width, height)))
        du, dv = width / cells_u, height / cells_v
        us = -width / 2 + du * (np.arange(cells_u) + 0.5)
        vs = -height / 2 + dv * (np.arange(cells_v) + 0.5)
        u, v = (a.ravel() for a in np.meshgrid(us, vs))
        radius = 0.5 * np.hypot(du, dv) * 1.001  # discs circumscribe the grid cells
    else:
        if isinstance(p, FingerprintParams):
            a = p.size_mm / 2
        elif isinstance(p, ResidueStainParams):
            a = p.radius_mm * (1 + np.sum(np.abs(p.wobble[::2])))
        elif isinstance(p, BumpParams):
            a2, ph2, a3, ph3 = p.wobble
            theta = np.linspace(0, 2 * np.pi, 721)
            # Largest outline scale over the angle, plus the worst sampling error between samples.
            bulge = np.max(a2 * np.cos(2 * theta + ph2) + a3 * np.cos(3 * theta + ph3))
            a = p.radius_mm * (1 + max(bulge, 0.0) + (2 * a2 + 3 * a3) * np.pi / 720)
        else:
            a = p.radius_mm
        u, radius = _ellipse_cover(a, a * p.aspect)
        v = np.zeros_like(u)
    cos, sin = np.cos(p.angle), np.sin(p.angle)
    x = p.center_mm[0] + cos * u - sin * v
    y = p.center_mm[1] + sin * u + cos * v
    return np.column_stack([x, y, np.broadcast_to(radius, x.shape)])


def _ellipse_cover(a: float, b: float, count: int = 17) -> tuple[np.ndarray, np.ndarray]:
    """Centres on the major axis and radii of discs whose union covers the ellipse (a >= b).

    The ellipse is the envelope of the discs centred at t, |t| <= c^2 / a (c^2 = a^2 - b^2), with
    radius b sqrt(1 - t^2 / c^2); sampled, each disc takes the largest radius of its interval
    plus half the spacing, so the union still covers it.
    """
    c2 = a * a - b * b
    if c2 <= 1e-9:
        return np.zeros(1), np.array([a])
    end = c2 / a
    centres = np.linspace(-end, end, count)
    half_step = end / (count - 1)
    nearest_to_middle = np.maximum(np.abs(centres) - half_step, 0.0)
    radii = b * np.sqrt(np.clip(1 - nearest_to_middle**2 / c2, 0.0, 1.0)) + half_step
    return centres, radii


def _local(params, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates in the instance's rotated frame (u along its angle)."""
    dx, dy = x - params.center_mm[0], y - params.center_mm[1]
    cos, sin = np.cos(params.angle), np.sin(params.angle)
    return cos * dx + sin * dy, -sin * dx + cos * dy


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _blank(shape) -> dict:
    """A class's raster: height always; "rgb" (3,) colour per pixel or constant, "alpha" and
    "roughness" only when the class changes them."""
    return {"height": np.zeros(shape)}


def _nearest_on_polyline(xy, frac, xs, ys, reach: float) -> tuple[np.ndarray, np.ndarray]:
    """Distance to the polyline and arc fraction of the nearest point, per pixel of the grid xs x ys.

    Batched segment distances over (segment, pixel) pairs: only the fixed-size pixel box around
    each segment (its length plus `reach` on every side) is visited, then a per-pixel minimum is
    taken by sorting. Pixels farther than `reach` from the line get an infinite distance.
    """
    a, b = xy[:-1], xy[1:]
    ab = b - a
    ab_len2 = np.maximum((ab**2).sum(axis=1), 1e-12)
    step = xs[1] - xs[0] if len(xs) > 1 else 1.0
    box = int(np.ceil((np.sqrt(ab_len2.max()) + 2 * reach) / step)) + 2
    corner = np.minimum(a, b) - reach
    col0 = np.floor((corner[:, 0] - xs[0]) / step).astype(int)
    row0 = np.floor((corner[:, 1] - ys[0]) / step).astype(int)
    offsets = np.arange(box)
    cols = col0[:, None, None] + offsets[None, None, :]  # (S, 1, B)
    rows = row0[:, None, None] + offsets[None, :, None]  # (S, B, 1)
    px = xs[0] + cols * step
    py = ys[0] + rows * step
    qx, qy = px - a[:, 0, None, None], py - a[:, 1, None, None]  # (S, B, B)
    proj = np.clip(
        (qx * ab[:, 0, None, None] + qy * ab[:, 1, None, None]) / ab_len2[:, None, None], 0, 1
    )
    d2 = (qx - proj * ab[:, 0, None, None]) ** 2 + (qy - proj * ab[:, 1, None, None]) ** 2
    seg = np.broadcast_to(np.arange(len(a))[:, None, None], d2.shape)
    rows, cols = np.broadcast_to(rows, d2.shape), np.broadcast_to(cols, d2.shape)
    keep = (rows >= 0) & (rows < len(ys)) & (cols >= 0) & (cols < len(xs)) & (d2 <= reach * reach)
    flat = (rows * len(xs) + cols)[keep]
    d2, proj, seg = d2[keep], proj[keep], seg[keep]
    order = np.lexsort((d2, flat))  # per pixel, nearest segment first
    first = order[np.unique(flat[order], return_index=True)[1]]
    dist = np.full(len(ys) * len(xs), np.inf)
    t = np.zeros(len(ys) * len(xs))
    dist[flat[first]] = np.sqrt(d2[first])
    k = seg[first]
    t[flat[first]] = frac[k] + proj[first] * (frac[k + 1] - frac[k])
    return dist, t


def _raster_scratch(p: ScratchParams, x, y, min_mask_mm: float = 0.0) -> dict:
    xy, frac = scratch_polyline(p)
    reach = max(0.5 * p.width_mm[1] * (1 + _BURR_REACH), 0.5 * min_mask_mm) + 1e-6
    dist, t = _nearest_on_polyline(xy, frac, x[0, :], y[:, 0], reach)
    width, depth = scratch_profile(p, t)
    half = 0.5 * width
    # Normalised distance to the centre line; capped so zero-width ends give no inf * 0.
    u = np.minimum(np.divide(dist, half, out=np.full_like(dist, 10.0), where=half > 1e-6), 10.0)
    groove = (1 - u) if p.profile == "V" else (1 - u * u)
    height = np.where(u < 1, -depth * groove, 0.0)
    burr_zone = (u >= 1) & (u < 1 + _BURR_REACH)
    burr = p.burr * depth * np.sin(np.pi * (u - 1) / _BURR_REACH)
    height = np.where(burr_zone, burr, height)
    out = _blank(x.shape)
    out["height"] = height.reshape(x.shape)
    reach = 1 + _BURR_REACH if p.burr > 0 else 1.0
    # A groove narrower than a pixel still shows (a thin bright/dark line): its mask keeps at least
    # `min_mask_mm` of width along the whole curve so the render's coverage test keeps it.
    out["support"] = ((u < reach) | (dist < 0.5 * min_mask_mm)).reshape(x.shape)
    return out


def _elliptic_radius(params, x, y, radius: float) -> tuple[np.ndarray, np.ndarray]:
    u, v = _local(params, x, y)
    a, b = radius, radius * params.aspect
    return np.hypot(u / a, v / b), np.arctan2(v / b, u / a)


def _raster_bump(p: BumpParams, x, y) -> dict:
    s, theta = _elliptic_radius(p, x, y, p.radius_mm)
    a2, ph2, a3, ph3 = p.wobble
    s = s / (1 + a2 * np.cos(2 * theta + ph2) + a3 * np.cos(3 * theta + ph3))
    out = _blank(x.shape)
    out["height"] = np.where(s < 1, p.height_mm * np.clip(1 - s * s, 0, 1) ** 3, 0.0)
    out["support"] = s < 1
    return out


def _raster_dent(p: DentParams, x, y) -> dict:
    s, theta = _elliptic_radius(p, x, y, p.radius_mm)
    floor = 1 - _smoothstep(0.55, 0.75, s)  # 1 on the floor, steep wall to 0 at s = 0.75
    rim = np.where((s > 0.7) & (s < 1), np.sin(np.pi * np.clip((s - 0.7) / 0.3, 0, 1)) ** 2, 0.0)
    inner = 0.5 * np.cos(2 * np.pi * p.ripple_count * s / 0.55 + p.phase) + 0.5 * np.cos(
        p.crease_count * theta + p.phase
    )
    window = 1 - _smoothstep(0.3, 0.55, s)
    relief = -floor + p.rim * rim + p.pattern * inner * window
    out = _blank(x.shape)
    out["height"] = np.where(s < 1, p.depth_mm * relief, 0.0)
    out["support"] = s < 1
    return out


def _ridge_filter(rho: np.ndarray, spacing_mm: float, x, y, pixel_mm: float) -> np.ndarray:
    """How much of the ridge pattern cos(2 pi rho / spacing) an image of `pixel_mm` pixels can show.

    The local ridge period is spacing / |grad rho| (warps and the whorl shorten it). Ridges of 2-4
    image pixels per period alias into false whorls and moire and make a faint film look like a
    print (0.4-0.55 mm ridges at 0.13 mm/px did), so they fade out between 6 and 3 pixels per
    period, leaving the smudge (the pattern's mean); the pure cosine has no harmonics that could alias.
    """
    if min(rho.shape) < 2:
        return np.ones_like(rho)
    gy, gx = np.gradient(rho, y[1, 0] - y[0, 0], x[0, 1] - x[0, 0])
    period = spacing_mm / np.maximum(np.hypot(gx, gy), 1e-9)
    return _smoothstep(3.0 * pixel_mm, 6.0 * pixel_mm, period)


def _raster_fingerprint(p: FingerprintParams, x, y, pixel_mm: float = 0.0) -> dict:
    u, v = _local(p, x, y)
    a = p.size_mm / 2
    b = a * p.aspect
    s = np.hypot(u / a, v / b)
    wave_rng = np.random.default_rng(p.seed)
    # Ridges: rings of a milder ellipse, wound into a whorl (+theta term) and warped by a few
    # long waves, so they neither repeat nor look like a target.
    rho = np.hypot(u, v / np.sqrt(p.aspect)) + p.ridge_spacing_mm * np.arctan2(v, u) / (2 * np.pi)
    for _ in range(3):
        k = 2 * np.pi / wave_rng.uniform(3.0, 8.0)
        phi = wave_rng.uniform(0, 2 * np.pi)
        direction = wave_rng.uniform(0, 2 * np.pi)
        rho = rho + wave_rng.uniform(0.2, 0.6) * np.sin(
            k * (np.cos(direction) * u + np.sin(direction) * v) + phi
        )
    detail = _ridge_filter(rho, p.ridge_spacing_mm, x, y, pixel_mm)
    ridge = 0.5 + 0.5 * detail * np.cos(2 * np.pi * rho / p.ridge_spacing_mm)
    patch = np.zeros_like(u)
    for _ in range(4):
        k = 2 * np.pi / wave_rng.uniform(2.0, 6.0)
        direction = wave_rng.uniform(0, 2 * np.pi)
        patch += np.sin(
            k * (np.cos(direction) * u + np.sin(direction) * v) + wave_rng.uniform(0, 6.3)
        )
    patch = np.clip(0.75 + 0.35 * patch, 0.0, 1.0)
    envelope = 1 - _smoothstep(0.55, 1.0, s)
    cover = np.where(s < 1, ridge * patch * envelope, 0.0)
    out = _blank(x.shape)
    out["height"] = p.height_mm * cover
    out["alpha"] = p.residue * cover
    out["rgb"] = np.asarray(p.residue_color, dtype=np.float64)
    out["roughness"] = p.roughness_delta * cover
    out["support"] = s < 1
    return out


def residue_outline(p: ResidueStainParams, theta: np.ndarray) -> np.ndarray:
    """Outline radius in the normalised elliptic radius, per polar angle."""
    radius = np.ones_like(theta)
    for k, (amp, phase) in enumerate(zip(p.wobble[::2], p.wobble[1::2], strict=True), start=2):
        radius = radius + amp * np.cos(k * theta + phase)
    return radius


def _raster_residue_stain(p: ResidueStainParams, x, y) -> dict:
    u, v = _local(p, x, y)
    theta = np.arctan2(v / p.aspect, u)
    rho = np.hypot(u, v / p.aspect) / (p.radius_mm * residue_outline(p, theta))
    inside = rho < 1
    mean, variation, phase = p.rim_width
    width = np.maximum(mean * (1 + variation * np.cos(3 * theta + phase)), 0.02)
    cover = p.rim_alpha * np.exp(-(((1 - rho) / width) ** 2))
    for radius, ring_width, alpha in p.rings:
        cover = cover + alpha * np.exp(-(((rho - radius) / ring_width) ** 2))
    rng = np.random.default_rng(p.seed)
    patch = np.zeros_like(u)
    for _ in range(5):  # patchy film: a few plane waves of 0.3-1 radius wavelength
        k = 2 * np.pi / (p.radius_mm * rng.uniform(0.3, 1.0))
        direction = rng.uniform(0, 2 * np.pi)
        patch += np.sin(k * (np.cos(direction) * u + np.sin(direction) * v) + rng.uniform(0, 6.3))
    cover = cover + p.film_alpha * np.clip(1.0 + 0.5 * patch, 0.0, 2.0)
    cover = np.where(inside, np.clip(cover, 0.0, 0.9), 0.0)
    out = _blank(x.shape)
    out["alpha"] = cover
    out["rgb"] = np.asarray(p.residue_color, dtype=np.float64)
    out["roughness"] = p.roughness_delta * cover
    out["support"] = inside
    return out


# Segments a..g of a 7-segment digit, lit per digit.
_SEGMENTS = {
    "0": "abcdef",
    "1": "bc",
    "2": "abdeg",
    "3": "abcdg",
    "4": "bcfg",
    "5": "acdfg",
    "6": "acdefg",
    "7": "abc",
    "8": "abcdefg",
    "9": "abcdfg",
}


def _segment_mask(u, v, lit: str, height: float, width: float) -> np.ndarray:
    """Ink of one 7-segment digit centred at the origin, `height` tall."""
    t = 0.16 * height
    hw, hh = width / 2, height / 2
    boxes = {
        "a": (-hw, hw, hh - t, hh),
        "b": (hw - t, hw, 0, hh),
        "c": (hw - t, hw, -hh, 0),
        "d": (-hw, hw, -hh, -hh + t),
        "e": (-hw, -hw + t, -hh, 0),
        "f": (-hw, -hw + t, 0, hh),
        "g": (-hw, hw, -t / 2, t / 2),
    }
    ink = np.zeros(u.shape, dtype=bool)
    for name in lit:
        u0, u1, v0, v1 = boxes[name]
        ink |= (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)
    return ink


def _raster_sticker(p: StickerParams, x, y) -> dict:
    u, v = _local(p, x, y)
    width, height = p.size_mm
    label = (np.abs(u) <= width / 2) & (np.abs(v) <= height / 2)
    digits = str(p.number)
    digit_h = 0.5 * height
    digit_w = 0.55 * digit_h
    pitch = 1.35 * digit_w
    scale = min(1.0, 0.8 * width / (pitch * len(digits)))
    digit_h, digit_w, pitch = digit_h * scale, digit_w * scale, pitch * scale
    ink = np.zeros(u.shape, dtype=bool)
    for i, char in enumerate(digits):
        centre = (i - (len(digits) - 1) / 2) * pitch
        ink |= _segment_mask(u - centre, v, _SEGMENTS[char], digit_h, digit_w)
    relief = np.full(u.shape, p.thickness_mm)
    for bu, bv, radius, lift in p.bubbles:  # air pockets: smooth domes on the label
        r2 = ((u - bu) ** 2 + (v - bv) ** 2) / radius**2
        relief += lift * np.clip(1 - r2, 0.0, 1.0) ** 2
    out = _blank(x.shape)
    out["height"] = np.where(label, relief, 0.0)
    out["rgb"] = np.where((ink & label)[..., None], p.ink_color, p.paper_color)
    out["alpha"] = label.astype(np.float64)
    out["support"] = label
    return out


_RASTER = {
    ScratchParams: _raster_scratch,
    BumpParams: _raster_bump,
    DentParams: _raster_dent,
    FingerprintParams: _raster_fingerprint,
    StickerParams: _raster_sticker,
    ResidueStainParams: _raster_residue_stain,
}


def rasterize(
    instances,
    view_rect_mm,
    px_per_mm: float,
    margin_mm: float = 0.5,
    min_mask_mm: float | None = None,
    image_px_per_mm: float | None = None,
) -> SurfaceLayer:
    """The surface layer of `instances` over `view_rect_mm` (x0, y0, x1, y1) plus `margin_mm`.

    Thin scratches get a mask at least `min_mask_mm` wide (default: 3 layer pixels, 1.5 image
    pixels at the usual 2x oversampling), wider than the groove itself where it is thinner.

    Heights and roughness changes add up; albedo composites in list order (later on top);
    where supports overlap the later instance owns the pixel in `instance`.

    `image_px_per_mm` is the rendered image's resolution (default: the layer's): fingerprint ridges
    finer than about 3-6 image pixels per period fade out, so they cannot alias.
    """
    vx0, vy0, vx1, vy1 = (float(v) for v in view_rect_mm)
    if not (vx1 > vx0 and vy1 > vy0 and px_per_mm > 0):
        raise ValueError(f"rasterize: empty view rectangle {view_rect_mm} or px_per_mm {px_per_mm}")
    min_mask_mm = 3.0 / px_per_mm if min_mask_mm is None else float(min_mask_mm)
    x0, y0 = vx0 - margin_mm, vy0 - margin_mm
    w = int(np.ceil((vx1 - vx0 + 2 * margin_mm) * px_per_mm))
    h = int(np.ceil((vy1 - vy0 + 2 * margin_mm) * px_per_mm))
    extent = (x0, y0, x0 + w / px_per_mm, y0 + h / px_per_mm)
    # float32 accumulators: a full-sensor layer is ~20 Mpx.
    height = np.zeros((h, w), np.float32)
    albedo = np.zeros((h, w, 4), np.float32)  # premultiplied RGB + alpha until the end
    roughness = np.zeros((h, w), np.float32)
    instance = np.zeros((h, w), dtype=np.uint16)
    xs = x0 + (np.arange(w) + 0.5) / px_per_mm
    ys = y0 + (np.arange(h) + 0.5) / px_per_mm
    for index, spec in enumerate(instances, start=1):
        discs = footprint(spec)
        pad = discs[:, 2:] + min_mask_mm  # thin-scratch masks may reach past the footprint
        lo = discs[:, :2] - pad
        hi = discs[:, :2] + pad
        c0, c1 = np.searchsorted(xs, lo[:, 0].min()), np.searchsorted(xs, hi[:, 0].max())
        r0, r1 = np.searchsorted(ys, lo[:, 1].min()), np.searchsorted(ys, hi[:, 1].max())
        if c1 <= c0 or r1 <= r0:
            continue  # entirely outside the layer
        gx, gy = np.meshgrid(xs[c0:c1], ys[r0:r1])
        if isinstance(spec.params, ScratchParams):
            part = _raster_scratch(spec.params, gx, gy, min_mask_mm)
        elif isinstance(spec.params, FingerprintParams):
            part = _raster_fingerprint(spec.params, gx, gy, 1.0 / (image_px_per_mm or px_per_mm))
        else:
            part = _RASTER[type(spec.params)](spec.params, gx, gy)
        window = (slice(r0, r1), slice(c0, c1))
        height[window] += part["height"]
        if "roughness" in part:
            roughness[window] += part["roughness"]
        if "alpha" in part:  # "over" compositing, premultiplied
            a = part["alpha"][..., None]
            under = albedo[window]
            under *= 1 - a
            under[..., :3] += part["rgb"] * a
            under[..., 3:] += a
        instance[window][part["support"]] = index
    covered = albedo[..., 3] > 0
    albedo[covered, :3] /= albedo[covered, 3:]
    return SurfaceLayer(
        view_rect_mm=(vx0, vy0, vx1, vy1),
        px_per_mm=float(px_per_mm),
        extent_mm=extent,
        height=height,
        albedo=albedo,
        roughness=roughness,
        instance=instance,
        class_names=tuple(spec.class_name for spec in instances),
    )
