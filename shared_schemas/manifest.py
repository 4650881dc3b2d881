"""The dataset manifest: dataclasses, validation, atomic load/save, append and merge."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text
from .classes import DEFAULT_CLASSES, KINDS, ClassInfo
from .png import png_size

__all__ = [
    "SCHEMA_NAME",
    "SCHEMA_VERSION",
    "SPLITS",
    "PAIR_VARIANTS",
    "MANIFEST_NAME",
    "ManifestError",
    "Instance",
    "Sample",
    "Manifest",
    "manifest_path",
    "load_manifest",
    "save_manifest",
    "append_samples",
    "merge_manifests",
]

SCHEMA_NAME = "seqcore-dataset"
SCHEMA_VERSION = 1
SPLITS = ("train", "val", "test")
PAIR_VARIANTS = ("clean", "stained")
MANIFEST_NAME = "manifest.json"
_PATH_FIELDS = ("image", "semantic_mask", "instance_mask", "valid_mask")
_SAMPLE_KEYS = {"id", "split", *_PATH_FIELDS, "instances", "pair", "variant", "light", "params"}
_MANIFEST_KEYS = {"schema", "schema_version", "name", "generator", "classes", "samples"}


class ManifestError(ValueError):
    """A manifest that breaks the contract. The message is one line naming file, sample and field."""

    def __init__(self, path, problem: str, sample_id: str | None = None, field: str | None = None):
        self.path, self.problem, self.sample_id, self.field = path, problem, sample_id, field
        where = [str(path) if path is not None else "<manifest>"]
        if sample_id is not None:
            where.append(f"sample {sample_id!r}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{': '.join(where)}: {problem}")


@dataclass
class Instance:
    """One labelled object in a sample; `id` is its value in the instance mask."""

    id: int
    class_name: str
    params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"id": self.id, "class": self.class_name}
        if self.params:
            out["params"] = self.params
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Instance:
        return cls(id=d["id"], class_name=d["class"], params=dict(d.get("params") or {}))


@dataclass
class Sample:
    """One image with its masks. Paths are relative to the dataset folder."""

    id: str
    split: str
    image: str
    semantic_mask: str | None = None
    instance_mask: str | None = None
    valid_mask: str | None = None
    instances: list[Instance] = field(default_factory=list)
    pair: str | None = None
    variant: str | None = None
    light: str | None = None
    params: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # unknown keys, kept so a round trip loses nothing

    def to_dict(self) -> dict:
        out = {
            "id": self.id,
            "split": self.split,
            "image": self.image,
            "semantic_mask": self.semantic_mask,
            "instance_mask": self.instance_mask,
            "valid_mask": self.valid_mask,
            "instances": [i.to_dict() for i in self.instances],
            "pair": self.pair,
            "variant": self.variant,
            "light": self.light,
            "params": self.params,
        }
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Sample:
        return cls(
            id=d["id"],
            split=d["split"],
            image=d["image"],
            semantic_mask=d.get("semantic_mask"),
            instance_mask=d.get("instance_mask"),
            valid_mask=d.get("valid_mask"),
            instances=[Instance.from_dict(i) for i in d.get("instances") or []],
            pair=d.get("pair"),
            variant=d.get("variant"),
            light=d.get("light"),
            params=dict(d.get("params") or {}),
            extra={k: v for k, v in d.items() if k not in _SAMPLE_KEYS},
        )


@dataclass
class Manifest:
    name: str
    samples: list[Sample] = field(default_factory=list)
    classes: list[ClassInfo] = field(default_factory=lambda: list(DEFAULT_CLASSES))
    generator: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    root: Path | None = field(default=None, compare=False)  # dataset folder, set by load_manifest

    def class_by_name(self, name: str) -> ClassInfo:
        for c in self.classes:
            if c.name == name:
                return c
        raise KeyError(name)

    def class_by_id(self, class_id: int) -> ClassInfo:
        for c in self.classes:
            if c.id == class_id:
                return c
        raise KeyError(class_id)

    def path_of(self, relative: str) -> Path:
        """Absolute path of a file referenced by the manifest."""
        return (self.root or Path(".")) / relative

    def to_dict(self) -> dict:
        out = {
            "schema": SCHEMA_NAME,
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "generator": self.generator,
            "classes": [c.to_dict() for c in self.classes],
            "samples": [s.to_dict() for s in self.samples],
        }
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, d: dict, path=None) -> Manifest:
        """Build from parsed JSON, checking structure and content (not the files on disk)."""
        _check_structure(d, path)
        manifest = cls(
            name=d["name"],
            generator=dict(d.get("generator") or {}),
            classes=[ClassInfo(c["id"], c["name"], c["kind"]) for c in d["classes"]],
            samples=[Sample.from_dict(s) for s in d["samples"]],
            extra={k: v for k, v in d.items() if k not in _MANIFEST_KEYS},
        )
        validate(manifest, path, check_files=False)
        return manifest


def manifest_path(path: str | os.PathLike) -> Path:
    """A dataset folder or its manifest.json -> the manifest file."""
    path = Path(path)
    return path / MANIFEST_NAME if path.is_dir() or path.suffix != ".json" else path


# ---------------------------------------------------------------- validation


def _require(cond: bool, path, problem: str, sample_id=None, field_name=None) -> None:
    if not cond:
        raise ManifestError(path, problem, sample_id, field_name)


def _check_structure(d: Any, path) -> None:
    """Types of the fixed keys, so that building the dataclasses cannot fail with a KeyError."""
    _require(isinstance(d, dict), path, "top level must be a JSON object")
    _require(
        d.get("schema") == SCHEMA_NAME, path, f"schema must be {SCHEMA_NAME!r}", None, "schema"
    )
    version = d.get("schema_version")
    _require(
        version == SCHEMA_VERSION and isinstance(version, int),
        path,
        f"unsupported schema_version {version!r} (this reader knows {SCHEMA_VERSION})",
        None,
        "schema_version",
    )
    _require(isinstance(d.get("name"), str), path, "name must be a string", None, "name")
    _require(isinstance(d.get("generator", {}), dict), path, "must be an object", None, "generator")
    classes = d.get("classes")
    _require(isinstance(classes, list), path, "must be a list", None, "classes")
    for i, c in enumerate(classes):
        ok = (
            isinstance(c, dict)
            and isinstance(c.get("id"), int)
            and isinstance(c.get("name"), str)
            and isinstance(c.get("kind"), str)
        )
        _require(ok, path, f"entry {i} needs integer id, string name and kind", None, "classes")
    samples = d.get("samples")
    _require(isinstance(samples, list), path, "must be a list", None, "samples")
    for i, s in enumerate(samples):
        _require(isinstance(s, dict), path, f"entry {i} must be an object", None, "samples")
        sid = s.get("id")
        _require(
            isinstance(sid, str) and sid != "", path, f"entry {i} needs a string id", None, "id"
        )
        for key in ("split", "image"):
            _require(isinstance(s.get(key), str), path, "must be a string", sid, key)
        for key in _PATH_FIELDS[1:] + ("pair", "variant", "light"):
            value = s.get(key)
            _require(
                value is None or isinstance(value, str), path, "must be a string or null", sid, key
            )
        _require(isinstance(s.get("params", {}), dict), path, "must be an object", sid, "params")
        instances = s.get("instances", [])
        _require(isinstance(instances, list), path, "must be a list", sid, "instances")
        for inst in instances:
            ok = (
                isinstance(inst, dict)
                and isinstance(inst.get("id"), int)
                and not isinstance(inst.get("id"), bool)
                and isinstance(inst.get("class"), str)
            )
            _require(
                ok, path, "each instance needs an integer id and a class name", sid, "instances"
            )


def validate(manifest: Manifest, path=None, check_files: bool = True) -> None:
    """Raise ManifestError on the first broken rule; with check_files, referenced files must exist."""
    class_ids, class_names = set(), set()
    for c in manifest.classes:
        _require(1 <= c.id <= 255, path, f"class id {c.id} outside 1..255", None, "classes")
        _require(
            c.kind in KINDS,
            path,
            f"class {c.name!r} has kind {c.kind!r}, not one of {KINDS}",
            None,
            "classes",
        )
        _require(c.id not in class_ids, path, f"class id {c.id} appears twice", None, "classes")
        _require(
            c.name not in class_names, path, f"class {c.name!r} appears twice", None, "classes"
        )
        class_ids.add(c.id)
        class_names.add(c.name)

    seen_ids: set[str] = set()
    pairs: dict[str, list[Sample]] = {}
    for s in manifest.samples:
        _require(s.id not in seen_ids, path, "sample id appears twice", s.id, "id")
        seen_ids.add(s.id)
        _require(
            s.split in SPLITS, path, f"split {s.split!r} is not one of {SPLITS}", s.id, "split"
        )
        inst_ids: set[int] = set()
        for inst in s.instances:
            _require(inst.id >= 1, path, f"instance id {inst.id} must be >= 1", s.id, "instances")
            _require(
                inst.id not in inst_ids,
                path,
                f"instance id {inst.id} appears twice",
                s.id,
                "instances",
            )
            inst_ids.add(inst.id)
            _require(
                inst.class_name in class_names,
                path,
                f"unknown class {inst.class_name!r} (known: {', '.join(sorted(class_names))})",
                s.id,
                "instances",
            )
        _require(
            not s.instances or s.instance_mask is not None,
            path,
            "sample lists instances but has no instance mask",
            s.id,
            "instance_mask",
        )
        if s.pair is not None:
            pairs.setdefault(s.pair, []).append(s)
        if check_files and manifest.root is not None:
            _check_files(manifest, s, path)

    for pair_id, members in pairs.items():
        _check_pair(pair_id, members, path)


def _check_files(manifest: Manifest, s: Sample, path) -> None:
    image_size = None
    for key in _PATH_FIELDS:
        rel = getattr(s, key)
        if rel is None:
            continue
        file = manifest.path_of(rel)
        _require(file.is_file(), path, f"file {rel!r} does not exist", s.id, key)
        if file.suffix.lower() != ".png":
            continue
        try:
            size = png_size(file)
        except (OSError, ValueError) as exc:
            raise ManifestError(path, f"cannot read {rel!r}: {exc}", s.id, key) from None
        if image_size is None and key == "image":
            image_size = size
        elif image_size is not None and size != image_size:
            raise ManifestError(
                path,
                f"{rel!r} is {size[0]}x{size[1]}, the image is {image_size[0]}x{image_size[1]}",
                s.id,
                key,
            )


def _check_pair(pair_id: str, members: list[Sample], path) -> None:
    by_variant: dict[str, Sample] = {}
    for s in members:
        _require(
            s.variant in PAIR_VARIANTS,
            path,
            f"paired sample (pair {pair_id!r}) must have variant 'clean' or 'stained', not {s.variant!r}",
            s.id,
            "variant",
        )
        _require(
            s.variant not in by_variant,
            path,
            f"pair {pair_id!r} has two {s.variant!r} samples ({by_variant.get(s.variant) and by_variant[s.variant].id!r})",
            s.id,
            "pair",
        )
        by_variant[s.variant] = s
    if len(by_variant) == 2:
        clean, stained = by_variant["clean"], by_variant["stained"]
        for key in ("texture", "sampling_seed"):
            _require(
                clean.params.get(key) == stained.params.get(key),
                path,
                f"pair {pair_id!r}: params.{key} differs from the clean sample {clean.id!r}",
                stained.id,
                f"params.{key}",
            )


# ---------------------------------------------------------------- files


def load_manifest(path: str | os.PathLike, check_files: bool = True) -> Manifest:
    """Read and validate a dataset's manifest; `path` is the dataset folder or its manifest.json."""
    file = manifest_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(file, "no such manifest") from None
    except OSError as exc:
        raise ManifestError(file, f"cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            file, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    manifest = Manifest.from_dict(data, file)
    manifest.root = file.parent
    if check_files:
        validate(manifest, file, check_files=True)
    return manifest


def save_manifest(
    manifest: Manifest, path: str | os.PathLike | None = None, check_files: bool = True
) -> Path:
    """Validate, then write atomically (temporary file + rename). Returns the manifest file's path."""
    file = manifest_path(path if path is not None else manifest.root)
    if manifest.root is None:
        manifest.root = file.parent
    validate(manifest, file, check_files=check_files)
    atomic_write_text(file, json.dumps(manifest.to_dict(), indent=1) + "\n")
    return file


def append_samples(
    path: str | os.PathLike,
    samples: list[Sample],
    *,
    name: str | None = None,
    generator: dict | None = None,
    classes: list[ClassInfo] | None = None,
) -> Manifest:
    """Add samples to a dataset's manifest (creating it if missing), replacing samples with the same id.

    The whole manifest is rewritten atomically each time, so a crash leaves either the old or the new
    file, never a half-written one: resumable renders call this after every finished sample.
    """
    file = manifest_path(path)
    if file.exists():
        manifest = load_manifest(file, check_files=False)
    else:
        manifest = Manifest(name=name or file.parent.name, root=file.parent)
        if classes is not None:
            manifest.classes = list(classes)
    if generator is not None:
        manifest.generator = generator
    new_ids = {s.id for s in samples}
    manifest.samples = [s for s in manifest.samples if s.id not in new_ids] + list(samples)
    save_manifest(manifest, file, check_files=False)
    return manifest


def merge_manifests(manifests: list[Manifest], name: str | None = None) -> Manifest:
    """Join shards of one dataset; they must share the class table, and sample ids must not repeat."""
    if not manifests:
        raise ValueError("merge_manifests: nothing to merge")
    first = manifests[0]
    merged = Manifest(
        name=name or first.name,
        classes=list(first.classes),
        generator=dict(first.generator),
        root=first.root,
    )
    seen: dict[str, Manifest] = {}
    for m in manifests:
        where = m.root / MANIFEST_NAME if m.root else m.name
        if [c.to_dict() for c in m.classes] != [c.to_dict() for c in first.classes]:
            raise ManifestError(
                where, "class table differs from the first shard's", None, "classes"
            )
        for s in m.samples:
            if s.id in seen:
                raise ManifestError(where, "sample id also appears in another shard", s.id, "id")
            seen[s.id] = m
            merged.samples.append(s)
    merged.samples.sort(key=lambda s: s.id)
    validate(merged, None, check_files=False)
    return merged
