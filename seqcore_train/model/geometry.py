"""Where feature cells sit in the image, and resampling that respects it.

A feature cell of a CNN stage describes the image region around its receptive field's centre. With
padding, that centre is not at `stride * i`: TensorFlow "same" padding puts the extra pixel after
the input, so a stride-8 EfficientNet-Lite cell `i` is centred at `8 i + 7` on a multiple-of-8
input and elsewhere on other sizes. `CellTracer` follows every strided layer as it runs and keeps,
per axis, the affine map cell index -> pixel coordinate (`Axis`), for the exact input size.
Coarser stages are then resampled onto the finest grid, and cell scores onto pixels, by those
centres, so an anomaly at pixel (y, x) lights up at (y, x) at every image size.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["Axis", "CellTracer", "interpolate_axis", "resample_to_axes"]


@dataclass(frozen=True)
class Axis:
    """Cell `i` of this axis is centred on pixel coordinate `offset + step * i` (pixel j at j)."""

    step: float = 1.0
    offset: float = 0.0

    def then(self, stride: int, shift: float) -> Axis:
        """The axis after a layer whose output cell `i` is centred on input cell `stride * i + shift`."""
        return Axis(self.step * stride, self.offset + self.step * shift)

    def centres(self, cells: int) -> torch.Tensor:
        return self.offset + self.step * torch.arange(cells, dtype=torch.float64)

    def positions_of(self, coords: torch.Tensor) -> torch.Tensor:
        """Fractional cell indices of pixel coordinates."""
        return (coords - self.offset) / self.step


_WINDOWED = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _shift(module: nn.Module, axis: int, size: int) -> tuple[int, float]:
    """(stride, centre of output cell 0 in input cells) of one axis of a windowed layer."""
    kernel, stride = _pair(module.kernel_size)[axis], _pair(module.stride)[axis]
    dilation = _pair(getattr(module, "dilation", 1))[axis]
    if hasattr(module, "axis_padding"):  # padding that depends on the input size (TF "same")
        before = module.axis_padding(size, axis)[0]
    else:  # PyTorch allows no string padding ("same") on strided layers
        before = _pair(module.padding)[axis]
    return stride, dilation * (kernel - 1) / 2 - before


class CellTracer:
    """Follows the strided layers of `modules` during a forward pass and keeps the axes reached.

    Stride-1 layers are assumed to pad symmetrically (true of every registered backbone), so only
    strided ones move centres. A strided layer whose input is not the current resolution is a side
    branch (ResNet's downsampling shortcut) of a step already followed, and is skipped.
    """

    def __init__(self, modules: Iterable[nn.Module]):
        self.active = False
        self.size: tuple[int, int] = (0, 0)
        self.axes = (Axis(), Axis())
        for module in modules:
            if isinstance(module, _WINDOWED) and max(_pair(module.stride)) > 1:
                module.register_forward_hook(self._follow)

    def start(self, size: tuple[int, int]) -> None:
        self.active, self.size, self.axes = True, tuple(size), (Axis(), Axis())

    def stop(self) -> None:
        self.active = False

    def _follow(self, module, args, output) -> None:
        if not self.active or tuple(args[0].shape[-2:]) != self.size:
            return
        self.axes = tuple(
            axis.then(*_shift(module, a, self.size[a])) for a, axis in enumerate(self.axes)
        )
        self.size = tuple(output.shape[-2:])


def interpolate_axis(x: torch.Tensor, dim: int, positions: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of `x` along `dim` at fractional indices (clamped to the ends)."""
    n = x.shape[dim]
    pos = positions.to(torch.float64).clamp(0, n - 1)
    lo = pos.floor().long().clamp(max=n - 1)
    hi = (lo + 1).clamp(max=n - 1)
    shape = [1] * x.ndim
    shape[dim] = len(pos)
    w = (pos - lo).to(x.dtype).to(x.device).view(shape)
    lo, hi = lo.to(x.device), hi.to(x.device)
    return x.index_select(dim, lo) * (1 - w) + x.index_select(dim, hi) * w


def resample_to_axes(
    x: torch.Tensor,
    source: tuple[Axis, Axis],
    target: tuple[Axis, Axis],
    size: tuple[int, int],
) -> torch.Tensor:
    """(..., h, w) values at `source` centres -> (..., H, W) at `target` centres (bilinear)."""
    for a in (0, 1):
        positions = source[a].positions_of(target[a].centres(size[a]))
        x = interpolate_axis(x, x.ndim - 2 + a, positions)
    return x
