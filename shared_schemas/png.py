"""A small PNG codec on the standard library, so Blender's Python can write 16-bit masks without extra packages.

Writes non-interlaced grey/RGB/RGBA PNGs at 8 or 16 bits (16-bit samples big-endian, as PNG stores them),
and 8-bit palette PNGs from rows a caller has already filtered (`png_from_scanlines`).
Reads what it writes and any non-interlaced, non-palette PNG; the Sub/Average/Paeth row filters are undone
in pure Python, so reading large images written by other encoders is slow (use imageio there).
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass

from .atomic import atomic_write_bytes

__all__ = ["PngImage", "write_png", "encode_png", "png_from_scanlines", "read_png", "png_size"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type
_CHANNELS = {v: k for k, v in _COLOR_TYPE.items()}


@dataclass(frozen=True)
class PngImage:
    width: int
    height: int
    channels: int
    bit_depth: int
    data: bytes  # rows top to bottom, samples interleaved, 16-bit big-endian


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _check_format(channels: int, bit_depth: int) -> None:
    if channels not in _COLOR_TYPE:
        raise ValueError(f"PNG: unsupported channel count {channels} (1, 2, 3 or 4)")
    if bit_depth not in (8, 16):
        raise ValueError(f"PNG: unsupported bit depth {bit_depth} (8 or 16)")


def encode_png(
    data: bytes, width: int, height: int, channels: int = 1, bit_depth: int = 8
) -> bytes:
    _check_format(channels, bit_depth)
    stride = width * channels * bit_depth // 8
    data = bytes(data)
    if len(data) != stride * height:
        raise ValueError(
            f"PNG: expected {stride * height} bytes for {width}x{height}x{channels}, got {len(data)}"
        )
    # Filter type 0 on every row: fast to write and to read back with read_png.
    raw = b"".join(b"\x00" + data[y * stride : (y + 1) * stride] for y in range(height))
    return png_from_scanlines(raw, width, height, channels, bit_depth)


def png_from_scanlines(
    scanlines,
    width: int,
    height: int,
    channels: int = 1,
    bit_depth: int = 8,
    *,
    palette: bytes | None = None,
    level: int = 6,
    strategy: int = zlib.Z_DEFAULT_STRATEGY,
) -> bytes:
    """A PNG of rows already filtered: `height` rows, each its filter type byte (0-4) and then its
    filtered bytes (any bytes-like object). With `palette` (RGB triples, at most 256) the 8-bit
    grey samples are indices into it. `level` and `strategy` are zlib's."""
    _check_format(channels, bit_depth)
    stride = width * channels * bit_depth // 8
    if len(memoryview(scanlines).cast("B")) != (stride + 1) * height:
        raise ValueError(f"PNG: expected {height} rows of 1 + {stride} bytes")
    colour = _COLOR_TYPE[channels]
    chunks = []
    if palette is not None:
        if channels != 1 or bit_depth != 8 or not 0 < len(palette) <= 768 or len(palette) % 3:
            raise ValueError("PNG: a palette needs 8-bit indices and 1 to 256 RGB triples")
        colour = 3
        chunks.append(_chunk(b"PLTE", bytes(palette)))
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    # the window and memory level of zlib.compress, so encode_png writes the bytes it always did
    packer = zlib.compressobj(level, zlib.DEFLATED, 15, 8, strategy)
    compressed = packer.compress(scanlines) + packer.flush()
    return b"".join(
        [
            _SIGNATURE,
            _chunk(b"IHDR", header),
            *chunks,
            _chunk(b"IDAT", compressed),
            _chunk(b"IEND", b""),
        ]
    )


def write_png(
    path: str | os.PathLike,
    data: bytes,
    width: int,
    height: int,
    channels: int = 1,
    bit_depth: int = 8,
) -> None:
    """Write atomically. `data` is any bytes-like object (e.g. `array.astype('>u2').tobytes()`)."""
    atomic_write_bytes(path, encode_png(data, width, height, channels, bit_depth))


def _read_header(f, path) -> tuple[int, int, int, int, int]:
    if f.read(8) != _SIGNATURE:
        raise ValueError(f"{path}: not a PNG file")
    length, kind = struct.unpack(">I4s", f.read(8))
    if kind != b"IHDR" or length != 13:
        raise ValueError(f"{path}: PNG without IHDR header")
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", f.read(13))
    return width, height, depth, color, interlace


def png_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) from the header alone."""
    with open(path, "rb") as f:
        width, height, *_ = _read_header(f, path)
    return width, height


def _unfilter(raw: bytes, height: int, stride: int, bpp: int, path) -> bytes:
    out = bytearray(stride * height)
    prev = bytearray(stride)
    pos = 0
    for y in range(height):
        ftype = raw[pos]
        line = bytearray(raw[pos + 1 : pos + 1 + stride])
        pos += stride + 1
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        elif ftype != 0:
            raise ValueError(f"{path}: corrupt PNG (row filter {ftype})")
        out[y * stride : (y + 1) * stride] = line
        prev = line
    return bytes(out)


def read_png(path: str | os.PathLike) -> PngImage:
    with open(path, "rb") as f:
        width, height, depth, color, interlace = _read_header(f, path)
        f.read(4)  # IHDR CRC
        if color not in _CHANNELS or depth not in (8, 16) or interlace:
            raise ValueError(
                f"{path}: unsupported PNG (colour type {color}, depth {depth}, interlace {interlace})"
            )
        idat = bytearray()
        while True:
            head = f.read(8)
            if len(head) < 8:
                raise ValueError(f"{path}: truncated PNG")
            length, kind = struct.unpack(">I4s", head)
            body = f.read(length)
            f.read(4)
            if kind == b"IDAT":
                idat += body
            elif kind == b"IEND":
                break
    channels = _CHANNELS[color]
    bpp = channels * depth // 8
    stride = width * bpp
    try:
        raw = zlib.decompress(bytes(idat))
    except zlib.error as exc:
        raise ValueError(f"{path}: corrupt PNG data ({exc})") from None
    if len(raw) != (stride + 1) * height:
        raise ValueError(f"{path}: corrupt PNG (image data of wrong length)")
    return PngImage(width, height, channels, depth, _unfilter(raw, height, stride, bpp, path))
