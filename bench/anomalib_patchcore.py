"""anomalib 2.7.0's PatchCore on SeqCore's backbone (runs only in the bench environment).

anomalib's `PatchcoreModel` normally wraps a timm backbone whose weights come from the hub, which
this machine cannot reach. Here its feature extractor is replaced by SeqCore's own
`FeatureExtractor` (same weights, same input normalisation, same stages, e.g. EfficientNet-Lite0
blocks.4 + blocks.10), exposed as anomalib expects: a module returning {layer name: raw stage
output}, from `FeatureExtractor.stage_maps`. Everything else is anomalib's: AvgPool2d(3, 1, 1) on
each stage, bilinear upsampling of the coarser stage and concatenation (`generate_embedding`),
`KCenterGreedy` coreset subsampling, 1-NN scoring, `AnomalyMapGenerator` (nearest upsampling,
Gaussian blur sigma = 4) and its re-weighted image score (num_neighbors = 9).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["StageMaps", "build_patchcore", "fit_patchcore", "predict_patchcore"]


class StageMaps(nn.Module):
    """SeqCore's frozen backbone behind anomalib's feature-extractor contract."""

    def __init__(self, extractor):
        super().__init__()
        self.extractor = extractor

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.extractor.stage_maps(images)  # normalised input, raw outputs of the stages


@contextlib.contextmanager
def _feature_extractor_replaced(module: nn.Module):
    """While building, PatchcoreModel's TimmFeatureExtractor(...) returns `module` (no timm model)."""
    import anomalib.models.image.patchcore.torch_model as torch_model

    original = torch_model.TimmFeatureExtractor
    torch_model.TimmFeatureExtractor = lambda backbone, pre_trained, layers: module
    try:
        yield
    finally:
        torch_model.TimmFeatureExtractor = original


def build_patchcore(extractor, num_neighbors: int = 9):
    """anomalib's PatchcoreModel (pre_trained=False) with SeqCore's backbone as feature extractor."""
    from anomalib.models.image.patchcore.torch_model import PatchcoreModel

    with _feature_extractor_replaced(StageMaps(extractor)):
        model = PatchcoreModel(
            layers=list(extractor.layers),
            backbone=extractor.backbone_name,
            pre_trained=False,
            num_neighbors=num_neighbors,
        )
    return model


@torch.no_grad()
def fit_patchcore(model, batches: Iterable[torch.Tensor], coreset_size: int) -> dict[str, float]:
    """Embed every training batch, then KCenterGreedy down to exactly `coreset_size` patches.

    Returns the seconds spent embedding and subsampling.
    """
    started = time.perf_counter()
    model.train()
    for images in batches:
        model(images)
    embedded = time.perf_counter()
    patches = sum(len(e) for e in model.embedding_store)
    ratio = (coreset_size + 0.5) / patches  # KCenterGreedy keeps int(patches * ratio)
    model.subsample_embedding(ratio)
    if len(model.memory_bank) != coreset_size:
        raise RuntimeError(f"coreset has {len(model.memory_bank)} points, wanted {coreset_size}")
    model.eval()
    done = time.perf_counter()
    return {"embed_s": round(embedded - started, 2), "coreset_s": round(done - embedded, 2)}


@torch.no_grad()
def predict_patchcore(model, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(anomaly maps (B, H, W), anomalib's image scores (B,))."""
    out = model(images)
    return out.anomaly_map[:, 0].float(), out.pred_score.float()
