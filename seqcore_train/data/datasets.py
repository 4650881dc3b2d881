"""Datasets the toolkit reads, behind one `Record` list: manifest, plain folder, MVTec AD, LabelMe.

`DATA` arguments are `PATH` or `PATH::key=value[,key=value]` with keys `variant` (clean|stained,
for paired renders) and `light` (hex|hex_rot90|hex_x2|ring). Several DATA concatenate (domain
randomisation). The format is detected per path: `manifest.json` -> manifest; `train/good` and
`test/` -> MVTec AD category; LabelMe `*.json` beside the images -> LabelMe; else a plain folder of
nominal images. Plain and LabelMe folders may hold `train/`, `val/`, `test/` subfolders as splits;
images directly in the folder belong to every split.

All semantic masks are remapped by class *name* into one class table shared by every DATA, so the
metrics see one set of ids. Images of different sizes are allowed (batches group equal sizes);
`image_size` resizes everything to one size (bilinear for images, nearest for masks).

This module only chooses: the shared types live in `records.py`, each format in `readers/`, tried
in the order of `readers.READERS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np

from seqcore_train.data.images import read_rgb, resize_nearest, resize_rgb
from seqcore_train.data.records import (
    ClassTable,
    DataSpec,
    LoadedSample,
    Record,
    check_mask_shape,
    image_shape,
    parse_data_spec,
    parse_label_map,
    read_mask_of_shape,
)
from seqcore_train.errors import DataError
from seqcore_train.readers import READERS, reader_named
from shared_schemas import SPLITS

# The record types are re-exported: callers that open data find them here too.
__all__ = [
    "DataSpec",
    "ClassTable",
    "Record",
    "LoadedSample",
    "Dataset",
    "parse_data_spec",
    "parse_label_map",
    "open_datasets",
    "image_shape",
]


class Dataset:
    """Records from one or more DATA plus the shared class table and the LabelMe label map."""

    def __init__(self, records: list[Record], classes: ClassTable, label_map: dict[str, str]):
        self.records = records
        self.classes = classes
        self.label_map = label_map

    def __len__(self) -> int:
        return len(self.records)

    def check(self) -> None:
        """Fail early, before hours of work: every file readable, every mask the image's size."""
        for record in self.records:
            shape = image_shape(record.image)
            for mask in (record.valid, record.instance):
                check_mask_shape(mask, shape, record.image)
            reader_named(record.fmt).check(record, shape, self.classes, self.label_map)

    def load(self, record: Record, size: tuple[int, int] | None = None) -> LoadedSample:
        """Decode a record; `size` = (H, W) resizes the image and all masks."""
        image = read_rgb(record.image)
        shape = image.shape[:2]
        valid = np.ones(shape, dtype=bool)
        semantic = np.zeros(shape, dtype=np.uint8)
        instance = np.zeros(shape, dtype=np.int32)
        instance_classes: dict[int, str] = {}
        targets = reader_named(record.fmt).targets(record, shape, self.classes, self.label_map)
        if targets is not None:
            semantic, instance, instance_classes, ignore = targets
            if ignore is not None:
                valid &= ~ignore
        if record.valid is not None:
            valid &= read_mask_of_shape(record.valid, shape) > 0
        if size is not None and tuple(size) != shape:
            image = resize_rgb(image, size)
            valid = resize_nearest(valid, size)
            semantic = resize_nearest(semantic, size)
            instance = resize_nearest(instance, size)
        return LoadedSample(record, image, valid, semantic, instance, instance_classes)

    def samples(
        self, records: Sequence[Record] | None = None, size: tuple[int, int] | None = None
    ) -> Iterator[LoadedSample]:
        for record in self.records if records is None else records:
            yield self.load(record, size)


def _open_one(spec: DataSpec, classes: ClassTable) -> list[Record]:
    """The records of one DATA, read by the first reader that recognises its path."""
    path = spec.path
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    for reader in READERS:
        if reader.detect(path):
            if (spec.variant or spec.light) and not reader.FILTERS:
                raise DataError(f"{spec}: variant/light filters need a manifest dataset")
            return reader.records(spec, classes)
    raise DataError(f"{path}: DATA must be a dataset folder, its manifest.json or an image")


def open_datasets(
    data: Sequence[str | DataSpec],
    split: str | None = None,
    classes: ClassTable | None = None,
    label_map: dict[str, str] | None = None,
) -> Dataset:
    """Open and concatenate DATA; keep records of `split` (None keeps all). Empty is a DataError."""
    if split is not None and split not in SPLITS:
        raise DataError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    classes = classes or ClassTable()
    label_map = dict(label_map or {})
    records: list[Record] = []
    for index, item in enumerate(data):
        spec = item if isinstance(item, DataSpec) else parse_data_spec(item)
        found = _open_one(spec, classes)
        if not found:
            raise DataError(f"{spec}: no images found")
        chosen = [r for r in found if split is None or r.split in (None, split)]
        if not chosen:
            have = sorted({r.split for r in found if r.split})
            raise DataError(f"{spec}: no images in split {split!r} (has: {', '.join(have)})")
        if len(data) > 1:  # sample ids name output files: keep them unique across DATA
            prefix = f"{index}_{spec.path.stem or 'data'}"
            chosen = [dataclasses.replace(r, sample_id=f"{prefix}/{r.sample_id}") for r in chosen]
        records.extend(chosen)
    if not records:
        raise DataError("no DATA given")
    return Dataset(records, classes, label_map)
