"""Shared by the figure scripts: a grid of titled images, and writing a figure as a PNG atomically."""

from __future__ import annotations

import io
from pathlib import Path


def save_figure(figure, path: Path) -> None:
    """Lay out `figure` without ticks and write it to `path` as a PNG, atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from shared_schemas import atomic_write_bytes

    for axis in figure.axes:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    atomic_write_bytes(path, buffer.getvalue())
    print(f"wrote {path}")


def save_image_grid(rows: list[list[tuple]], path: Path, figsize: tuple[float, float]) -> None:
    """rows of (image, title) pairs; grey images on a 0-255 scale."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize)
    axes = figure.subplots(len(rows), len(rows[0]), squeeze=False)
    for r, row in enumerate(rows):
        for c, (image, title) in enumerate(row):
            axes[r, c].imshow(image, cmap="gray", vmin=0, vmax=255)
            axes[r, c].set_title(title, fontsize=9)
    save_figure(figure, path)
