"""Samples -> model batches: consecutive records of equal size share a batch; optional augment."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from seqcore_train.data.augment import AugmentConfig, augment_batch, epoch_generator
from seqcore_train.data.datasets import Dataset
from seqcore_train.data.records import LoadedSample, Record
from seqcore_train.model.patchcore import Batch
from seqcore_train.model_defaults import TILE_PIXELS

__all__ = ["AUTO", "auto_batch_size", "sample_batches", "to_tensors", "training_batches"]

AUTO = "auto"
MAX_AUTO_BATCH = 32


def auto_batch_size(device: torch.device | str, image_pixels: int | None) -> int:
    """`--batch-size auto`: images per backbone pass, chosen for speed per image on the device.

    CPU: 1. EfficientNet's depthwise convolutions are memory-bound, and a batch spills the cache:
    at 512 x 512 on 2 cores one image took 0.089 s alone against 0.200 s each in a batch of four
    (BENCHMARKS.md), and one image at a time also keeps the decoded batch small. GPU: as many
    whole images as one backbone pass may hold (`TILE_PIXELS`, so the batch is never split into
    tiles), at most 32; 1 when the image size is not known or above the tile size.
    """
    if torch.device(device).type == "cpu" or not image_pixels:
        return 1
    return max(1, min(MAX_AUTO_BATCH, TILE_PIXELS // int(image_pixels)))


def sample_batches(
    dataset: Dataset,
    records: Sequence[Record],
    batch_size: int,
    size: tuple[int, int] | None = None,
) -> Iterator[list[LoadedSample]]:
    """Lists of up to `batch_size` decoded samples of one image size, in record order."""
    pending: list[LoadedSample] = []
    for sample in dataset.samples(records, size):
        if pending and pending[0].image.shape != sample.image.shape:
            yield pending
            pending = []
        pending.append(sample)
        del sample  # held by `pending` alone, so a batch the caller is done with can be freed
        if len(pending) >= batch_size:  # yielded at once: no image of the next batch is decoded yet
            yield pending
            pending = []
    if pending:
        yield pending


def to_tensors(samples: Sequence[LoadedSample]) -> Batch:
    """images (B, 3, H, W) float32, valid (B, H, W) bool (None when every pixel is valid).

    Each decoded image is copied once, straight into its place in the batch (no stacked copy).
    """
    first = torch.from_numpy(samples[0].image)
    images = first.new_empty((len(samples), first.shape[2], *first.shape[:2]))
    for target, sample in zip(images, samples, strict=True):
        target.copy_(torch.from_numpy(sample.image).permute(2, 0, 1))
    if all(s.valid.all() for s in samples):
        return images, None
    return images, torch.from_numpy(np.stack([s.valid for s in samples]))


def _nominal_only(samples: list[LoadedSample], is_defect: np.ndarray) -> list[LoadedSample]:
    for sample in samples:
        sample.valid = sample.valid & ~is_defect[sample.semantic]
    return samples


def training_batches(
    dataset: Dataset,
    records: Sequence[Record],
    batch_size: int,
    size: tuple[int, int] | None,
    augment: AugmentConfig | None,
    seed: int,
) -> Callable[[int], Iterable[Batch]]:
    """epoch -> batches, freshly augmented each epoch (seeded by seed and epoch).

    Annotated defect pixels count as not valid here: a coreset must only hold nominal patches
    (impurities are nominal), even when a training image carries a defect annotation.
    """
    is_defect = dataset.classes.kinds_lookup()

    def epoch_batches(epoch: int) -> Iterator[Batch]:
        generator = epoch_generator(seed, epoch)
        for samples in sample_batches(dataset, records, batch_size, size):
            images, valid = to_tensors(_nominal_only(samples, is_defect))
            del samples  # the decoded arrays: from here on only the batch tensor lives
            if augment is not None:
                images, valid = augment_batch(images, valid, augment, generator)
            yield images, valid

    return epoch_batches
