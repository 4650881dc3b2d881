"""The EXR reader against files written by an independent, minimal encoder in this test."""

import struct
import zlib

import numpy as np
import pytest

from blender_addon.core.exr import ExrError, read_exr_channels


def _attr(name: str, kind: str, value: bytes) -> bytes:
    return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value


def _zip_block(raw: bytes) -> bytes:
    b = np.frombuffer(raw, np.uint8)
    inter = np.concatenate([b[0::2], b[1::2]]).astype(np.int32)
    pred = inter.copy()
    pred[1:] = (inter[1:] - inter[:-1] + 128) & 0xFF
    return zlib.compress(pred.astype(np.uint8).tobytes())


def _write_exr(path, planes: dict, compression: int = 0, part_name: str | None = None):
    names = sorted(planes)
    h, w = planes[names[0]].shape
    chlist = b"".join(n.encode() + b"\0" + struct.pack("<i4xii", 2, 1, 1) for n in names) + b"\0"
    header = (
        _attr("channels", "chlist", chlist)
        + _attr("compression", "compression", bytes([compression]))
        + _attr("dataWindow", "box2i", struct.pack("<4i", 0, 0, w - 1, h - 1))
        + _attr("displayWindow", "box2i", struct.pack("<4i", 0, 0, w - 1, h - 1))
        + _attr("lineOrder", "lineOrder", b"\0")
    )
    multipart = part_name is not None
    if multipart:
        header += _attr("name", "string", part_name.encode()) + _attr(
            "type", "string", b"scanlineimage"
        )
    lines = 16 if compression == 3 else 1
    blocks = []
    for y in range(0, h, lines):
        raw = b"".join(
            planes[n][row].astype("<f4").tobytes()
            for row in range(y, min(h, y + lines))
            for n in names
        )
        data = _zip_block(raw) if compression else raw
        if len(data) >= len(raw):  # the OpenEXR rule: keep incompressible blocks raw
            data = raw
        prefix = struct.pack("<i", 0) if multipart else b""
        blocks.append(prefix + struct.pack("<ii", y, len(data)) + data)
    flags = 2 | (0x1000 if multipart else 0)
    head = struct.pack("<ii", 20000630, flags) + header + b"\0" + (b"\0" if multipart else b"")
    offset = len(head) + 8 * len(blocks)
    table = []
    for block in blocks:
        table.append(offset)
        offset += len(block)
    path.write_bytes(head + struct.pack(f"<{len(table)}Q", *table) + b"".join(blocks))


@pytest.mark.parametrize("compression,part", [(0, None), (3, None), (0, "mask"), (3, "mask")])
def test_reads_back_planes(tmp_path, compression, part):
    rng = np.random.default_rng(1)
    smooth = np.round(rng.random((37, 21)), 1).astype(np.float32)  # compressible: ZIP path
    planes = {"V": np.round(rng.normal(size=(37, 21)), 1).astype(np.float32), "A": smooth}
    path = tmp_path / "x.exr"
    _write_exr(path, planes, compression, part)
    got = read_exr_channels(path)
    prefix = f"{part}." if part else ""
    for name, plane in planes.items():
        np.testing.assert_array_equal(got[prefix + name], plane)


def test_rejects_non_exr_with_the_file_name(tmp_path):
    bad = tmp_path / "bad.exr"
    bad.write_bytes(b"not an exr file")
    with pytest.raises(ExrError, match="bad.exr"):
        read_exr_channels(bad)
