"""Resolution presets (no bpy): image size and plate width seen, i.e. millimetres per pixel.

What a defect looks like depends on how many pixels it spans, so every preset is stated in mm/px:

| preset    | image       | view width | mm/px  | a 0.1-0.6 mm scratch |
|-----------|-------------|------------|--------|----------------------|
| (default) | 306 x 256   | 40 mm      | 0.131  | 0.8-4.6 px           |
| cpu       | 612 x 512   | 20 mm      | 0.0327 | 3.1-18 px            |
| sensor    | 2448 x 2050 | 48 mm      | 0.0196 | 5.1-31 px            |

`sensor` is the paper's camera (2448 x 2050, 12 images per plate side). With `--grid 4 3` (4 columns
along the 100 mm side, 3 rows along the 120 mm side) each view must span 25 x 40 mm: with the sensor's
landscape aspect that takes a 47.8 mm wide view, so 48 mm (48 x 40.2 mm) covers the side in 12
pictures. `cpu` keeps the 0.1 mm scratches at least 3 px wide at a size a CPU renders in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from .camera import PLATE_SIZE_MM, SENSOR_ASPECT
from .errors import SettingsError
from .vocabulary import RESOLUTION_PRESETS

__all__ = [
    "DEFAULT_RESOLUTION_PRESET",
    "ResolutionPreset",
    "mm_per_px",
    "resolution_preset",
]


@dataclass(frozen=True)
class ResolutionPreset:
    name: str
    resolution: tuple[int, int]
    view_width_mm: float
    note: str

    @property
    def mm_per_px(self) -> float:
        return mm_per_px(self.view_width_mm, self.resolution)


def mm_per_px(view_width_mm: float, resolution: tuple[int, int]) -> float:
    """Plate millimetres per (square) image pixel."""
    return view_width_mm / resolution[0]


def _sensor_view_width(columns: int = 4, rows: int = 3) -> float:
    """Narrowest view (rounded up to whole mm) whose columns x rows grid covers the plate."""
    need = max(PLATE_SIZE_MM[0] / columns, PLATE_SIZE_MM[1] / rows * SENSOR_ASPECT)
    return float(-(-need // 1))


# today's default, listed for the docs and --help; it is not selectable as a preset
DEFAULT_RESOLUTION_PRESET = ResolutionPreset(
    "default", (306, 256), 40.0, "fast previews; 0.1 mm scratches are under 1 px"
)
_PRESETS = {
    "sensor": ResolutionPreset(
        "sensor",
        (2448, 2050),
        _sensor_view_width(),
        "the paper's camera; --grid 4 3 covers a 100 x 120 mm plate side in 12 images",
    ),
    "cpu": ResolutionPreset(
        "cpu", (612, 512), 20.0, "CPU-sized; 0.1-0.6 mm scratches are 3-18 px wide"
    ),
}


def resolution_preset(name: str) -> ResolutionPreset:
    if name not in _PRESETS:
        raise SettingsError(
            f"unknown resolution preset {name!r}; known: {', '.join(RESOLUTION_PRESETS)}"
        )
    return _PRESETS[name]
