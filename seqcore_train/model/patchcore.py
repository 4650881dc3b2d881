"""SeqPatchCore: feature extractor + coreset + scorer, composed.

No CLI and no data formats here: training data arrives as a callable that yields batches for an
epoch, so the caller decides about datasets, augmentation and progress bars.

Early stopping: an epoch that adds points (the bank was not yet full) never stops training; after
that, training stops after the first epoch with at most `tol` replacements (paper: none).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import torch

from ..devices import resolve_device
from ..errors import DataError, ModelFileError
from ..model_defaults import BLUR_SIGMA, CHUNK_SIZE, CORESET_SIZE, POOL_KERNEL
from .coreset import EpochStats, SequentialCoreset, greedy_kcenter, meld
from .features import FeatureExtractor
from .modelfile import load_model_file, save_model_file
from .patch_cache import PatchCache
from .scoring import cell_scores, maps_from_cells

__all__ = ["SAMPLERS", "ModelConfig", "Batch", "SeqPatchCore", "seqcore_version"]

SAMPLERS = ("sequential", "greedy")
Batch = tuple[torch.Tensor, "torch.Tensor | None"]


def seqcore_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("seqcore-train")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class ModelConfig:
    backbone: str = "efficientnet_lite0"
    layers: tuple[str, ...] | None = None  # None: the backbone's default pair of stages
    pool_kernel: int = POOL_KERNEL
    weights: str | None = None  # state dict path for torchvision backbones (None: hub cache)
    coreset_size: int = CORESET_SIZE
    sampler: str = "sequential"
    blur_sigma: float = BLUR_SIGMA
    chunk_size: int = CHUNK_SIZE

    def __post_init__(self):
        if self.layers is not None and not isinstance(self.layers, tuple):
            object.__setattr__(self, "layers", tuple(self.layers))
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if self.coreset_size < 1:
            raise ValueError(f"coreset size must be >= 1, got {self.coreset_size}")
        if self.chunk_size < 1:
            raise ValueError(f"chunk size must be >= 1, got {self.chunk_size}")
        if self.blur_sigma < 0:
            raise ValueError(f"blur sigma must be >= 0, got {self.blur_sigma}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["layers"] = None if self.layers is None else list(self.layers)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def input_normalisation(self) -> dict | None:
        """Mean and std the backbone's weights expect (None for an unknown backbone)."""
        from .features import BACKBONES

        spec = BACKBONES.get(self.backbone)
        return spec.input_normalisation() if spec else None

    def backbone_key(self) -> tuple:
        """What must agree for two models' coresets to live in the same feature space."""
        from .features import BACKBONES

        spec = BACKBONES.get(self.backbone)
        layers = self.layers or (spec.default_layers if spec else None)
        return (self.backbone, layers, self.pool_kernel)


class SeqPatchCore:
    """Sequential PatchCore model: `fit` / fine-tune, `meld`, `predict`, `save` / `load`.

    `image_size` (H, W) is the size the coreset was fitted at, or None when the training images
    differed in size: features are only comparable at one scale, so it decides which data fits.
    `extractor` shares an already built backbone (built from the config on first use when None).
    """

    def __init__(
        self,
        config: ModelConfig | None = None,
        device="auto",
        bank=None,
        threshold=None,
        metadata=None,
        image_size: tuple[int, int] | None = None,
        extractor: FeatureExtractor | None = None,
    ):
        self.config = config or ModelConfig()
        self.device = resolve_device(device)
        self.bank = (
            torch.empty(0, 0, device=self.device)
            if bank is None
            else torch.as_tensor(bank).to(self.device, torch.float32)
        )
        self.threshold = None if threshold is None else float(threshold)
        self.image_size = image_size
        self.metadata: dict = dict(metadata or {})
        self.metadata.setdefault("epochs", [])
        self._extractor = extractor

    @property
    def image_size(self) -> tuple[int, int] | None:
        return self._image_size

    @image_size.setter
    def image_size(self, size) -> None:
        self._image_size = _image_size(size)  # one form (a tuple), so sizes compare equal

    def size_for(self, requested: tuple[int, int] | None, where: str) -> tuple[int, int] | None:
        """The (H, W) to run at: `requested`, which must be the fitted size when there is one."""
        fitted = self.image_size
        if requested and fitted and tuple(requested) != fitted:
            raise ModelFileError(
                f"{where}: the model was fitted on {fitted[1]}x{fitted[0]} images, "
                f"--image-size {requested[1]} {requested[0]} is incompatible"
            )
        return tuple(requested) if requested else fitted

    # -- features ----------------------------------------------------------------------------
    @property
    def extractor(self) -> FeatureExtractor:
        """Built on first use, so melding and file handling never load backbone weights."""
        if self._extractor is None:
            c = self.config
            self._extractor = FeatureExtractor(c.backbone, c.layers, c.pool_kernel, c.weights).to(
                self.device
            )
        return self._extractor

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, C, h, w) on the model's device."""
        return self.extractor(images.to(self.device, torch.float32))

    def patches(self, images: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """(N, C) patch features; with a valid mask only cells whose centre pixel is valid."""
        feats = self.features(images)
        b, c, h, w = feats.shape
        cells = feats.permute(0, 2, 3, 1)
        if valid is None:
            return cells.reshape(-1, c)
        if valid.shape != (images.shape[0], *images.shape[-2:]):
            raise ValueError(
                f"valid mask shape {tuple(valid.shape)} does not match images {tuple(images.shape)}"
            )
        keep = self.cell_mask(valid.to(self.device), (h, w))
        return cells[keep]

    def cell_mask(self, valid: torch.Tensor, cells: tuple[int, int]) -> torch.Tensor:
        """(B, h, w) bool: a feature cell counts when the pixel at its centre is valid."""
        size = valid.shape[-2:]
        ys, xs = (
            axis.centres(n).round().long().clamp(0, size[a] - 1).to(valid.device)
            for a, (axis, n) in enumerate(zip(self.extractor.cell_axes(size), cells, strict=True))
        )
        return valid.bool()[:, ys][:, :, xs]

    # -- training ----------------------------------------------------------------------------
    def fit(
        self,
        epoch_batches: Callable[[int], Iterable[Batch]],
        epochs: int = 5,
        tol: int = 0,
        start_epoch: int = 0,
        on_epoch_end: Callable[[EpochStats], None] | None = None,
        generator: torch.Generator | None = None,
        replay_bytes: int = 0,
    ) -> list[EpochStats]:
        """Train (or fine-tune, when the model already has a bank) for epochs start_epoch..epochs-1.

        `epoch_batches(epoch)` yields (images, valid) batches for one fresh pass. `on_epoch_end` sees
        each epoch's statistics after `self.bank` is updated (a place to write a checkpoint).
        With `replay_bytes` > 0 the caller promises that every epoch yields the same batches (no
        augmentation): the first pass's patches, up to that many bytes, are kept on disk and later
        epochs replay them instead of running the backbone again (`PatchCache`).
        The greedy baseline collects every patch of one pass and reduces them at once.
        """
        if self.config.sampler == "greedy":
            return [self._fit_greedy(epoch_batches, start_epoch, on_epoch_end, generator)]
        c = self.config
        coreset = SequentialCoreset(
            c.coreset_size, c.chunk_size, self.device, bank=self.bank if self.bank.numel() else None
        )
        history = []
        cache = PatchCache(replay_bytes)
        try:
            for epoch in range(start_epoch, epochs):
                stats = self._sequential_epoch(coreset, epoch, epoch_batches, cache)
                history.append(stats)
                if on_epoch_end is not None:
                    on_epoch_end(stats)
                if stats.additions == 0 and stats.replacements <= tol:
                    break
        finally:
            cache.close()
        return history

    def _sequential_epoch(self, coreset, epoch, epoch_batches, cache: PatchCache) -> EpochStats:
        started = time.perf_counter()
        adds, reps, count = coreset.additions, coreset.replacements, 0
        if cache.complete:
            passes = cache.replay(self.device)
        else:
            passes = (self.patches(images, valid) for images, valid in epoch_batches(epoch))
        for patches in passes:
            cache.append(patches)
            coreset.update(patches)
            count += len(patches)
            del patches  # not alive beside the next batch's backbone pass
        cache.finish_pass()
        if count == 0:
            raise DataError(
                f"epoch {epoch} produced no training patches (empty data or fully masked)"
            )
        self.bank = coreset.bank.clone()
        stats = EpochStats(
            epoch=epoch,
            patches=count,
            replacements=coreset.replacements - reps,
            d_m=coreset.d_m,
            seconds=time.perf_counter() - started,
            additions=coreset.additions - adds,
            size=len(coreset),
        )
        self._record(stats)
        return stats

    def _fit_greedy(self, epoch_batches, epoch, on_epoch_end, generator) -> EpochStats:
        started = time.perf_counter()
        pool = [self.bank] if self.bank.numel() else []
        for images, valid in epoch_batches(epoch):
            pool.append(self.patches(images, valid))
        patches = torch.cat(pool) if pool else torch.empty(0)
        if len(patches) == 0:
            raise DataError(
                f"epoch {epoch} produced no training patches (empty data or fully masked)"
            )
        self.bank = greedy_kcenter(patches, self.config.coreset_size, generator)
        stats = EpochStats(
            epoch=epoch,
            patches=len(patches),
            replacements=0,
            d_m=_min_pair_distance(self.bank),
            seconds=time.perf_counter() - started,
            additions=len(self.bank),
            size=len(self.bank),
        )
        self._record(stats)
        if on_epoch_end is not None:
            on_epoch_end(stats)
        return stats

    def _record(self, stats: EpochStats) -> None:
        entry = dataclasses.asdict(stats)
        entry["d_m"] = None if math.isinf(entry["d_m"]) else entry["d_m"]
        self.metadata.setdefault("epochs", []).append(entry)

    @classmethod
    def meld(
        cls, models: Sequence[SeqPatchCore], size: int | None = None, epochs: int = 5, seed: int = 0
    ) -> SeqPatchCore:
        """One model whose coreset melds the others' (the first model's bank fills it first)."""
        if not models:
            raise ValueError("meld needs at least one model")
        first = models[0]
        for other in models[1:]:
            if other.config.backbone_key() != first.config.backbone_key():
                raise ModelFileError(
                    "cannot meld models with different features: "
                    f"{_describe(first.config)} vs {_describe(other.config)}"
                )
            if (
                other.bank.numel()
                and first.bank.numel()
                and other.bank.shape[1] != first.bank.shape[1]
            ):
                raise ModelFileError(
                    f"cannot meld coresets of {first.bank.shape[1]} and {other.bank.shape[1]} features"
                )
        size = size or first.config.coreset_size
        bank = meld(
            [m.bank.cpu() for m in models],
            size,
            epochs=epochs,
            generator=torch.Generator().manual_seed(seed),
            chunk_size=first.config.chunk_size,
            device=first.device,
        )
        config = dataclasses.replace(first.config, coreset_size=size)
        metadata = {
            "epochs": [],
            "melded_from": [dict(m.metadata) for m in models],
            "meld": {"size": size, "epochs": epochs, "seed": seed, "sources": len(models)},
        }
        sizes = {m.image_size for m in models if m.image_size}
        return cls(
            config,
            device=first.device,
            bank=bank,
            metadata=metadata,
            image_size=sizes.pop() if len(sizes) == 1 else None,  # no common size: none
            extractor=first._extractor,  # only if already built: melding needs no backbone
        )

    # -- inference ---------------------------------------------------------------------------
    @torch.no_grad()
    def predict(
        self, images: torch.Tensor, valid: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Anomaly maps (B, H, W) float32 at input resolution and image scores (B,), on the CPU.

        The image score is PatchCore's: the largest cell distance, before resampling and blur, over
        the cells whose centre pixel is valid (0 when none is).
        """
        if self.bank.numel() == 0:
            raise ModelFileError("the model has no coreset yet; fit it first")
        feats = self.features(images)
        size = tuple(images.shape[-2:])
        cells = cell_scores(feats, self.bank, self.config.chunk_size)
        maps = maps_from_cells(cells, size, self.extractor.cell_axes(size), self.config.blur_sigma)
        if valid is not None:
            inside = self.cell_mask(valid.to(cells.device), tuple(cells.shape[-2:]))
            cells = cells.masked_fill(~inside, -math.inf)
        scores = cells.flatten(1).amax(dim=1).clamp(min=0.0)
        return maps.float().cpu(), scores.float().cpu()

    # -- files -------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, extra_metadata: dict | None = None) -> None:
        """Write the model file atomically (coreset + config + threshold + provenance)."""
        provenance = {**self.metadata, **(extra_metadata or {})}
        provenance["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        provenance["seqcore_version"] = seqcore_version()
        meta = {
            "config": self.config.to_dict(),
            "input_normalisation": self.config.input_normalisation(),
            "threshold": self.threshold,
            "image_size": None if self.image_size is None else list(self.image_size),
            "feature_dim": int(self.bank.shape[1]) if self.bank.numel() else 0,
            "coreset_points": int(len(self.bank)) if self.bank.numel() else 0,
            "provenance": provenance,
        }
        save_model_file(path, {"coreset": self.bank.float()}, meta)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        device="auto",
        extractor: FeatureExtractor | None = None,
    ) -> SeqPatchCore:
        """The model in file `path`; `extractor` shares a backbone built for the same config."""
        tensors, meta = load_model_file(path)
        try:
            config = ModelConfig.from_dict(meta["config"])
            bank = tensors["coreset"]
            threshold = meta.get("threshold")
            image_size = _image_size(meta.get("image_size"))
            provenance = meta.get("provenance") or {}
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"model file {path} lacks or has a bad entry: {exc}") from exc
        if bank.ndim != 2 or (
            bank.numel() and bank.shape[1] != meta.get("feature_dim", bank.shape[1])
        ):
            raise ModelFileError(f"model file {path}: coreset has shape {tuple(bank.shape)}")
        recorded = meta.get("input_normalisation")
        if recorded is not None and recorded != config.input_normalisation():
            raise ModelFileError(
                f"model file {path} was fitted on inputs normalised as {recorded}, but "
                f"{config.backbone} now normalises as {config.input_normalisation()}; fit it again"
            )
        if len(bank) > config.coreset_size:
            raise ModelFileError(
                f"model file {path}: {len(bank)} coreset points exceed its coreset size {config.coreset_size}"
            )
        return cls(
            config,
            device=device,
            bank=bank if bank.numel() else None,
            threshold=threshold,
            metadata=provenance,
            image_size=image_size,
            extractor=extractor,
        )


def _image_size(size) -> tuple[int, int] | None:
    """(H, W) as a tuple of two positive ints, or None; anything else is a ValueError."""
    if size is None:
        return None
    height, width = (int(v) for v in size)
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}x{width} (HxW)")
    return (height, width)


def _describe(config: ModelConfig) -> str:
    layers = "default layers" if config.layers is None else "+".join(config.layers)
    return f"{config.backbone} ({layers}, pool {config.pool_kernel})"


def _min_pair_distance(bank: torch.Tensor) -> float:
    if len(bank) < 2:
        return math.inf
    from .distances import exact_distances

    d = exact_distances(bank, bank)
    d.fill_diagonal_(math.inf)
    return float(d.min())
