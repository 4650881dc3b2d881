"""How a fit or fine-tune runs: epochs, stopping tolerance, augmentation and seed, as one value.

Frozen, so a job's settings cannot drift while it runs; `dataclasses.asdict` of it goes into the
settings written beside the model (and into the key that decides whether a checkpoint resumes).
Where the job runs (device) and how it reports are not settings: they do not change the result.
"""

from __future__ import annotations

from dataclasses import dataclass

from .data.augment import AugmentConfig

__all__ = ["TrainOptions"]


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = 5
    tol: int = 0  # stop after an epoch with at most this many replacements
    augment: AugmentConfig | None = None  # None: train on the images as they are
    seed: int = 0  # augmentation and every sampler's random choices

    def __post_init__(self):
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.tol < 0:
            raise ValueError(f"tol must be >= 0, got {self.tol}")
