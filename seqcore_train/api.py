"""The Python API: load data, fit, calibrate and evaluate in memory; no files unless you save.

The CLI's jobs (workflows.py) write model files, reports and figures; these return objects, for
notebooks and scripts. Both share the data readers, batching and metrics, so a model fitted here
and saved behaves as one fitted by `seqcore-train fit`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from seqcore_train.data.augment import AugmentConfig
from seqcore_train.data.batches import AUTO
from seqcore_train.data.datasets import Dataset, open_datasets
from seqcore_train.data.images import read_rgb, resize_rgb
from seqcore_train.errors import DataError
from seqcore_train.evaluation.metrics import Evaluator
from seqcore_train.model.patchcore import ModelConfig, SeqPatchCore
from seqcore_train.train_options import TrainOptions
from seqcore_train.workflows import model_image_size, scored, train

__all__ = ["load_dataset", "load_images", "fit", "calibrate", "evaluate"]


def load_dataset(
    *data: str | os.PathLike, split: str | None = None, label_map: dict[str, str] | None = None
) -> Dataset:
    """DATA as on the command line (manifest, MVTec AD, LabelMe or image folder; `PATH::variant=`
    filters), concatenated; `split` keeps one split (None: all). Every file is checked here."""
    dataset = open_datasets([str(d) for d in data], split=split, label_map=label_map)
    dataset.check()
    return dataset


def load_images(
    paths: Sequence[str | os.PathLike], size: tuple[int, int] | None = None
) -> torch.Tensor:
    """Image files -> float32 (N, 3, H, W) RGB in [0, 1], what `predict` and exported graphs take;
    `size` (H, W) resizes (bilinear, as the CLI's --image-size)."""
    images = []
    for path in paths:
        image = read_rgb(path)
        images.append(resize_rgb(image, size) if size and image.shape[:2] != tuple(size) else image)
    if len({image.shape for image in images}) > 1:
        raise DataError("images differ in size; pass size=(H, W)")
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def fit(
    dataset: Dataset,
    config: ModelConfig | None = None,
    *,
    epochs: int = 5,
    tol: int = 0,
    augment: bool = False,
    seed: int = 0,
    image_size: tuple[int, int] | None = None,
    batch_size: int | str = AUTO,
    device: str = "auto",
    model: SeqPatchCore | None = None,
) -> SeqPatchCore:
    """A model fitted on every record of `dataset` (load it with split="train"); defect pixels
    never enter the coreset. Pass `model` to fine-tune it instead (its threshold is dropped).
    The same loop and defaults as `seqcore-train fit` (batch size "auto": see `--batch-size`)."""
    if model is None:
        model = SeqPatchCore(config or ModelConfig(), device=device)
    else:
        model.threshold = None  # the old threshold belongs to the old coreset
    training = TrainOptions(
        epochs=epochs, tol=tol, augment=AugmentConfig() if augment else None, seed=seed
    )
    size = model_image_size(model, image_size, dataset, "fit")
    return train(model, dataset, training, size, batch_size)


def _evaluator(model, dataset, threshold, min_component_size, batch_size, what) -> Evaluator:
    size = model_image_size(model, None, dataset, what)
    evaluator = Evaluator(dataset.classes, threshold, min_component_size)
    for sample, amap, score in scored(model, dataset, size, batch_size, what):
        evaluator.update(sample, amap, score)
    return evaluator


def calibrate(
    model: SeqPatchCore, dataset: Dataset, *, batch_size: int | str = AUTO
) -> tuple[float, float]:
    """Set `model.threshold` to the one maximising pixel F1 on `dataset`; returns (threshold, F1)."""
    evaluator = _evaluator(model, dataset, None, 1, batch_size, "calibrate")
    if evaluator.hist.counts[1].sum() == 0:
        raise DataError("calibrate: no defect pixels in the dataset; a threshold needs defects")
    threshold, f1 = evaluator.best_threshold()
    model.threshold = threshold
    return threshold, f1


def evaluate(
    model: SeqPatchCore,
    dataset: Dataset,
    *,
    threshold: float | None = None,
    min_component_size: int = 1,
    batch_size: int | str = AUTO,
) -> dict:
    """The metrics `seqcore-train evaluate` writes to report.json (without figures), as a dict."""
    threshold = model.threshold if threshold is None else threshold
    if threshold is None:
        raise DataError("evaluate: the model has no threshold; calibrate it or pass threshold=")
    return _evaluator(
        model, dataset, float(threshold), min_component_size, batch_size, "evaluate"
    ).result()
