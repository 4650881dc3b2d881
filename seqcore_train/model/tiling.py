"""Tiles that let a backbone see a large image piece by piece and give the whole image's features.

A feature cell depends only on the pixels of its receptive field. A tile that reaches at least that
far (the halo) beyond the cells it is asked for computes them exactly as the whole image would, as
long as the tile's grid lines up with the image's:
  * a tile starts at a multiple of `align`, the backbone's total stride, so every strided layer
    samples the same input positions;
  * with TensorFlow "same" padding the amount padded before a strided layer depends on the parity
    of its input size. A tile whose size is congruent to the image's modulo `align` has the same
    parity at every strided layer, so it is padded the same way (the last tile, which ends at the
    image's edge, is congruent by construction).
Everything here is integer bookkeeping; features.py runs the backbone on the tiles.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["Span", "plan_axis", "plan_tiles", "receptive_field", "trace_size"]


@dataclass(frozen=True)
class Span:
    """One tile along one axis: the pixels it reads [start, stop) and those it answers for."""

    start: int
    stop: int
    core_start: int
    core_stop: int
    at_end: bool  # the core reaches the image's edge

    def cells(self, stride: int, total: int) -> tuple[slice, slice]:
        """(cells of the tile's output, cells of the image's output) of the core, at `stride`.

        `total` is the image's cell count at that stride; the last core takes the partial cell.
        """
        first = self.core_start // stride
        last = total if self.at_end else self.core_stop // stride
        offset = self.start // stride
        return slice(first - offset, last - offset), slice(first, last)


def _ceil_to(value: int, step: int) -> int:
    return -(-value // step) * step


def plan_axis(size: int, core: int, halo: int, align: int) -> list[Span]:
    """Tiles covering `size` pixels: cores of `core` pixels, each read with `halo` pixels around it.

    `core` and `halo` are rounded up to multiples of `align`, and the cores evened out so that the
    last is not a sliver. One tile when a core and its halo cover everything.
    """
    if min(size, core, align) < 1 or halo < 0:
        raise ValueError(f"bad tiling: size {size}, core {core}, halo {halo}, align {align}")
    core, halo = _ceil_to(core, align), _ceil_to(halo, align)
    if size <= core + halo:
        return [Span(0, size, 0, size, True)]
    core = _ceil_to(-(-size // -(-size // core)), align)  # balanced: no sliver of a last core
    spans = []
    for core_start in range(0, size, core):
        core_stop = min(core_start + core, size)
        start = max(0, core_start - halo)
        stop = core_stop + halo
        if stop >= size:
            stop = size
        else:  # congruent to the image's size modulo align: same padding at every strided layer
            stop += (size - stop) % align
        spans.append(Span(start, stop, core_start, core_stop, core_stop == size))
    return spans


def plan_tiles(
    height: int, width: int, max_pixels: int, halo: int, align: int
) -> tuple[list[Span], list[Span]]:
    """(row spans, column spans) whose tiles hold at most about `max_pixels` pixels each.

    (Unless that leaves a core narrower than the halo: then cores are as wide as the halo.)

    Of three layouts (full-width strips, full-height strips, square tiles) the one that reads the
    fewest pixels in all wins: every halo is computed twice, so fewer, longer cuts are cheaper.
    A whole image that fits is one tile.
    """
    if height * width <= max_pixels:
        return [Span(0, height, 0, height, True)], [Span(0, width, 0, width, True)]
    # A core narrower than the halo would spend most of every pass on the halo: such a budget is
    # too small for this backbone, so the tiles grow past it rather than crawl.
    least = max(align, _ceil_to(halo, align))
    margin = 2 * _ceil_to(halo, align)
    edge = max(least, int(max_pixels**0.5) - margin)
    layouts = [
        (plan_axis(height, edge, halo, align), plan_axis(width, edge, halo, align)),
    ]
    for along, across in ((height, width), (width, height)):
        core = max_pixels // across - margin
        if core >= least:
            strips = plan_axis(along, core, halo, align)
            whole = [Span(0, across, 0, across, True)]
            layouts.append((strips, whole) if along == height else (whole, strips))

    def pixels(layout):
        rows, cols = layout
        return sum(r.stop - r.start for r in rows) * sum(c.stop - c.start for c in cols)

    return min(layouts, key=pixels)


def trace_size(size: int, align: int) -> int:
    """A small size whose strided layers see the same parities (and so the same cell centres)."""
    return size if size <= 3 * align else size % align + 2 * align


def receptive_field(modules: Iterable[nn.Module], run, probe: int = 96) -> tuple[int, int]:
    """(receptive field in input pixels, total stride) along the main path of `run`'s layers.

    Windowed layers are followed in the order they run on a probe image; one whose input is not at
    the current resolution is a side branch (ResNet's downsampling shortcut) and adds nothing.
    Stride-1 layers count their full kernel, so the field is an upper bound, which is what a halo needs.
    """
    state = {"field": 1, "jump": 1, "size": (probe, probe)}

    def follow(module, args, output):
        if tuple(args[0].shape[-2:]) != state["size"]:
            return
        kernel = max(_pair(module.kernel_size))
        dilation = max(_pair(getattr(module, "dilation", 1)))
        state["field"] += dilation * (kernel - 1) * state["jump"]
        state["jump"] *= max(_pair(module.stride))
        state["size"] = tuple(output.shape[-2:])

    windowed = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
    handles = [m.register_forward_hook(follow) for m in modules if isinstance(m, windowed)]
    try:
        with torch.no_grad():
            run(torch.zeros(1, 3, probe, probe))
    finally:
        for handle in handles:
            handle.remove()
    return state["field"], state["jump"]


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)
