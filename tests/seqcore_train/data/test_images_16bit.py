"""16-bit colour PNGs reach training with all 16 bits: the low byte is not truncated away.

The files are encoded here with every PNG row filter (None, Sub, Up, Average, Paeth), the filters other
encoders (Blender, cameras) use, by a small encoder written from the PNG specification, so the decoder is
checked against an independent implementation rather than against itself.
"""

import struct
import zlib

import numpy as np
import pytest

from seqcore_train.data.datasets import open_datasets
from seqcore_train.data.images import read_rgb


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _filtered_png16(values: np.ndarray) -> bytes:
    """RGB uint16 (H, W, 3) as a PNG whose rows cycle through the five filter types (PNG spec §9)."""
    height, width, channels = values.shape
    rows = values.astype(">u2").reshape(height, -1).view(np.uint8)
    bpp, stride = channels * 2, width * channels * 2
    raw, prev = bytearray(), [0] * stride
    for y in range(height):
        line, ftype = rows[y].tolist(), y % 5
        out = []
        for i, x in enumerate(line):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            pred = (0, a, b, (a + b) // 2, _paeth(a, b, c))[ftype]
            out.append((x - pred) & 0xFF)
        raw += bytes([ftype, *out])
        prev = line
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    signature = b"\x89PNG\r\n\x1a\n"
    return (
        signature + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(raw)))
        + chunk(b"IEND", b"")
    )  # fmt: skip


@pytest.fixture
def deep_png(tmp_path):
    rng = np.random.default_rng(16)
    # high bytes equal, low bytes differ: an 8-bit reader sees one flat grey, a 16-bit one a texture
    values = (0x8000 + rng.integers(0, 256, size=(10, 13, 3))).astype(np.uint16)
    path = tmp_path / "deep" / "plate.png"
    path.parent.mkdir()
    path.write_bytes(_filtered_png16(values))
    return path, values


def test_sixteen_bit_png_with_every_row_filter_is_read_exactly(deep_png):
    path, values = deep_png
    image = read_rgb(path)
    assert image.dtype == np.float32 and image.shape == values.shape
    expected = values.astype(np.float64) / 65535.0
    assert np.abs(image - expected).max() < 1e-6  # float32 of k/65535
    # the low byte carries the whole signal: it must survive (an 8-bit read would be flat)
    assert np.ptp(image) * 65535 > 200


def test_sixteen_bit_png_reaches_a_dataset_untruncated(deep_png):
    path, values = deep_png
    data = open_datasets([str(path.parent)])
    image = data.load(data.records[0]).image
    assert np.abs(image - values.astype(np.float64) / 65535.0).max() < 1e-6
