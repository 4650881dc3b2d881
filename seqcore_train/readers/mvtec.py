"""MVTec AD category folders: train/good, test/<type>, ground_truth/<type>/<stem>_mask.png.

Every test folder but `good` becomes a defect class named after it (added to the class table when
new). MVTec has no instance masks, so each connected component (8-connected) of a ground-truth
mask counts as one instance for the defect-wise recall. MVTec has no validation split: calibrate
with `--split test` or on another DATA.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqcore_train.data.records import (
    ClassTable,
    DataSpec,
    Record,
    Targets,
    check_mask_shape,
    image_files_in,
    read_mask_of_shape,
)
from seqcore_train.errors import DataError

__all__ = ["is_mvtec_category", "mvtec_records", "mvtec_targets"]

_EIGHT = np.ones((3, 3), dtype=bool)


NAME = "mvtec"
FILTERS = False


def detect(path: Path) -> bool:
    return is_mvtec_category(path)


def records(spec: DataSpec, classes: ClassTable) -> list[Record]:
    return mvtec_records(spec, classes)


def targets(
    record: Record, shape, classes: ClassTable, label_map: dict[str, str]
) -> Targets | None:
    """Test images of a defect type have a mask; the rest are nominal."""
    if record.annotation is None:
        return None
    return Targets(*mvtec_targets(record, shape, classes))


def check(record: Record, shape, classes: ClassTable, label_map: dict[str, str]) -> None:
    check_mask_shape(record.annotation, shape, record.image)


def is_mvtec_category(path: Path) -> bool:
    return (path / "train" / "good").is_dir() and (path / "test").is_dir()


def mvtec_records(spec: DataSpec, classes: ClassTable) -> list[Record]:
    root = spec.path
    records = [
        Record(f"train/good/{p.stem}", p, "train", str(spec), "mvtec")
        for p in image_files_in(root / "train" / "good")
    ]
    for folder in sorted(p for p in (root / "test").iterdir() if p.is_dir()):
        defect_type = folder.name
        if defect_type != "good":
            classes.ensure(defect_type, "defect", str(folder))
        for image in image_files_in(folder):
            annotation = None
            if defect_type != "good":
                annotation = root / "ground_truth" / defect_type / f"{image.stem}_mask.png"
                if not annotation.is_file():
                    raise DataError(f"{image}: ground-truth mask {annotation} is missing")
            records.append(
                Record(
                    f"test/{defect_type}/{image.stem}",
                    image,
                    "test",
                    str(spec),
                    "mvtec",
                    annotation=annotation,
                    defect_type=None if defect_type == "good" else defect_type,
                )
            )
    return records


def mvtec_targets(
    record: Record, shape, classes: ClassTable
) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Semantic mask (class of the defect type), instances = connected components."""
    truth = read_mask_of_shape(record.annotation, shape) > 0
    semantic = np.where(truth, classes.get(record.defect_type).id, 0).astype(np.uint8)
    from scipy import ndimage  # 0.2 s of import: not on predict's path

    instance, count = ndimage.label(truth, structure=_EIGHT)
    return semantic, instance.astype(np.int32), {i: record.defect_type for i in range(1, count + 1)}
