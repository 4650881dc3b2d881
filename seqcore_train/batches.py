"""Samples -> model batches: consecutive records of equal size share a batch; optional augment."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from seqcore_train.augment import AugmentConfig, augment_batch, epoch_generator
from seqcore_train.datasets import Dataset
from seqcore_train.model import Batch
from seqcore_train.records import LoadedSample, Record

__all__ = ["sample_batches", "to_tensors", "training_batches"]


def sample_batches(
    dataset: Dataset,
    records: Sequence[Record],
    batch_size: int,
    size: tuple[int, int] | None = None,
) -> Iterator[list[LoadedSample]]:
    """Lists of up to `batch_size` decoded samples of one image size, in record order."""
    pending: list[LoadedSample] = []
    for sample in dataset.samples(records, size):
        if pending and (len(pending) >= batch_size or pending[0].image.shape != sample.image.shape):
            yield pending
            pending = []
        pending.append(sample)
    if pending:
        yield pending


def to_tensors(samples: Sequence[LoadedSample]) -> Batch:
    """images (B, 3, H, W) float32, valid (B, H, W) bool (None when every pixel is valid)."""
    images = torch.from_numpy(np.stack([s.image for s in samples])).permute(0, 3, 1, 2)
    valid = np.stack([s.valid for s in samples])
    return images.contiguous(), (None if valid.all() else torch.from_numpy(valid))


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
            for sample in samples:
                sample.valid = sample.valid & ~is_defect[sample.semantic]
            images, valid = to_tensors(samples)
            if augment is not None:
                images, valid = augment_batch(images, valid, augment, generator)
            yield images, valid

    return epoch_batches
