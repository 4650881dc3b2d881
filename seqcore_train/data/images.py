"""Image and mask files: PNG/JPEG in, PNG/JPEG out, through imageio and Pillow (8-bit grey and palette
PNGs through a faster encoder on shared_schemas' PNG writer); every write is atomic.

Pillow (imageio's default plugin) has no 16-bit RGB mode and truncates such PNGs to 8 bits, so 16-bit
colour PNGs (`render.py --bit-depth 16`, line cameras) are decoded by libpng through torchvision, which
keeps all 16 bits, handles every row filter, and is fast at the sensor's 2448 x 2050.
"""

from __future__ import annotations

import io
import os
import warnings
import zlib
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from seqcore_train.errors import DataError
from shared_schemas import atomic_write_bytes, png_from_scanlines, read_png

__all__ = [
    "IMAGE_SUFFIXES",
    "read_rgb",
    "read_mask",
    "write_png",
    "png_bytes",
    "write_png_8bit",
    "png_8bit_bytes",
    "write_jpeg",
    "jpeg_bytes",
    "resize_rgb",
    "resize_nearest",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _png_header(path: Path) -> tuple[int, int] | None:
    """(bit depth, colour type) of a PNG file, None for anything else."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(26)
    except OSError:
        return None
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return head[24], head[25]


def _read_png16_colour(path: Path) -> np.ndarray:
    """16-bit RGB(A) PNG as uint16 (H, W, C), all 16 bits kept (Pillow would truncate to 8)."""
    import torch

    try:
        with warnings.catch_warnings():  # torchvision 0.29 announces a move to torchcodec
            warnings.simplefilter("ignore", DeprecationWarning)
            from torchvision.io import ImageReadMode, decode_png
    except ImportError:  # a torchvision without it: the exact, slower pure-Python reader
        return _read_png16_python(path)
    try:
        encoded = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            decoded = decode_png(encoded, mode=ImageReadMode.UNCHANGED)
    except (OSError, RuntimeError, ValueError) as exc:
        raise DataError(f"{path}: unreadable image ({exc})") from None
    data = decoded.permute(1, 2, 0).contiguous()
    if data.dtype != torch.uint16:  # a decoder that narrowed it would silently lose the low byte
        raise DataError(f"{path}: 16-bit PNG decoded as {data.dtype}")
    return data.view(torch.int16).numpy().view(np.uint16)


def _read_png16_python(path: Path) -> np.ndarray:
    try:
        png = read_png(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable image ({exc})") from None
    data = np.frombuffer(png.data, dtype=">u2").astype(np.uint16)
    return data.reshape(png.height, png.width, png.channels)


def _read(path: Path) -> np.ndarray:
    header = _png_header(path)
    if header is not None and header[0] == 16 and header[1] in (2, 6):
        return _read_png16_colour(path)
    try:
        return np.asarray(iio.imread(path, plugin="pillow"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except Exception as exc:  # imageio raises many types for undecodable files
        raise DataError(f"{path}: unreadable image ({type(exc).__name__})") from None


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """An image as float32 RGB in [0, 1], (H, W, 3); grey is repeated, alpha dropped, 16 bit kept."""
    path = Path(path)
    data = _read(path)
    if data.ndim == 2:
        data = np.repeat(data[..., None], 3, axis=2)
    if data.ndim != 3 or data.shape[2] not in (1, 3, 4):
        raise DataError(f"{path}: expected a grey or RGB image, got shape {data.shape}")
    if data.shape[2] == 1:
        data = np.repeat(data, 3, axis=2)
    data = data[..., :3]
    if data.dtype in (np.uint8, np.uint16):
        scaled = data.astype(np.float32)
        scaled /= np.iinfo(data.dtype).max  # in place: one float copy of the image, not two
        return scaled
    if np.issubdtype(data.dtype, np.floating):
        return np.clip(data.astype(np.float32), 0.0, 1.0)
    raise DataError(f"{path}: unsupported pixel type {data.dtype}")


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """A single-channel integer mask (H, W) as stored (uint8 class ids, uint16 instance ids)."""
    path = Path(path)
    data = _read(path)
    if data.ndim == 3:
        # A mask saved as RGB(A) with equal channels is still a mask; anything else is not.
        if not np.all(data[..., :3] == data[..., :1]):
            raise DataError(f"{path}: mask must be single-channel, got a colour image")
        data = data[..., 0]
    if data.ndim != 2 or not np.issubdtype(data.dtype, np.integer):
        raise DataError(f"{path}: mask must be a single-channel integer image")
    return data


def write_png(path: str | os.PathLike, data: np.ndarray, compress_level: int | None = None) -> None:
    """Write uint8/uint16 (H, W) or (H, W, 3|4) as PNG, atomically (tmp file + os.replace).

    `compress_level` 0-9 is zlib's (None: Pillow's default, 6); 1 encodes a 512^2 heat map or
    mask about twice as fast as 6, for files a little larger (what `predict` uses)."""
    atomic_write_bytes(path, png_bytes(data, compress_level))


def png_bytes(data: np.ndarray, compress_level: int | None = None) -> memoryview:
    """The PNG file `write_png` writes, in memory."""
    buffer = io.BytesIO()
    options = {} if compress_level is None else {"compress_level": int(compress_level)}
    iio.imwrite(buffer, np.ascontiguousarray(data), extension=".png", **options)
    return buffer.getbuffer()


def write_png_8bit(
    path: str | os.PathLike, pixels: np.ndarray, palette: np.ndarray | None = None
) -> None:
    """Write (H, W) uint8 as a grey PNG, or as rows of `palette` ((N <= 256, 3) uint8 RGB), atomically.

    Encoded for speed, as `predict` writes a heat map and a mask per image beside the model: each
    row is stored as its difference to the row above (PNG's "Up" filter, mostly zeros on smooth
    maps and on masks) and deflated with zlib's run-length strategy at level 1. A 512^2 heat map
    takes 3 ms instead of Pillow's 4.2 (zlib level 1, no filter) in a file a quarter smaller; a
    palette picture is one byte per pixel where RGB is three."""
    atomic_write_bytes(path, png_8bit_bytes(pixels, palette))


def png_8bit_bytes(pixels: np.ndarray, palette: np.ndarray | None = None) -> bytes:
    """The PNG file `write_png_8bit` writes, in memory."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width = pixels.shape
    rows = np.empty((height, width + 1), np.uint8)
    rows[:, 0] = 2  # filter type "Up"; above the first row is a row of zeros
    rows[0, 1:] = pixels[0]
    np.subtract(pixels[1:], pixels[:-1], out=rows[1:, 1:])  # modulo 256, as PNG wants
    colours = None if palette is None else np.ascontiguousarray(palette, dtype=np.uint8).tobytes()
    return png_from_scanlines(rows, width, height, palette=colours, level=1, strategy=zlib.Z_RLE)


def write_jpeg(path: str | os.PathLike, data: np.ndarray, quality: int = 90) -> None:
    """Write uint8 (H, W, 3) as JPEG, atomically: for pictures people look at, not for data.

    A noisy 512^2 photo costs zlib ~50 ms as PNG at any level (it barely compresses) and
    libjpeg ~2.5 ms, a third of the size."""
    atomic_write_bytes(path, jpeg_bytes(data, quality))


def jpeg_bytes(data: np.ndarray, quality: int = 90) -> memoryview:
    """The JPEG file `write_jpeg` writes, in memory."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(data)).save(buffer, format="JPEG", quality=quality)
    return buffer.getbuffer()


def resize_rgb(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear (antialiased) resize of (H, W, 3) float32 to (height, width) = size."""
    import torch
    import torch.nn.functional as F

    if image.shape[:2] == tuple(size):
        return image
    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]
    out = F.interpolate(
        tensor, size=tuple(size), mode="bilinear", antialias=True, align_corners=False
    )
    return out[0].permute(1, 2, 0).clamp(0, 1).numpy()


def resize_nearest(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a label mask (H, W) to (height, width) = size, labels kept."""
    height, width = mask.shape
    if (height, width) == tuple(size):
        return mask
    rows = np.minimum((np.arange(size[0]) + 0.5) * height / size[0], height - 1).astype(np.intp)
    cols = np.minimum((np.arange(size[1]) + 0.5) * width / size[1], width - 1).astype(np.intp)
    return mask[rows[:, None], cols[None, :]]
