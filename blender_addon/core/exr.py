"""Minimal OpenEXR reader for the AOV files our compositor writes (no bpy, numpy only).

Blender 5.0's `bpy` module cannot hand back multilayer EXR pixels (`Image.pixels` is empty for
MULTILAYER images), so the mask passes are read here. Supported: single- and multi-part scanline files,
compression NONE, ZIPS or ZIP, channel types HALF, FLOAT and UINT; that is what the compositor's File
Output node writes with `exr_codec='NONE'` or `'ZIP'`.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import ExrError

__all__ = ["ExrError", "read_exr_channels"]

_MAGIC = 20000630
_TYPES = {0: np.dtype("<u4"), 1: np.dtype("<f2"), 2: np.dtype("<f4")}
_LINES_PER_BLOCK = {0: 1, 2: 1, 3: 16}  # NONE, ZIPS, ZIP
_MULTIPART = 0x1000


def _read_header(data: bytes, pos: int, path) -> tuple[dict, int]:
    header: dict = {}
    while True:
        end = data.index(b"\0", pos)
        name = data[pos:end].decode("latin-1")
        pos = end + 1
        if not name:
            return header, pos
        end = data.index(b"\0", pos)
        kind = data[pos:end].decode("latin-1")
        (size,) = struct.unpack_from("<i", data, end + 1)
        value = data[end + 5 : end + 5 + size]
        pos = end + 5 + size
        if kind == "chlist":
            channels, p = [], 0
            while value[p] != 0:
                e = value.index(b"\0", p)
                channel = value[p:e].decode("latin-1")
                (ptype,) = struct.unpack_from("<i", value, e + 1)
                channels.append((channel, ptype))
                p = e + 17
            header[name] = channels
        elif kind == "box2i":
            header[name] = struct.unpack("<4i", value)
        elif kind == "compression":
            header[name] = value[0]
        elif kind in ("string", "int"):
            header[name] = (
                value.decode("latin-1") if kind == "string" else struct.unpack("<i", value)[0]
            )


def _undo_zip(raw: bytes, expected: int) -> bytes:
    """ZIP/ZIPS: zlib, then the byte interleave and delta predictor of the OpenEXR spec."""
    t = np.frombuffer(zlib.decompress(raw), dtype=np.uint8).astype(np.int32)
    if len(t) != expected:
        raise ValueError("decompressed size mismatch")
    t = np.cumsum(np.concatenate([t[:1], t[1:] - 128])) & 0xFF
    t = t.astype(np.uint8)
    half = (len(t) + 1) // 2
    out = np.empty_like(t)
    out[0::2], out[1::2] = t[:half], t[half:]
    return out.tobytes()


def read_exr_channels(path: str | Path) -> dict[str, np.ndarray]:
    """All channels of all parts as float32 arrays (H, W), keyed 'part.channel' for named parts."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ExrError(f"{path}: cannot read EXR: {exc.strerror or exc}") from None
    if len(data) < 8 or struct.unpack_from("<i", data, 0)[0] != _MAGIC:
        raise ExrError(f"{path}: not an OpenEXR file")
    (flags,) = struct.unpack_from("<i", data, 4)
    if flags & 0x200:
        raise ExrError(f"{path}: tiled EXR is not supported")
    pos, headers = 8, []
    try:
        while True:
            header, pos = _read_header(data, pos, path)
            headers.append(header)
            if not flags & _MULTIPART or data[pos] == 0:
                break
        if flags & _MULTIPART:
            pos += 1
        result: dict[str, np.ndarray] = {}
        tables = []
        for header in headers:
            x0, y0, x1, y1 = header["dataWindow"]
            comp = header.get("compression", 0)
            if comp not in _LINES_PER_BLOCK:
                raise ExrError(f"{path}: EXR compression {comp} is not supported (use NONE or ZIP)")
            blocks = -(-(y1 - y0 + 1) // _LINES_PER_BLOCK[comp])
            tables.append(struct.unpack_from(f"<{blocks}Q", data, pos))
            pos += 8 * blocks
        for header, table in zip(headers, tables, strict=True):
            x0, y0, x1, y1 = header["dataWindow"]
            width, height = x1 - x0 + 1, y1 - y0 + 1
            channels = sorted(header["channels"])
            comp = header.get("compression", 0)
            planes = {name: np.zeros((height, width), np.float32) for name, _ in channels}
            for offset in table:
                p = offset + (4 if flags & _MULTIPART else 0)
                y, size = struct.unpack_from("<ii", data, p)
                raw = data[p + 8 : p + 8 + size]
                lines = min(_LINES_PER_BLOCK[comp], y1 + 1 - y)
                line_bytes = sum(width * _TYPES[t].itemsize for _, t in channels)
                if comp != 0 and size < lines * line_bytes:
                    raw = _undo_zip(raw, lines * line_bytes)
                q = 0
                for row in range(y - y0, y - y0 + lines):
                    for name, ptype in channels:
                        n = width * _TYPES[ptype].itemsize
                        planes[name][row] = np.frombuffer(raw[q : q + n], _TYPES[ptype])
                        q += n
            prefix = header.get("name")
            for name, plane in planes.items():
                key = name if not prefix or name.startswith(prefix + ".") else f"{prefix}.{name}"
                result[key] = plane
        return result
    except ExrError:
        raise
    except (struct.error, ValueError, KeyError, IndexError, zlib.error) as exc:
        raise ExrError(f"{path}: corrupt or unsupported EXR ({exc})") from None
