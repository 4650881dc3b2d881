"""The standard-library PNG codec against an independent decoder (imageio/Pillow)."""

import imageio.v3 as iio
import numpy as np
import pytest

from shared_schemas import png_size, read_png, write_png


@pytest.mark.parametrize(
    ("shape", "dtype", "channels", "depth"),
    [
        ((5, 7), np.uint8, 1, 8),
        ((4, 3, 3), np.uint8, 3, 8),
        ((6, 5), np.uint16, 1, 16),
        ((3, 4, 4), np.uint8, 4, 8),
    ],
)
def test_written_png_decodes_identically(tmp_path, shape, dtype, channels, depth):
    rng = np.random.default_rng(0)
    array = rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)
    path = tmp_path / "x.png"
    write_png(
        path,
        array.astype(array.dtype.newbyteorder(">")).tobytes(),
        shape[1],
        shape[0],
        channels,
        depth,
    )
    np.testing.assert_array_equal(iio.imread(path), array)
    assert png_size(path) == (shape[1], shape[0])
    back = read_png(path)
    decoded = np.frombuffer(back.data, dtype=np.dtype(dtype).newbyteorder(">")).reshape(shape)
    np.testing.assert_array_equal(decoded, array)


def test_reads_filtered_png_from_another_encoder(tmp_path):
    rng = np.random.default_rng(1)
    array = (np.add.outer(np.arange(20), np.arange(30)) * 3 % 256).astype(np.uint8)
    array[5:9, 4:12] = rng.integers(0, 255, size=(4, 8))
    path = tmp_path / "pillow.png"
    iio.imwrite(path, np.stack([array, array[::-1], ((array * 7) % 256).astype(np.uint8)], axis=-1))
    back = read_png(path)
    decoded = np.frombuffer(back.data, np.uint8).reshape(20, 30, 3)
    np.testing.assert_array_equal(decoded, iio.imread(path))


def test_wrong_length_and_garbage(tmp_path):
    with pytest.raises(ValueError, match="expected 6 bytes"):
        write_png(tmp_path / "a.png", b"\x00" * 5, 3, 2)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match="not a PNG"):
        png_size(bad)
