"""Plain folders of nominal images, or a single image file. `train/`, `val/`, `test/` subfolders
are splits; images directly in the folder belong to every split."""

from __future__ import annotations

from pathlib import Path

from seqcore_train.data.images import IMAGE_SUFFIXES
from seqcore_train.data.records import ClassTable, DataSpec, Record, image_files_in, split_folders

__all__ = ["folder_records", "single_image_records"]

NAME = "folder"
FILTERS = False


def detect(path: Path) -> bool:
    """Any folder (so this reader comes last) or one image file."""
    return path.is_dir() or (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES)


def records(spec: DataSpec, classes: ClassTable) -> list[Record]:
    return folder_records(spec) if spec.path.is_dir() else single_image_records(spec)


def targets(record: Record, shape, classes: ClassTable, label_map: dict[str, str]) -> None:
    """Plain images are nominal."""
    return None


def check(record: Record, shape, classes: ClassTable, label_map: dict[str, str]) -> None:
    """Nothing beyond the image and its valid mask."""


def folder_records(spec: DataSpec, fmt: str = "folder") -> list[Record]:
    """One record per image of each split folder; `fmt` lets formats built on folders reuse this."""
    records = []
    for split, folder in split_folders(spec.path):
        for image in image_files_in(folder):
            sample_id = image.stem if split is None else f"{split}/{image.stem}"
            records.append(Record(sample_id, image, split, str(spec), fmt))
    return records


def single_image_records(spec: DataSpec) -> list[Record]:
    """DATA naming one image file: one nominal record in every split."""
    return [Record(spec.path.stem, spec.path, None, str(spec), "folder")]
