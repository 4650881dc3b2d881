"""What every dataset reader produces and shares: DATA specs, the shared class table, the LabelMe
label map, records and decoded samples, and the file helpers the readers have in common.

This module imports no reader, so readers and the dispatcher (datasets.py) can all import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import imageio.v3 as iio
import numpy as np

from seqcore_train.data.images import IMAGE_SUFFIXES, read_mask
from seqcore_train.errors import DataError
from shared_schemas import DEFAULT_CLASSES, KINDS, SPLITS, ClassInfo

__all__ = [
    "DataSpec",
    "ClassTable",
    "Record",
    "LoadedSample",
    "Targets",
    "check_mask_shape",
    "parse_data_spec",
    "parse_label_map",
    "image_shape",
    "read_mask_of_shape",
    "image_files_in",
    "split_folders",
]

_FILTER_KEYS = ("variant", "light")


@dataclass(frozen=True)
class DataSpec:
    """One DATA argument: a path and optional filters on manifest samples."""

    path: Path
    variant: str | None = None
    light: str | None = None

    def __str__(self) -> str:
        filters = [f"{k}={getattr(self, k)}" for k in _FILTER_KEYS if getattr(self, k)]
        return str(self.path) + (("::" + ",".join(filters)) if filters else "")


def parse_data_spec(text: str) -> DataSpec:
    """`PATH[::variant=clean,light=hex]` -> DataSpec; unknown keys are a DataError."""
    path, _, options = str(text).partition("::")
    values: dict[str, str] = {}
    for item in filter(None, options.split(",")):
        key, eq, value = item.partition("=")
        if not eq or key not in _FILTER_KEYS or not value:
            raise DataError(
                f"{text}: bad DATA option {item!r} (use {', '.join(_FILTER_KEYS)}=VALUE)"
            )
        values[key] = value
    return DataSpec(Path(path), **values)


class ClassTable:
    """Class names -> ids and kinds, shared by all DATA; formats without a table add classes."""

    def __init__(self, classes: Sequence[ClassInfo] = DEFAULT_CLASSES):
        self._by_name: dict[str, ClassInfo] = {}
        for info in classes:
            self._by_name[info.name] = info

    @property
    def classes(self) -> tuple[ClassInfo, ...]:
        return tuple(sorted(self._by_name.values(), key=lambda c: c.id))

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def get(self, name: str) -> ClassInfo:
        return self._by_name[name]

    def ensure(self, name: str, kind: str, where: str) -> ClassInfo:
        """The class `name`, added with the next free id when new; a kind clash is a DataError."""
        if name in self._by_name:
            info = self._by_name[name]
            if info.kind != kind:
                raise DataError(f"{where}: class {name!r} is a {info.kind} here, {kind} elsewhere")
            return info
        if kind not in KINDS:
            raise DataError(f"{where}: class kind {kind!r} is not one of {', '.join(KINDS)}")
        next_id = max((c.id for c in self._by_name.values()), default=0) + 1
        if next_id > 255:
            raise DataError(f"{where}: more than 255 classes")
        info = ClassInfo(next_id, name, kind)
        self._by_name[name] = info
        return info

    def kinds_lookup(self) -> np.ndarray:
        """(256,) bool: True where the semantic id is a defect class (the positives)."""
        lookup = np.zeros(256, dtype=bool)
        for info in self._by_name.values():
            lookup[info.id] = info.kind == "defect"
        return lookup


def parse_label_map(text: str | None) -> dict[str, str]:
    """`kratzer=scratch,rost=rust:defect,rand=ignore` -> {raw label: target}; see readers/labelme.py."""
    mapping: dict[str, str] = {}
    for item in filter(None, (text or "").split(",")):
        raw, eq, target = item.partition("=")
        if not eq or not raw.strip() or not target.strip():
            raise DataError(f"--label-map: bad entry {item!r} (use LABEL=CLASS[:KIND])")
        mapping[raw.strip()] = target.strip()
    return mapping


@dataclass(frozen=True)
class Record:
    """One image and where its annotations live; nothing is decoded until `Dataset.load`."""

    sample_id: str
    image: Path
    split: str | None  # None: belongs to every split (folders without split subfolders)
    source: str
    fmt: str  # "manifest" | "mvtec" | "labelme" | "folder"
    annotation: Path | None = None  # manifest semantic mask, MVTec ground truth, LabelMe JSON
    instance: Path | None = None
    valid: Path | None = None
    instances: tuple[tuple[int, str], ...] = ()
    class_names: tuple[tuple[int, str], ...] = ()  # manifest semantic id -> class name
    defect_type: str | None = None  # MVTec test folder name
    variant: str | None = None


@dataclass
class LoadedSample:
    """A decoded record: image (H, W, 3) float32 in [0, 1] and masks in the shared class ids."""

    record: Record
    image: np.ndarray
    valid: np.ndarray  # (H, W) bool, True = inspect
    semantic: np.ndarray  # (H, W) uint8 shared class ids, 0 nominal
    instance: np.ndarray  # (H, W) int32 instance ids, 0 none
    instance_classes: dict[int, str] = field(default_factory=dict)


def image_shape(path: Path) -> tuple[int, int]:
    """(H, W) from the file header, without decoding pixels where the format allows."""
    try:
        shape = iio.improps(path, plugin="pillow").shape
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except Exception as exc:
        raise DataError(f"{path}: unreadable image ({type(exc).__name__})") from None
    if len(shape) < 2:
        raise DataError(f"{path}: not an image (shape {shape})")
    return int(shape[0]), int(shape[1])


class Targets(NamedTuple):
    """What a reader gives for one record: masks at image size and the instances' classes."""

    semantic: np.ndarray  # (H, W) uint8, shared class ids
    instance: np.ndarray  # (H, W) int32, 0 = none
    instance_classes: dict[int, str]
    ignore: np.ndarray | None = None  # (H, W) bool: pixels no metric may see


def check_mask_shape(mask: Path | None, shape, image: Path) -> None:
    """A mask file whose size is not the image's `shape` (H, W) is a DataError; None passes."""
    if mask is not None and image_shape(mask) != tuple(shape):
        raise DataError(
            f"{mask}: mask is {image_shape(mask)[::-1]} (W, H), "
            f"image {image.name} is {tuple(shape)[::-1]}"
        )


def read_mask_of_shape(path: Path, shape) -> np.ndarray:
    """The mask at `path`; a size other than the image's `shape` (H, W) is a DataError."""
    mask = read_mask(path)
    if mask.shape != tuple(shape):
        raise DataError(f"{path}: mask is {mask.shape[::-1]} (W, H), image is {tuple(shape)[::-1]}")
    return mask


def image_files_in(folder: Path) -> list[Path]:
    """The image files directly in `folder`, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def split_folders(root: Path) -> list[tuple[str | None, Path]]:
    """[(split, folder)]: the split subfolders that exist, else the folder itself for every split."""
    found = [(s, root / s) for s in SPLITS if (root / s).is_dir()]
    return found or [(None, root)]
