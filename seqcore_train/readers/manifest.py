"""SeqCore manifest datasets (`manifest.json`, as rendered by the add-on): records filtered by
variant and light, semantic masks remapped from the manifest's class ids to the shared ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqcore_train.data.records import (
    ClassTable,
    DataSpec,
    Record,
    Targets,
    check_mask_shape,
    read_mask_of_shape,
)
from seqcore_train.errors import DataError
from shared_schemas import ManifestError, load_manifest

__all__ = ["manifest_records", "manifest_targets"]

NAME = "manifest"
FILTERS = True  # PATH::variant=...,light=... select samples


def detect(path: Path) -> bool:
    return (path.is_file() and path.name == "manifest.json") or (path / "manifest.json").is_file()


def records(spec: DataSpec, classes: ClassTable) -> list[Record]:
    return manifest_records(spec, classes)


def targets(record: Record, shape, classes: ClassTable, label_map: dict[str, str]) -> Targets:
    return Targets(*manifest_targets(record, shape, classes))


def check(record: Record, shape, classes: ClassTable, label_map: dict[str, str]) -> None:
    check_mask_shape(record.annotation, shape, record.image)


def manifest_records(spec: DataSpec, classes: ClassTable) -> list[Record]:
    """The manifest's samples matching the spec's filters; its classes join the shared table."""
    try:
        manifest = load_manifest(spec.path)
    except ManifestError as exc:
        raise DataError(str(exc)) from None
    where = str(manifest.root / "manifest.json")
    for info in manifest.classes:
        classes.ensure(info.name, info.kind, where)
    class_names = tuple((c.id, c.name) for c in manifest.classes)
    records = []
    for sample in manifest.samples:
        if spec.variant and sample.variant != spec.variant:
            continue
        if spec.light and sample.light != spec.light:
            continue
        records.append(
            Record(
                sample_id=sample.id,
                image=manifest.path_of(sample.image),
                split=sample.split,
                source=str(spec),
                fmt="manifest",
                annotation=manifest.path_of(sample.semantic_mask) if sample.semantic_mask else None,
                instance=manifest.path_of(sample.instance_mask) if sample.instance_mask else None,
                valid=manifest.path_of(sample.valid_mask) if sample.valid_mask else None,
                instances=tuple((i.id, i.class_name) for i in sample.instances),
                class_names=class_names,
                variant=sample.variant,
            )
        )
    if not records and manifest.samples:
        raise DataError(f"{spec}: no sample matches the filters (variant/light)")
    return records


def manifest_targets(
    record: Record, shape, classes: ClassTable
) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """(semantic in shared class ids, instance ids, {instance id: class}); unknown ids are errors."""
    semantic = np.zeros(shape, dtype=np.uint8)
    if record.annotation is not None:
        local = read_mask_of_shape(record.annotation, shape)
        remap = np.zeros(max(256, int(local.max()) + 1), dtype=np.uint8)
        known = {0}
        for local_id, name in record.class_names:
            remap[local_id] = classes.get(name).id
            known.add(local_id)
        unknown = set(np.unique(local).tolist()) - known
        if unknown:
            raise DataError(f"{record.annotation}: unknown class id(s) {sorted(unknown)}")
        semantic = remap[local]
    instance = np.zeros(shape, dtype=np.int32)
    instance_classes = dict(record.instances)
    if record.instance is not None:
        instance = read_mask_of_shape(record.instance, shape).astype(np.int32)
        unknown = set(np.unique(instance).tolist()) - set(instance_classes) - {0}
        if unknown:
            raise DataError(
                f"{record.instance}: instance id(s) {sorted(unknown)[:5]} not in the manifest"
            )
    return semantic, instance, instance_classes
