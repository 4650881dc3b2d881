"""Real images annotated with LabelMe: shapes -> semantic and instance masks by label name.

Polygons, rectangles and circles are filled in file order (later shapes paint over earlier ones,
as LabelMe's own `shapes_to_label`). Shapes with the same label and `group_id` form one instance.
Labels map to classes by name, or through `--label-map RAW=CLASS[:KIND]`: `CLASS:defect` or
`CLASS:impurity` adds a class, the target `ignore` marks the region as not inspected (valid mask
0). An unknown label is a DataError naming the file and the label.

Folders are read as plain folders (`train/`, `val/`, `test/` splits), each image paired with the
JSON file of the same stem beside it; an image without one is nominal.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from seqcore_train.data.records import (
    ClassTable,
    DataSpec,
    Record,
    Targets,
    image_files_in,
    split_folders,
)
from seqcore_train.errors import DataError
from seqcore_train.readers.folder import folder_records

__all__ = [
    "IGNORE",
    "is_labelme_folder",
    "labelme_records",
    "check_labelme",
    "rasterize_labelme",
    "resolve_label",
]

IGNORE = "ignore"


NAME = "labelme"
FILTERS = False


def detect(path: Path) -> bool:
    return path.is_dir() and is_labelme_folder(path)


def records(spec: DataSpec, classes: ClassTable) -> list[Record]:
    return labelme_records(spec)


def targets(
    record: Record, shape, classes: ClassTable, label_map: dict[str, str]
) -> Targets | None:
    """An image without a JSON file beside it is nominal."""
    if record.annotation is None:
        return None
    return Targets(*rasterize_labelme(record.annotation, shape, classes, label_map))


def check(record: Record, shape, classes: ClassTable, label_map: dict[str, str]) -> None:
    if record.annotation is not None:
        check_labelme(record.annotation, shape, classes, label_map)


def is_labelme_folder(path: Path) -> bool:
    """Any image of the split folders has a JSON file beside it."""
    for _split, folder in split_folders(path):
        for image in image_files_in(folder):
            if image.with_suffix(".json").is_file():
                return True
    return False


def labelme_records(spec: DataSpec) -> list[Record]:
    records = []
    for record in folder_records(spec, "labelme"):
        annotation = record.image.with_suffix(".json")
        if annotation.is_file():  # an image without annotations is nominal
            record = dataclasses.replace(record, annotation=annotation)
        records.append(record)
    return records


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable LabelMe JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise DataError(f"{path}: not a LabelMe file (no 'shapes' list)")
    return data


def resolve_label(label: str, classes: ClassTable, label_map: dict[str, str], where) -> str:
    """The class name a LabelMe label stands for (or IGNORE); unknown labels are a DataError."""
    target = label_map.get(label, label)
    if target == IGNORE:
        return IGNORE
    name, _, kind = target.partition(":")
    if kind:
        return classes.ensure(name, kind, str(where)).name
    if name not in classes:
        known = ", ".join(c.name for c in classes.classes)
        raise DataError(
            f"{where}: unknown label {label!r} (classes: {known}; map it with --label-map)"
        )
    return name


def check_labelme(path: Path, shape, classes: ClassTable, label_map: dict[str, str]) -> None:
    """Labels known, size matching the image; cheap, run before any work."""
    data = _read_json(path)
    height, width = data.get("imageHeight"), data.get("imageWidth")
    if height is not None and width is not None and (int(height), int(width)) != tuple(shape):
        raise DataError(
            f"{path}: annotated size {width}x{height} differs from the image {shape[1]}x{shape[0]}"
        )
    for shape_data in data["shapes"]:
        resolve_label(str(shape_data.get("label", "")), classes, label_map, path)


def _draw(draw: ImageDraw.ImageDraw, shape_data: dict, path: Path) -> None:
    kind = shape_data.get("shape_type") or "polygon"
    try:
        points = [(float(x), float(y)) for x, y in shape_data["points"]]
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{path}: shape {shape_data.get('label')!r} has bad points") from None
    if kind == "polygon" and len(points) >= 3:
        draw.polygon(points, fill=1, outline=1)
    elif kind == "rectangle" and len(points) == 2:
        (x0, y0), (x1, y1) = points
        draw.rectangle([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], fill=1, outline=1)
    elif kind == "circle" and len(points) == 2:
        (cx, cy), (px, py) = points
        r = float(np.hypot(px - cx, py - cy))
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=1, outline=1)
    else:
        raise DataError(
            f"{path}: shape {shape_data.get('label')!r} of type {kind!r} with {len(points)} points "
            "is not supported (polygon, rectangle, circle)"
        )


def rasterize_labelme(
    path: Path, shape, classes: ClassTable, label_map: dict[str, str]
) -> tuple[np.ndarray, np.ndarray, dict[int, str], np.ndarray]:
    """(semantic uint8, instance int32, {instance id: class}, ignore bool) at image size `shape`."""
    data = _read_json(path)
    height, width = shape
    semantic = np.zeros(shape, dtype=np.uint8)
    instance = np.zeros(shape, dtype=np.int32)
    ignore = np.zeros(shape, dtype=bool)
    instance_classes: dict[int, str] = {}
    groups: dict[tuple[str, object], int] = {}
    for shape_data in data["shapes"]:
        label = str(shape_data.get("label", ""))
        name = resolve_label(label, classes, label_map, path)
        canvas = Image.new("1", (width, height), 0)
        _draw(ImageDraw.Draw(canvas), shape_data, path)
        region = np.asarray(canvas, dtype=bool)
        if name == IGNORE:
            ignore |= region
            continue
        group = shape_data.get("group_id")
        key = (name, group) if group is not None else (name, object())
        if key not in groups:
            groups[key] = len(instance_classes) + 1
            instance_classes[groups[key]] = name
        semantic[region] = classes.get(name).id
        instance[region] = groups[key]
    # An instance painted over completely by later shapes has no pixels; it is not counted.
    present = set(np.unique(instance).tolist())
    instance_classes = {i: c for i, c in instance_classes.items() if i in present}
    return semantic, instance, instance_classes, ignore
