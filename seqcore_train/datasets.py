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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from seqcore_train.errors import DataError
from seqcore_train.images import IMAGE_SUFFIXES, read_mask, read_rgb, resize_nearest, resize_rgb
from shared_schemas import DEFAULT_CLASSES, KINDS, SPLITS, ClassInfo, ManifestError, load_manifest

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

_SPEC_KEYS = ("variant", "light")


@dataclass(frozen=True)
class DataSpec:
    """One DATA argument: a path and optional filters on manifest samples."""

    path: Path
    variant: str | None = None
    light: str | None = None

    def __str__(self) -> str:
        filters = [f"{k}={getattr(self, k)}" for k in _SPEC_KEYS if getattr(self, k)]
        return str(self.path) + (("::" + ",".join(filters)) if filters else "")


def parse_data_spec(text: str) -> DataSpec:
    """`PATH[::variant=clean,light=hex]` -> DataSpec; unknown keys are a DataError."""
    path, _, options = str(text).partition("::")
    values: dict[str, str] = {}
    for item in filter(None, options.split(",")):
        key, eq, value = item.partition("=")
        if not eq or key not in _SPEC_KEYS or not value:
            raise DataError(f"{text}: bad DATA option {item!r} (use {', '.join(_SPEC_KEYS)}=VALUE)")
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
    """`kratzer=scratch,rost=rust:defect,rand=ignore` -> {raw label: target}; see labelme.py."""
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
            for mask in (record.valid, record.instance) + (
                (record.annotation,) if record.fmt in ("manifest", "mvtec") else ()
            ):
                if mask is not None and image_shape(mask) != shape:
                    raise DataError(
                        f"{mask}: mask is {image_shape(mask)[::-1]} (W, H), "
                        f"image {record.image.name} is {shape[::-1]}"
                    )
            if record.fmt == "labelme" and record.annotation is not None:
                from seqcore_train.labelme import check_labelme

                check_labelme(record.annotation, shape, self.classes, self.label_map)

    def load(self, record: Record, size: tuple[int, int] | None = None) -> LoadedSample:
        """Decode a record; `size` = (H, W) resizes the image and all masks."""
        image = read_rgb(record.image)
        shape = image.shape[:2]
        valid = np.ones(shape, dtype=bool)
        semantic = np.zeros(shape, dtype=np.uint8)
        instance = np.zeros(shape, dtype=np.int32)
        instance_classes: dict[int, str] = {}
        if record.fmt == "manifest":
            semantic, instance, instance_classes = self._manifest_targets(record, shape)
        elif record.fmt == "mvtec" and record.annotation is not None:
            from seqcore_train.mvtec import mvtec_targets

            semantic, instance, instance_classes = mvtec_targets(record, shape, self.classes)
        elif record.fmt == "labelme" and record.annotation is not None:
            from seqcore_train.labelme import rasterize_labelme

            semantic, instance, instance_classes, ignore = rasterize_labelme(
                record.annotation, shape, self.classes, self.label_map
            )
            valid &= ~ignore
        if record.valid is not None:
            valid &= _mask_of_shape(record.valid, shape) > 0
        if size is not None and tuple(size) != shape:
            image = resize_rgb(image, size)
            valid = resize_nearest(valid, size)
            semantic = resize_nearest(semantic, size)
            instance = resize_nearest(instance, size)
        return LoadedSample(record, image, valid, semantic, instance, instance_classes)

    def _manifest_targets(self, record: Record, shape) -> tuple[np.ndarray, np.ndarray, dict]:
        semantic = np.zeros(shape, dtype=np.uint8)
        if record.annotation is not None:
            local = _mask_of_shape(record.annotation, shape)
            remap = np.zeros(max(256, int(local.max()) + 1), dtype=np.uint8)
            known = {0}
            for local_id, name in record.class_names:
                remap[local_id] = self.classes.get(name).id
                known.add(local_id)
            unknown = set(np.unique(local).tolist()) - known
            if unknown:
                raise DataError(f"{record.annotation}: unknown class id(s) {sorted(unknown)}")
            semantic = remap[local]
        instance = np.zeros(shape, dtype=np.int32)
        instance_classes = dict(record.instances)
        if record.instance is not None:
            instance = _mask_of_shape(record.instance, shape).astype(np.int32)
            unknown = set(np.unique(instance).tolist()) - set(instance_classes) - {0}
            if unknown:
                raise DataError(
                    f"{record.instance}: instance id(s) {sorted(unknown)[:5]} not in the manifest"
                )
        return semantic, instance, instance_classes

    def samples(
        self, records: Sequence[Record] | None = None, size: tuple[int, int] | None = None
    ) -> Iterator[LoadedSample]:
        for record in self.records if records is None else records:
            yield self.load(record, size)


def _mask_of_shape(path: Path, shape) -> np.ndarray:
    mask = read_mask(path)
    if mask.shape != tuple(shape):
        raise DataError(f"{path}: mask is {mask.shape[::-1]} (W, H), image is {tuple(shape)[::-1]}")
    return mask


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _split_folders(root: Path) -> list[tuple[str | None, Path]]:
    """[(split, folder)]: the split subfolders that exist, else the folder itself for every split."""
    found = [(s, root / s) for s in SPLITS if (root / s).is_dir()]
    return found or [(None, root)]


def _manifest_records(spec: DataSpec, classes: ClassTable) -> list[Record]:
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


def _folder_records(spec: DataSpec, fmt: str) -> list[Record]:
    records = []
    for split, folder in _split_folders(spec.path):
        for image in _images_in(folder):
            annotation = image.with_suffix(".json") if fmt == "labelme" else None
            if annotation is not None and not annotation.is_file():
                annotation = None  # an image without annotations is nominal
            sample_id = image.stem if split is None else f"{split}/{image.stem}"
            records.append(Record(sample_id, image, split, str(spec), fmt, annotation=annotation))
    return records


def _is_labelme(path: Path) -> bool:
    for _split, folder in _split_folders(path):
        for image in _images_in(folder):
            if image.with_suffix(".json").is_file():
                return True
    return False


def _open_one(spec: DataSpec, classes: ClassTable) -> list[Record]:
    path = spec.path
    if path.is_file() and path.name == "manifest.json":
        return _manifest_records(spec, classes)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        return [Record(path.stem, path, None, str(spec), "folder")]
    if not path.is_dir():
        raise DataError(f"{path}: DATA must be a dataset folder, its manifest.json or an image")
    if (path / "manifest.json").is_file():
        return _manifest_records(spec, classes)
    if spec.variant or spec.light:
        raise DataError(f"{spec}: variant/light filters need a manifest dataset")
    if (path / "train" / "good").is_dir() and (path / "test").is_dir():
        from seqcore_train.mvtec import mvtec_records

        return mvtec_records(spec, classes)
    if _is_labelme(path):
        return _folder_records(spec, "labelme")
    return _folder_records(spec, "folder")


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
