"""Anomaly maps and predictions as pictures, with numpy alone: the predict path's images.

matplotlib costs about a second to import and scipy.ndimage half of one, and predicting needs
neither: the inferno colour map is a fixed table of 256 colours (copied from matplotlib 3.11, see
tests/seqcore_train/test_map_images.py, which checks it against matplotlib), looked up as matplotlib
looks it up, and a mask's outline is a four-neighbour erosion. Both give the same bytes as
matplotlib's colormap and scipy's `binary_erosion`, on uint8 and float32 arrays the size of one
image, never float64 RGBA (a 2448 x 2050 map in float64 RGBA is 160 MB).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "INFERNO",
    "CORRECT",
    "FALSE_ALARM",
    "MISSED",
    "heatmap_index",
    "heatmap_rgb",
    "outline",
    "overlay_rgb",
]

# matplotlib's "inferno" as uint8 RGB, `colormaps["inferno"](np.arange(256), bytes=True)[:, :3]`,
# plus one black row for NaN (matplotlib's "bad" colour is transparent black).
_INFERNO_HEX = (
    "00000300000400000601000701010901010b02010e02021003021204031404031605041806041b07051d08061f090621"
    "0a07230b07260d08280e082a0f092d10092f120a32130a34140b36160b39170b3b190b3e1a0b401c0c431d0c451f0c47"
    "200c4a220b4c240b4e260b50270b52290b542b0a562d0a582e0a5a300a5c32095d34095f3509603709613909623b0964"
    "3c09653e0966400966410967430a68450a69460a69480b6a4a0b6a4b0c6b4d0c6b4f0d6c500d6c520e6c530e6d550f6d"
    "570f6d58106d5a116d5b116e5d126e5f126e60136e62146e63146e65156e66156e68166e6a176e6b176e6d186e6e186e"
    "70196e72196d731a6d751b6d761b6d781c6d7a1c6d7b1d6c7d1d6c7e1e6c801f6b811f6b83206b85206a86216a88216a"
    "8922698b22698d23698e24689024689125679325679526669626669827659928649b28649c29639e2963a02a62a12b61"
    "a32b61a42c60a62c5fa72d5fa92e5eab2e5dac2f5cae305baf315bb1315ab23259b43358b53357b73456b83556ba3655"
    "bb3754bd3753be3852bf3951c13a50c23b4fc43c4ec53d4dc73e4cc83e4bc93f4acb4049cc4148cd4247cf4446d04544"
    "d14643d24742d44841d54940d64a3fd74b3ed94d3dda4e3bdb4f3adc5039dd5238de5337df5436e05634e25733e35832"
    "e45a31e55b30e65c2ee65e2de75f2ce8612be9622aea6428eb6527ec6726ed6825ed6a23ee6c22ef6d21f06f1ff0701e"
    "f1721df2741cf2751af37719f37918f47a16f57c15f57e14f68012f68111f78310f7850ef8870df8880cf88a0bf98c09"
    "f98e08f99008fa9107fa9306fa9506fa9706fb9906fb9b06fb9d06fb9e07fba007fba208fba40afba60bfba80dfbaa0e"
    "fbac10fbae12fbb014fbb116fbb318fbb51afbb71cfbb91efabb21fabd23fabf25fac128f9c32af9c52cf9c72ff8c931"
    "f8cb34f8cd37f7cf3af7d13cf6d33ff6d542f5d745f5d948f4db4bf4dc4ff3de52f3e056f3e259f2e45df2e660f1e864"
    "f1e968f1eb6cf1ed70f1ee74f1f079f1f27df2f381f2f485f3f689f4f78df5f891f6fa95f7fb99f9fc9dfafda0fcfea4"
)
INFERNO = np.frombuffer(bytes.fromhex(_INFERNO_HEX), np.uint8).reshape(256, 3)
_LOOKUP = np.concatenate([INFERNO, np.zeros((1, 3), np.uint8)])


def heatmap_index(anomaly_map: np.ndarray, vmin: float, vmax: float) -> np.ndarray | None:
    """(H, W) scores -> (H, W) uint8 rows of INFERNO over vmin..vmax, or None when the map holds
    a NaN (its colour, black, is a 257th row). A PNG of these indices with INFERNO as its palette
    shows `heatmap_rgb`'s pixels from a third of the bytes and encodes in a third of the time."""
    if anomaly_map.dtype.kind != "f":
        anomaly_map = anomaly_map.astype(np.float64)  # as numpy promotes integers with a float
    # matplotlib's lookup, in the map's own precision: x = (value - vmin) / (vmax - vmin), then
    # (x clipped to 0..1) * N truncated to an index, with x == 1 in the last bin
    scaled = anomaly_map - anomaly_map.dtype.type(vmin)
    scaled /= anomaly_map.dtype.type(max(vmax - vmin, 1e-12))
    if np.isnan(scaled).any():
        return None
    scaled *= len(INFERNO)  # a power of two: exact
    np.clip(scaled, 0, len(INFERNO) - 1, out=scaled)
    return scaled.astype(np.uint8)


def heatmap_rgb(anomaly_map: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """(H, W) scores -> (H, W, 3) uint8 with the inferno colour map over vmin..vmax (NaN: black)."""
    index = heatmap_index(anomaly_map, vmin, vmax)
    if index is not None:
        return INFERNO[index]
    bad = np.isnan(anomaly_map)
    index = heatmap_index(np.where(bad, vmin, anomaly_map), vmin, vmax).astype(np.int16)
    index[bad] = len(INFERNO)  # _LOOKUP's black row
    return _LOOKUP[index]


def outline(mask: np.ndarray) -> np.ndarray:
    """The pixels of `mask` with a four-neighbour outside it (or on the image border): scipy's
    `mask & ~binary_erosion(mask, border_value=0)` with its default cross."""
    mask = np.asarray(mask, dtype=bool)
    eroded = mask.copy()
    eroded[1:] &= mask[:-1]
    eroded[:-1] &= mask[1:]
    eroded[:, 1:] &= mask[:, :-1]
    eroded[:, :-1] &= mask[:, 1:]
    eroded[[0, -1]] = False
    eroded[:, [0, -1]] = False
    return mask & ~eroded


_BAND = 64  # image rows converted at a time (a float32 band of 512 columns: 128 kB, in cache)

# RGB in [0, 1]: correct prediction, false alarm, missed truth
CORRECT, FALSE_ALARM, MISSED = (0.1, 0.85, 0.2), (1.0, 0.25, 0.1), (0.2, 0.5, 1.0)


def overlay_rgb(
    image: np.ndarray, predicted: np.ndarray, truth: np.ndarray | None = None
) -> np.ndarray:
    """The image with predictions tinted: green = correct, red = false alarm, blue outline = missed
    truth (without truth: red tint and outline for every predicted pixel).

    Each layer's pixels are 0.55 image + 0.45 colour, its outline the colour itself, in float32
    and then truncated to uint8; the layers are disjoint, so only their pixels are computed in
    float and the rest of the image goes straight to uint8.
    """
    if truth is None:
        layers = [(predicted, FALSE_ALARM)]
    else:
        layers = [
            (predicted & truth, CORRECT),
            (predicted & ~truth, FALSE_ALARM),
            (truth & ~predicted, MISSED),
        ]
    out = np.empty(image.shape, np.uint8)
    # The image to uint8 one channel of a band of rows at a time, through one small float32
    # buffer: no float copy of the whole image, and a channel of the model's (3, H, W) batch,
    # which `image` may be a view of, is read in memory order (2.7x faster than whole pixels).
    buffer = np.empty((min(_BAND, len(image)), image.shape[1]), np.float32)
    for start in range(0, len(image), _BAND):
        rows = slice(start, start + _BAND)
        band = buffer[: min(_BAND, len(image) - start)]
        for channel in range(image.shape[2]):
            np.clip(image[rows, :, channel], 0, 1, out=band)  # float64: the float32 of the clip
            band *= 255
            out[rows, :, channel] = band
    for mask, colour in layers:
        if not mask.any():
            continue
        colour = np.asarray(colour, np.float32)
        ring = outline(mask)
        inside = mask & ~ring
        tinted = 0.55 * np.clip(image[inside], 0, 1).astype(np.float32) + 0.45 * colour
        out[inside] = (tinted * 255).astype(np.uint8)
        out[ring] = (colour * 255).astype(np.uint8)
    return out
