"""The model file: one .safetensors with the coreset tensor(s) and JSON metadata.

safetensors holds only tensors and a string map, so loading cannot run code (no pickle). Our
metadata is one JSON document under the key "seqcore", carrying the format version; the file is
written to a temporary name and renamed, so a crash never leaves half a model behind.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from shared_schemas import atomic_write_bytes

from ..errors import ModelFileError

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "save_model_file", "load_model_file"]

FORMAT_NAME = "seqcore-model"
FORMAT_VERSION = 3
# Format 1 files hold coresets of features that were shifted against the image and, for
# EfficientNet-Lite0, computed with the wrong padding and input normalisation: they cannot be
# converted, only re-fitted.
_REFITTED = {1: "its features were misaligned with the image and fed with other normalisation"}
_META_KEY = "seqcore"


def _image_size_from_provenance(meta: dict) -> None:
    """Format 2 kept the fitted image size in the free-form provenance; format 3 at the top."""
    provenance = meta.get("provenance")
    size = provenance.pop("image_size", None) if isinstance(provenance, dict) else None
    meta.setdefault("image_size", size)


# Older formats that are still read: each is brought to the current layout on load.
_UPGRADES = {2: _image_size_from_provenance}


def save_model_file(path: str | os.PathLike, tensors: dict, metadata: dict) -> None:
    """Write tensors and JSON-serialisable metadata atomically; the format name/version are added."""
    plain = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    meta = {
        **metadata,
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "sha256": {name: _digest(t) for name, t in plain.items()},
    }
    try:
        text = json.dumps(meta, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"model metadata is not plain JSON: {exc}") from exc
    atomic_write_bytes(path, save_safetensors(plain, metadata={_META_KEY: text}))


def load_model_file(path: str | os.PathLike) -> tuple[dict, dict]:
    """(tensors on the CPU, metadata in the current layout); any unreadable, foreign, too old or
    newer file is a ModelFileError. `format_version` stays the version the file was written in."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    try:
        tensors = load_safetensors(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
        text = (header.get("__metadata__") or {}).get(_META_KEY)
    except (SafetensorError, ValueError, UnicodeDecodeError, RuntimeError) as exc:
        raise ModelFileError(
            f"model file {path} is corrupt or not a safetensors file ({exc})"
        ) from exc
    if text is None:
        raise ModelFileError(f"model file {path} is a safetensors file but not a SeqCore model")
    try:
        meta = json.loads(text)
    except ValueError as exc:
        raise ModelFileError(f"model file {path} has corrupt metadata ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ModelFileError(f"model file {path} is not a SeqCore model (format {found!r})")
    version = meta.get("format_version")
    if version in _REFITTED:
        raise ModelFileError(
            f"model file {path} has format version {version}, whose coreset cannot be used: "
            f"{_REFITTED[version]}; fit the model again with this seqcore-train"
        )
    if version != FORMAT_VERSION and version not in _UPGRADES:
        raise ModelFileError(
            f"model file {path} has format version {version!r}; this seqcore-train reads versions "
            f"{', '.join(map(str, sorted([*_UPGRADES, FORMAT_VERSION])))} "
            "(upgrade seqcore-train, or re-create the model)"
        )
    digests = meta.get("sha256")
    if not isinstance(digests, dict) or set(digests) != set(tensors):
        raise ModelFileError(f"model file {path} lacks the checksums of its tensors")
    for name, tensor in tensors.items():
        if digests[name] != _digest(tensor):
            raise ModelFileError(
                f"model file {path} is corrupt: tensor {name!r} fails its checksum"
            )
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelFileError(f"model file {path}: tensor {name!r} holds NaN or infinite values")
    if version in _UPGRADES:
        _UPGRADES[version](meta)
    return tensors, meta


def _digest(tensor: torch.Tensor) -> str:
    """SHA-256 of the tensor's bytes: safetensors itself would load flipped bits silently."""
    data = tensor.contiguous().view(torch.uint8) if tensor.numel() else tensor.new_empty(0)
    return hashlib.sha256(data.numpy().tobytes()).hexdigest()
