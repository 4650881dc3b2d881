"""Parameter records of defects and impurities: plain data that fully determine one instance.

Every length is in millimetres in the plate's local frame (origin at the plate centre, x along the
100 mm side, y along the 120 mm side); angles in radians. A record round-trips through JSON
(`to_dict` / `params_from_dict`) so a render can be reproduced from the manifest alone.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

from .vocabulary import DEFECT_CLASSES

__all__ = [
    "BumpParams",
    "DentParams",
    "FingerprintParams",
    "InstanceSpec",
    "PARAMS_BY_CLASS",
    "ResidueStainParams",
    "ScratchParams",
    "StickerParams",
    "instances_from_dicts",
    "params_from_dict",
]


def _tuplify(value: Any) -> Any:
    """JSON lists back to the tuples the frozen records hold (nested for point lists)."""
    if isinstance(value, list):
        return tuple(_tuplify(v) for v in value)
    return value


class _Params:
    """Shared JSON plumbing of the parameter records."""

    def to_dict(self) -> dict:
        return asdict(self)  # tuples become lists in json.dumps; _tuplify undoes it

    @classmethod
    def from_dict(cls, data: dict):
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING}
        unknown = set(data) - names
        missing = required - set(data)
        if unknown or missing:
            raise ValueError(
                f"{cls.__name__}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}"
            )
        return cls(**{k: _tuplify(v) for k, v in data.items()})


@dataclass(frozen=True)
class ScratchParams(_Params):
    """A long thin groove along a cubic Bezier curve.

    Width and depth vary along the curve parameter t in [0, 1]:
    ``w(t) = w0 + (w1 - w0) * (0.5 + 0.5 sin(2 pi f t + phase))`` times an end taper, likewise
    the depth. A small burr of displaced material rises along both banks (``burr`` = its height as
    a fraction of the local depth, within ``0.5 w`` outside the groove).
    """

    control_points_mm: tuple  # ((x, y),) * 4, Bezier control points
    length_mm: float  # arc length of the curve (control points are scaled to hit it)
    width_mm: tuple  # (w0, w1) extremes of the groove width
    depth_mm: tuple  # (d0, d1) extremes of the groove depth
    width_freq: float
    width_phase: float
    depth_freq: float
    depth_phase: float
    profile: str  # "V" (linear walls) or "U" (parabolic)
    burr: float


@dataclass(frozen=True)
class BumpParams(_Params):
    """A smooth raised dome, ``h = height * (1 - s^2)^3`` with s the normalised elliptical radius.

    The profile meets the surface with zero slope, so its border is soft and ambiguous to the eye;
    its mask is the whole support (s < 1), including the rim that looks nominal (the label bias
    of the paper's Appendix B). ``wobble`` deforms the outline with 2nd and 3rd harmonics.
    """

    center_mm: tuple
    radius_mm: float  # semi-major axis of the support
    aspect: float  # semi-minor / semi-major
    angle: float
    height_mm: float
    wobble: tuple  # (a2, phase2, a3, phase3) relative outline harmonics


@dataclass(frozen=True)
class DentParams(_Params):
    """A depression with a steep wall, a raised rim and an inner ripple/crease pattern.

    In the normalised elliptical radius s (support s < 1): flat floor at ``-depth`` for
    s < 0.55, a steep wall up to s = 0.75, a rim of ``rim * depth`` peaking near s = 0.85 and
    falling to zero slope at s = 1; inside the floor concentric ripples (``ripple_count``) and
    radial creases (``crease_count``) of relative amplitude ``pattern``.
    """

    center_mm: tuple
    radius_mm: float
    aspect: float
    angle: float
    depth_mm: float
    rim: float
    ripple_count: float
    crease_count: int
    pattern: float
    phase: float


@dataclass(frozen=True)
class FingerprintParams(_Params):
    """An elliptical whorl of residue ridges: mostly a roughness and faint albedo change.

    Ridges follow the warped elliptical radius with period ``ridge_spacing_mm``; the residue
    coverage is ``residue * ridge * envelope * patchiness`` (alpha of a diffuse film) and the
    metal's roughness rises by ``roughness_delta`` under it. ``height_mm`` is the (tiny) film
    thickness. ``seed`` fixes the warp and patchiness waves.
    """

    center_mm: tuple
    size_mm: float  # length of the major axis
    aspect: float
    angle: float
    ridge_spacing_mm: float
    residue: float  # peak alpha of the residue film
    residue_color: tuple  # linear RGB
    roughness_delta: float
    height_mm: float
    seed: int


@dataclass(frozen=True)
class StickerParams(_Params):
    """A rectangular paper label, slightly raised, with a printed number in 7-segment digits.

    ``bubbles`` are air pockets under the label, ``(u, v, radius, height)`` in mm in the label's
    frame: small smooth domes on top of it (the paper's false positives besides the edges).
    """

    center_mm: tuple
    size_mm: tuple  # (width, height) of the label before rotation
    angle: float
    thickness_mm: float
    number: int
    paper_color: tuple  # linear RGB
    ink_color: tuple  # linear RGB
    bubbles: tuple = ()


@dataclass(frozen=True)
class ResidueStainParams(_Params):
    """A dried water stain as camera images show it (the target domain's stains, not Algorithm 1).

    A diffuse residue film over the metal inside a wobbly elliptic outline: darkest in a rim whose
    width varies around the outline, with fainter residue rings inside (where the drying edge
    paused) and a patchy, heterogeneous film in between. Outline radius in the normalised radius s:
    ``1 + sum_k a_k cos(k theta + phase_k)`` for k = 2..5 (``wobble`` = (a2, p2, ..., a5, p5)).
    """

    center_mm: tuple
    radius_mm: float  # semi-major axis before the wobble
    aspect: float  # semi-minor / semi-major
    angle: float
    wobble: tuple  # (a2, p2, a3, p3, a4, p4, a5, p5)
    rim_width: tuple  # (mean, relative variation, phase): rim width as a share of the radius
    rim_alpha: float  # residue cover at the rim
    rings: tuple  # ((radius share, width share, alpha),) inner residue rings
    film_alpha: float  # mean residue cover of the interior film
    residue_color: tuple  # linear RGB
    roughness_delta: float
    seed: int  # patchiness of the film


PARAMS_BY_CLASS: dict[str, type] = {
    "scratch": ScratchParams,
    "bump": BumpParams,
    "dent": DentParams,
    "fingerprint": FingerprintParams,
    "sticker": StickerParams,
    "water_stain": ResidueStainParams,  # only the target domain's stains are instances
}


def params_from_dict(class_name: str, data: dict):
    """The parameter record of `class_name` from its JSON form."""
    if class_name not in PARAMS_BY_CLASS:
        raise ValueError(
            f"unknown defect/impurity class {class_name!r}; known: {sorted(PARAMS_BY_CLASS)}"
        )
    return PARAMS_BY_CLASS[class_name].from_dict(data)


@dataclass(frozen=True)
class InstanceSpec:
    """One defect or impurity instance of a sample: its class and its parameters."""

    class_name: str
    params: Any

    def __post_init__(self) -> None:
        expected = PARAMS_BY_CLASS.get(self.class_name)
        if expected is None or not isinstance(self.params, expected):
            raise ValueError(
                f"InstanceSpec: class {self.class_name!r} needs {getattr(expected, '__name__', '?')}"
                f" parameters, got {type(self.params).__name__}"
            )

    @property
    def is_defect(self) -> bool:
        return self.class_name in DEFECT_CLASSES

    def to_dict(self) -> dict:
        return {"class": self.class_name, "params": self.params.to_dict()}


def instances_from_dicts(dicts) -> list[InstanceSpec]:
    """Inverse of ``[spec.to_dict() for spec in specs]``."""
    specs = []
    for index, item in enumerate(dicts):
        if not isinstance(item, dict) or "class" not in item or "params" not in item:
            raise ValueError(f"instance {index}: expected {{'class': ..., 'params': {{...}}}}")
        specs.append(InstanceSpec(item["class"], params_from_dict(item["class"], item["params"])))
    return specs
