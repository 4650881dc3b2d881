"""Deployable detectors: a fitted model at one image size as one ONNX or TorchScript graph.

The graph holds everything `SeqPatchCore.predict` does: input normalisation, the backbone stages,
centred pooling, the coarser stage resampled onto the finer one, the nearest-coreset distance of
every cell (the coreset is a constant inside the graph), the cell scores placed at their cell
centres and blurred. Cell positions depend on the image size (TF "same" padding moves them with its
parity), so they are worked out once here and a graph serves exactly one (H, W); the batch is free.

  input   images       float32 (N, 3, H, W), RGB in [0, 1] (as `predict` reads image files)
  output  anomaly_map  float32 (N, H, W): the values `predict` writes to OUT/maps/<name>.npy
  output  score        float32 (N,): the image score, the largest cell distance (no valid mask:
                       every cell counts, as in `predict` for images without a valid mask)

The threshold, image size and provenance travel as metadata: ONNX `metadata_props` (onnxruntime:
`session.get_modelmeta().custom_metadata_map`) and the TorchScript extra file `seqcore.json`.

Nearest distances as in scoring.py: one matrix product screens, and the exact distance (direct
differences) to the best few candidates decides, so rounding of the product cannot pick a wrong
nearest point among near ties (scoring.py settles those with a rigorous bound instead; with a few
candidates the graph needs no data-dependent control flow).
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import tempfile
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelFileError, SeqCoreError
from ..model.efficientnet_lite import SameConv2d
from ..model.features import centred_avg_pool
from ..model.geometry import Axis
from ..model.patchcore import SeqPatchCore
from ..model.scoring import gaussian_blur

__all__ = [
    "FORMATS",
    "INPUT_NAME",
    "VALID_NAME",
    "OUTPUT_NAMES",
    "METADATA_FILE",
    "DetectorGraph",
    "export_model",
    "export_metadata",
    "onnx_bytes",
]

FORMATS = ("onnx", "torchscript")
INPUT_NAME = "images"
VALID_NAME = "valid"  # the optional second input: (N, H, W) bool, True = inspect
OUTPUT_NAMES = ("anomaly_map", "score")
METADATA_FILE = "seqcore.json"  # TorchScript extra file holding the metadata
CANDIDATES = 4  # screened nearest points whose exact distances decide
ONNX_OPSET = 18


class ExportUnavailable(SeqCoreError):
    """An export format whose optional packages are not installed."""


class _AxisResample(nn.Module):
    """Linear interpolation along dim `dim` at fixed fractional positions.

    The same arithmetic as `geometry.interpolate_axis` (float64 positions, weights cast to float32),
    with its indices and weights worked out once for the exported size. `dim` counts from the
    front: the ONNX exporter resolves a negative index_select dim against the wrong rank.
    """

    def __init__(self, source: Axis, target: Axis, cells: int, size: int, dim: int, last: int):
        super().__init__()
        pos = source.positions_of(target.centres(size)).clamp(0, cells - 1)
        lo = pos.floor().long().clamp(max=cells - 1)
        hi = (lo + 1).clamp(max=cells - 1)
        shape = (size, 1) if last - dim == 1 else (size,)
        self.dim = dim
        self.register_buffer("lo", lo)
        self.register_buffer("hi", hi)
        self.register_buffer("w", (pos - lo).to(torch.float32).view(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (
            x.index_select(self.dim, self.lo) * (1 - self.w)
            + x.index_select(self.dim, self.hi) * self.w
        )


class _Resample(nn.Sequential):
    """`geometry.resample_to_axes` for one fixed (source grid, target grid): rows, then columns,
    of a tensor with `ndim` dims."""

    def __init__(self, source, target, cells: tuple[int, int], size: tuple[int, int], ndim: int):
        last = ndim - 1
        super().__init__(
            _AxisResample(source[0], target[0], cells[0], size[0], last - 1, last),
            _AxisResample(source[1], target[1], cells[1], size[1], last, last),
        )


class _PaddedConv(nn.Module):
    """A TF "same" convolution with its padding fixed for one input size.

    `SameConv2d` works its padding out from the input's shape as it runs; traced, that arithmetic
    lands in the graph, and ONNX's integer Div truncates where Python's // floors (a wrong size
    on odd inputs). With one exported size the padding is a constant.
    """

    def __init__(self, conv: SameConv2d, size: tuple[int, int]):
        super().__init__()
        (top, bottom), (left, right) = (conv.axis_padding(size[a], a) for a in (0, 1))
        self.padding = (left, right, top, bottom)
        self.conv = nn.Conv2d(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            conv.stride,
            padding=0,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=conv.bias is not None,
        )
        self.conv.load_state_dict(conv.state_dict())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, self.padding) if any(self.padding) else x)


def _fixed_padding(steps: nn.ModuleList, size: tuple[int, int]) -> nn.ModuleList:
    """A copy of `steps` in which every `SameConv2d` pads by constants for input size `size`."""
    steps = copy.deepcopy(steps)
    for module in steps.modules():
        module._forward_hooks.clear()  # the copied cell tracer's: not wanted in a graph
    sizes: dict[str, tuple[int, int]] = {}
    named = [(n, m) for n, m in steps.named_modules() if isinstance(m, SameConv2d)]
    hooks = [
        m.register_forward_pre_hook(
            lambda _m, args, name=n: sizes.__setitem__(name, tuple(args[0].shape[-2:]))
        )
        for n, m in named
    ]
    with torch.no_grad():
        x = torch.zeros(1, 3, *size)
        for step in steps:
            x = step(x)
    for hook in hooks:
        hook.remove()
    for name, module in named:
        parent, _, leaf = name.rpartition(".")
        setattr(steps.get_submodule(parent), leaf, _PaddedConv(module, sizes[name]))
    return steps


class DetectorGraph(nn.Module):
    """`SeqPatchCore.predict` for images of one size (H, W), as a traceable module."""

    def __init__(self, model: SeqPatchCore, size: tuple[int, int], valid_input: bool = False):
        super().__init__()
        self.valid_input = valid_input
        if model.bank.numel() == 0:
            raise ModelFileError("the model has no coreset yet; fit it first")
        extractor = model.extractor.cpu()
        self.size = (int(size[0]), int(size[1]))
        with torch.no_grad():
            shapes = {
                name: tuple(t.shape[-2:])
                for name, t in extractor.stage_maps(torch.zeros(1, 3, *self.size)).items()
            }
        axes = extractor._stage_axes(self.size)  # noqa: SLF001 -- the per-stage cell centres
        finest = extractor.finest
        self.cells = shapes[finest]
        self.layers = tuple(extractor.layers)
        self.step_names = tuple(extractor.step_names)
        self.steps = _fixed_padding(extractor.steps, self.size)
        self.pool_kernel = extractor.pool_kernel
        self.register_buffer("mean", extractor.mean.clone())
        self.register_buffer("std", extractor.std.clone())
        # One resampler per chosen stage (Identity for the finest, which is the target grid).
        self.to_finest = nn.ModuleList(
            nn.Identity()
            if name == finest
            else _Resample(axes[name], axes[finest], shapes[name], self.cells, ndim=4)
            for name in self.layers
        )
        self.to_pixels = _Resample(axes[finest], (Axis(), Axis()), self.cells, self.size, ndim=3)
        self.blur_sigma = float(model.config.blur_sigma)
        bank = model.bank.detach().to("cpu", torch.float32).contiguous()
        self.register_buffer("bank", bank)
        self.register_buffer("bank_sq", (bank * bank).sum(dim=1))
        self.candidates = min(CANDIDATES, len(bank))
        # The pixel at each cell's centre, as `SeqPatchCore.cell_mask` reads the valid mask.
        for name, axis, cells, pixels in zip(
            ("valid_rows", "valid_cols"),
            extractor.cell_axes(self.size),
            self.cells,
            self.size,
            strict=True,
        ):
            self.register_buffer(name, axis.centres(cells).round().long().clamp(0, pixels - 1))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        x = (images - self.mean) / self.std
        taken = {}
        for name, step in zip(self.step_names, self.steps, strict=True):
            x = step(x)
            if name in self.layers:
                taken[name] = x
        return torch.cat(
            [
                resample(centred_avg_pool(taken[name], self.pool_kernel))
                for name, resample in zip(self.layers, self.to_finest, strict=True)
            ],
            dim=1,
        )

    def cell_distances(self, feats: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) -> (N, h, w) distance of each cell to its nearest coreset point."""
        c = feats.shape[1]
        x = feats.permute(0, 2, 3, 1).reshape(-1, c)
        screen = (x * x).sum(dim=1, keepdim=True) + self.bank_sq - 2.0 * (x @ self.bank.T)
        nearest = screen.topk(self.candidates, dim=1, largest=False).indices  # (P, k)
        exact = (x[:, None, :] - self.bank[nearest]).pow(2).sum(dim=2).sqrt()
        return exact.amin(dim=1).reshape(-1, self.cells[0], self.cells[1])

    def forward(
        self, images: torch.Tensor, valid: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cells = self.cell_distances(self.features(images))
        maps = gaussian_blur(self.to_pixels(cells), self.blur_sigma)
        if valid is not None:  # (N, H, W) bool: only cells whose centre pixel is valid score
            inside = valid.index_select(1, self.valid_rows).index_select(2, self.valid_cols)
            cells = cells.masked_fill(~inside, -math.inf)
        scores = cells.flatten(1).amax(dim=1).clamp(min=0.0)
        return maps, scores

    def example(self, batch: int = 1) -> tuple[torch.Tensor, ...]:
        """Inputs to trace with: images, and a valid mask when the graph takes one."""
        images = torch.rand(batch, 3, *self.size, generator=torch.Generator().manual_seed(0))
        if not self.valid_input:
            return (images,)
        return images, torch.ones(batch, *self.size, dtype=torch.bool)


def export_metadata(model: SeqPatchCore, size: tuple[int, int]) -> dict:
    """What a deployment needs besides the graph: threshold, size and where the model came from."""
    return {
        "threshold": model.threshold,
        "image_size": {"height": size[0], "width": size[1]},
        "input": {"name": INPUT_NAME, "shape": ["N", 3, size[0], size[1]], "range": [0.0, 1.0]},
        "outputs": list(OUTPUT_NAMES),
        "config": model.config.to_dict(),
        "coreset_points": int(len(model.bank)),
        "seqcore_version": model.metadata.get("seqcore_version"),
        "created": model.metadata.get("created"),
    }


def export_size(model: SeqPatchCore, requested: tuple[int, int] | None, where: str):
    """The (H, W) to export at: the requested one, which must be the model's fitted size if known."""
    size = model.size_for(requested, where)
    if size is None:
        raise ModelFileError(
            f"{where}: the model has no fixed image size (fitted on mixed sizes); pass --image-size W H"
        )
    return size


def export_model(
    model_path: str | os.PathLike,
    out: str | os.PathLike,
    fmt: str,
    image_size: tuple[int, int] | None = None,
    batch: int = 1,
    valid_input: bool = False,
) -> dict:
    """Write model file `model_path` as one `fmt` graph to `out` (atomically); returns the metadata.

    `image_size` is (H, W). `batch` is only the example batch traced; the exported batch is free.
    With `valid_input` the graph takes a second input, the valid mask, which the score respects.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    model = SeqPatchCore.load(model_path, device="cpu")
    size = export_size(model, image_size, str(model_path))
    graph = DetectorGraph(model, size, valid_input).eval()
    meta = export_metadata(model, size)
    if valid_input:
        meta["valid"] = {"name": VALID_NAME, "shape": ["N", size[0], size[1]], "dtype": "bool"}
    example = graph.example(batch)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = _write_onnx if fmt == "onnx" else _write_torchscript
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as work:
        partial = Path(work) / out.name
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on sizes: fixed on purpose
            writer(graph, example, partial, meta)
        os.replace(partial, out)
    return meta


def _write_torchscript(graph: DetectorGraph, example, path: Path, meta: dict) -> None:
    """Traced, then frozen: weights and coreset become constants, so batch norm folds into the
    convolutions and the graph runs without its profiling passes (several times faster on CPU)."""
    traced = torch.jit.freeze(torch.jit.trace(graph, example, check_trace=False).eval())
    torch.jit.save(traced, str(path), _extra_files={METADATA_FILE: json.dumps(meta)})


def _write_onnx(graph: DetectorGraph, example, path: Path, meta: dict) -> None:
    """The TorchScript-based exporter (dynamo=False): it needs only `onnx`, and this graph has no
    data-dependent control flow for torch.export to gain on. The batch axis stays dynamic."""
    try:
        import onnx
    except ImportError:
        raise ExportUnavailable(
            "ONNX export needs the package onnx: pip install 'seqcore-train[onnx]'"
        ) from None
    path.write_bytes(onnx_bytes(graph, example))
    proto = onnx.load(str(path))
    threshold = meta["threshold"]
    entries = {
        "seqcore": json.dumps(meta),
        "threshold": "" if threshold is None else repr(float(threshold)),
        "image_size": f"{meta['image_size']['height']} {meta['image_size']['width']}",
    }
    for key, value in entries.items():
        prop = proto.metadata_props.add()
        prop.key, prop.value = key, value
    proto.producer_name = "seqcore-train"
    onnx.save(proto, str(path))


def onnx_bytes(graph: DetectorGraph, example: tuple[torch.Tensor, ...]) -> bytes:
    """`graph` as an ONNX model in memory (the batch axis dynamic), without metadata."""
    names = [INPUT_NAME, VALID_NAME][: len(example)]
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on sizes: fixed on purpose
        torch.onnx.export(
            graph,
            example,
            buffer,
            dynamo=False,
            input_names=names,
            output_names=list(OUTPUT_NAMES),
            dynamic_axes={name: {0: "N"} for name in [*names, *OUTPUT_NAMES]},
            opset_version=ONNX_OPSET,
            do_constant_folding=True,
        )
    return buffer.getvalue()
