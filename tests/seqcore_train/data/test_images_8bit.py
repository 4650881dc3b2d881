"""predict's fast 8-bit PNG encoder (heat maps as palette PNGs, masks as grey PNGs) against
independent decoders: Pillow (its own zlib and unfiltering), libpng (through torchvision) and the
standard-library reader in shared_schemas.
"""

import io
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from seqcore_train.data.images import write_png_8bit
from seqcore_train.evaluation.map_images import INFERNO, heatmap_index, heatmap_rgb
from shared_schemas import png_from_scanlines, read_png


def _libpng(path, mode):
    with warnings.catch_warnings():  # torchvision 0.29 announces a move to torchcodec
        warnings.simplefilter("ignore", DeprecationWarning)
        from torchvision.io import ImageReadMode, decode_png

        encoded = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
        return decode_png(encoded, mode=getattr(ImageReadMode, mode)).permute(1, 2, 0).numpy()


# Random rows wrap around in the Up filter's modulo-256 differences; a single row and a single
# column are the edge cases of the filter's first row.
SHAPES = [(37, 53), (1, 9), (9, 1), (64, 64)]


@pytest.mark.parametrize("shape", SHAPES)
def test_grey_png_decodes_to_the_same_bytes(tmp_path, shape):
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    path = tmp_path / "grey.png"
    write_png_8bit(path, pixels)
    with Image.open(path) as picture:
        assert picture.mode == "L"
        np.testing.assert_array_equal(np.asarray(picture), pixels)
    np.testing.assert_array_equal(_libpng(path, "UNCHANGED")[..., 0], pixels)
    back = read_png(path)
    assert (back.width, back.height, back.channels, back.bit_depth) == (shape[1], shape[0], 1, 8)
    np.testing.assert_array_equal(np.frombuffer(back.data, np.uint8).reshape(shape), pixels)


@pytest.mark.parametrize("shape", SHAPES)
def test_heat_map_png_shows_the_colour_mapped_pixels(tmp_path, shape):
    """A palette PNG of heatmap_index shows exactly heatmap_rgb's colours in every reader."""
    rng = np.random.default_rng(1)
    amap = rng.gamma(2.0, 1.0, shape).astype(np.float32)
    index = heatmap_index(amap, 1.0, 3.0)
    path = tmp_path / "heat.png"
    write_png_8bit(path, index, INFERNO)
    with Image.open(path) as picture:
        assert picture.mode == "P"
        np.testing.assert_array_equal(np.asarray(picture), index)
        np.testing.assert_array_equal(
            np.asarray(picture.convert("RGB")), heatmap_rgb(amap, 1.0, 3.0)
        )
    np.testing.assert_array_equal(_libpng(path, "RGB"), heatmap_rgb(amap, 1.0, 3.0))


def test_mask_png_is_smaller_than_unfiltered(tmp_path):
    """The point of the Up filter: a mask's rows repeat, so their differences are runs of zeros."""
    mask = np.zeros((256, 256), np.uint8)
    mask[40:200, 60:90] = 255
    path = tmp_path / "mask.png"
    write_png_8bit(path, mask)
    unfiltered = io.BytesIO()
    Image.fromarray(mask).save(unfiltered, format="PNG", compress_level=1)
    assert path.stat().st_size < len(unfiltered.getvalue())


def test_scanlines_are_checked():
    with pytest.raises(ValueError, match="expected 2 rows of 1 \\+ 3 bytes"):
        png_from_scanlines(b"\x00" * 7, 3, 2)
    with pytest.raises(ValueError, match="palette needs"):
        png_from_scanlines(b"\x00" * 8, 3, 2, palette=b"\x00" * 4)
    with pytest.raises(ValueError, match="palette needs"):
        png_from_scanlines(b"\x00" * 14, 3, 2, channels=2, palette=b"\x00" * 3)
    with pytest.raises(ValueError, match="unsupported channel count 5"):
        png_from_scanlines(b"\x00" * 32, 3, 2, channels=5)
    with pytest.raises(ValueError, match="unsupported bit depth 4"):
        png_from_scanlines(b"\x00" * 8, 3, 2, bit_depth=4)
