"""SeqCore dataset manifest: the contract between the Blender renderer and the training toolkit,
and what both sides share around it (atomic writes, PNG, provenance, one writer per output).

Standard library only, Python >= 3.10, so it imports inside Blender's bundled Python.
"""

from .atomic import atomic_write_bytes, atomic_write_text
from .classes import DEFAULT_CLASSES, KINDS, ClassInfo
from .folder_lock import (
    WRITER_LOCK,
    FolderBusy,
    FolderLock,
    FolderLockError,
    LockHolder,
    Mount,
    lock_holder,
    lock_reach,
    mount_of,
    writer_lock_path,
)
from .jsonschema import manifest_json_schema
from .manifest import (
    MANIFEST_NAME,
    PAIR_VARIANTS,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    SPLITS,
    Instance,
    Manifest,
    ManifestError,
    Sample,
    append_samples,
    load_manifest,
    manifest_path,
    merge_manifests,
    save_manifest,
    validate,
)
from .png import PngImage, encode_png, png_from_scanlines, png_size, read_png, write_png
from .provenance import renderer_of, source_digest

__all__ = [
    "DEFAULT_CLASSES",
    "KINDS",
    "MANIFEST_NAME",
    "PAIR_VARIANTS",
    "SCHEMA_NAME",
    "SCHEMA_VERSION",
    "SPLITS",
    "WRITER_LOCK",
    "ClassInfo",
    "FolderBusy",
    "FolderLock",
    "FolderLockError",
    "Instance",
    "LockHolder",
    "Manifest",
    "ManifestError",
    "Mount",
    "PngImage",
    "Sample",
    "append_samples",
    "atomic_write_bytes",
    "atomic_write_text",
    "encode_png",
    "png_from_scanlines",
    "load_manifest",
    "lock_holder",
    "lock_reach",
    "manifest_json_schema",
    "manifest_path",
    "merge_manifests",
    "mount_of",
    "renderer_of",
    "source_digest",
    "png_size",
    "read_png",
    "save_manifest",
    "validate",
    "write_png",
    "writer_lock_path",
]

__version__ = "0.1.0"
