"""Camera geometry on the plate, no bpy: what a perpendicular pinhole camera sees, in plate millimetres.

Plate coordinates: origin at the plate centre, X along the 100 mm side, Y along the 120 mm side, top
surface at z = 0. Images have row 0 at the top, i.e. at the largest Y of the view (camera up = +Y).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "PLATE_SIZE_MM",
    "REFERENCE_VIEW",
    "SENSOR_ASPECT",
    "SENSOR_WIDTH_MM",
    "CameraView",
    "focal_length_mm",
    "grid_centers_mm",
    "pixel_centers_mm",
    "view_rect_mm",
    "working_distance_m",
]

PLATE_SIZE_MM = (100.0, 120.0)
SENSOR_ASPECT = 2448 / 2050  # the real camera's width / height
VIEW_WIDTH_MM = 40.0  # default plate width one image sees
IMAGE_WIDTH = 306  # default image width (px); the height follows SENSOR_ASPECT: 306 x 256
SENSOR_WIDTH_MM = 36.0


@dataclass(frozen=True)
class CameraView:
    """A camera above the plate looking straight down -Z.

    center_mm: point of the plate at the image centre; width_mm: plate width seen by the image;
    distance_m: camera height above the plate (sets the perspective of the light's reflection).
    Without one, the camera keeps its lens and stands at the distance that shows `width_mm`
    (`working_distance_m`): the light moves with it, so its reflection fills the same share of
    every view and a narrower view only has finer pixels.
    """

    center_mm: tuple[float, float] = (0.0, 0.0)
    width_mm: float = VIEW_WIDTH_MM
    distance_m: float | None = None

    def __post_init__(self) -> None:
        if self.distance_m is None:
            object.__setattr__(self, "distance_m", working_distance_m(self.width_mm))

    def to_dict(self) -> dict:
        return {
            "center_mm": list(self.center_mm),
            "width_mm": self.width_mm,
            "distance_m": self.distance_m,
        }

    @classmethod
    def from_dict(cls, d: dict) -> CameraView:
        return cls(
            tuple(float(v) for v in d["center_mm"]), float(d["width_mm"]), float(d["distance_m"])
        )


REFERENCE_VIEW = (40.0, 0.25)  # (width mm, camera distance m) of the default view


def working_distance_m(width_mm: float) -> float:
    """Camera height at which the reference view's lens sees `width_mm` of the plate."""
    return REFERENCE_VIEW[1] * width_mm / REFERENCE_VIEW[0]


def focal_length_mm(view: CameraView) -> float:
    """Lens for a 36 mm wide sensor (horizontal fit) so the image spans `width_mm` of the plate."""
    return SENSOR_WIDTH_MM * view.distance_m * 1000.0 / view.width_mm


def view_rect_mm(
    view: CameraView, resolution: tuple[int, int]
) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the plate region the image covers; square pixels."""
    width, height = resolution
    w = view.width_mm
    h = w * height / width
    cx, cy = view.center_mm
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def pixel_centers_mm(
    view: CameraView, resolution: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Plate coordinates (X, Y), each (H, W), of the pixel centres; row 0 is the top of the image."""
    width, height = resolution
    x0, y0, x1, y1 = view_rect_mm(view, resolution)
    xs = x0 + (np.arange(width) + 0.5) * (x1 - x0) / width
    ys = y1 - (np.arange(height) + 0.5) * (y1 - y0) / height
    return np.meshgrid(xs, ys)


def grid_centers_mm(columns: int, rows: int) -> list[tuple[float, float]]:
    """Centres of an n x m grid of camera positions covering the plate, row by row from the top."""
    sx, sy = PLATE_SIZE_MM
    return [
        (-sx / 2 + (i + 0.5) * sx / columns, sy / 2 - (j + 0.5) * sy / rows)
        for j in range(rows)
        for i in range(columns)
    ]
