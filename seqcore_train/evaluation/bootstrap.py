"""A paired bootstrap over test images and seeds, from the per-image counts evaluate saves.

Every metric of the paper's tables is a ratio of sums of per-image counts: pixel precision, recall
and F1 of the TP/FP/FN pixels; per class R_PX of predicted over valid pixels and R_DW of detected
over present instances; mR_DW the mean R_DW over the defect classes present. So a resample of the
test images is a weight per image (how often it was drawn), and a metric on the resample is the
same ratio of weighted sums: one matrix product for all resamples at once.

`paired_bootstrap` draws `resamples` times (with replacement) the test images and the seeds; the
same image draw serves every row and every seed of a resample (the rows and seeds were scored on
the same test images: that pairing is what makes the difference precise). The difference of a
claim on a resample is the mean over the drawn seeds of that seed's d = A - B on the drawn images;
the interval is the 2.5 and 97.5 percentiles of those differences (percentile bootstrap, 95 %).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "count_matrix",
    "report_from_sums",
    "resample",
    "paired_bootstrap",
    "Interval",
    "RESAMPLES",
]

RESAMPLES = 2000
_PIXELS, _PREDICTED, _INSTANCES, _DETECTED = range(4)  # a class's four columns after tp, fp, fn


def count_matrix(per_image: Mapping, ids: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """(images, 3 + 4 classes) counts of per_image.json's images in the order of `ids`: tp, fp,
    fn, then per class valid pixels, predicted pixels, instances, detected instances (covered
    by at least one predicted pixel, the paper's R_DW)."""
    by_id = {image["id"]: image for image in per_image["images"]}
    column = {name: 3 + 4 * k for k, name in enumerate(classes)}
    counts = np.zeros((len(ids), 3 + 4 * len(classes)), dtype=np.float64)
    for row, sample_id in enumerate(ids):
        image = by_id[sample_id]
        counts[row, :3] = image["tp"], image["fp"], image["fn"]
        for name, (pixels, predicted) in image["class_pixels"].items():
            if name in column:
                counts[row, column[name] + _PIXELS] = pixels
                counts[row, column[name] + _PREDICTED] = predicted
        for name, _size, covered in image["instances"]:
            if name in column:
                counts[row, column[name] + _INSTANCES] += 1
                counts[row, column[name] + _DETECTED] += covered > 0
    return counts


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


def report_from_sums(sums: np.ndarray, classes: Sequence[tuple[str, str]]) -> dict:
    """A report dict shaped like evaluate's report.json, each value an array over the leading
    axes of `sums` (..., 3 + 4 classes); NaN where a metric is undefined on that resample."""
    tp, fp, fn = sums[..., 0], sums[..., 1], sums[..., 2]
    per_class, defect_recalls = {}, []
    for k, (name, kind) in enumerate(classes):
        c = sums[..., 3 + 4 * k : 7 + 4 * k]
        recall = _ratio(c[..., _DETECTED], c[..., _INSTANCES])
        per_class[name] = {
            "kind": kind,
            "pixel_recall": _ratio(c[..., _PREDICTED], c[..., _PIXELS]),
            "defect_wise_recall": recall,
        }
        if kind == "defect":
            defect_recalls.append(recall)
    if defect_recalls:
        stacked = np.stack(defect_recalls)
        present = ~np.isnan(stacked)
        mean = np.where(present, stacked, 0).sum(axis=0) / np.maximum(present.sum(axis=0), 1)
        mean_recall = np.where(present.any(axis=0), mean, np.nan)
    else:
        mean_recall = np.full(tp.shape, np.nan)
    return {
        "pixel": {
            "precision": _ratio(tp, tp + fp),
            "recall": _ratio(tp, tp + fn),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        },
        "mean_defect_wise_recall": mean_recall,
        "per_class": per_class,
    }


def resample(
    n_images: int, n_seeds: int, rng: np.random.Generator, resamples: int = RESAMPLES
) -> tuple[np.ndarray, np.ndarray]:
    """(weights (resamples, images): how often each test image was drawn, picks (resamples,
    seeds): the seeds drawn), both with replacement."""
    drawn = rng.integers(0, n_images, size=(resamples, n_images))
    weights = np.zeros((resamples, n_images), dtype=np.float64)
    np.add.at(weights, (np.arange(resamples)[:, None], drawn), 1.0)
    return weights, rng.integers(0, n_seeds, size=(resamples, n_seeds))


@dataclass(frozen=True)
class Interval:
    """The observed difference, its 95 % bootstrap interval and how many resamples had it."""

    d: float
    low: float
    high: float
    defined: int  # resamples on which d was defined (a class can be missing from a resample)
    resamples: int

    @property
    def half_width(self) -> float:
        """Half the interval: about the smallest difference this test set and seeds can see."""
        return (self.high - self.low) / 2

    def verdict(self) -> str:
        """✓ when the interval lies above 0, ✗ when below, else 'within noise'."""
        if self.low > 0:
            return "✓"
        if self.high < 0:
            return "✗"
        return "within noise"


# difference(weights (B, images)) -> d per seed and resample (seeds, B)
Difference = Callable[[np.ndarray], np.ndarray]


def paired_bootstrap(
    difference: Difference,
    n_images: int,
    n_seeds: int,
    rng: np.random.Generator,
    resamples: int = RESAMPLES,
    level: float = 0.95,
    draws: tuple[np.ndarray, np.ndarray] | None = None,
) -> Interval:
    """The claim's difference on all images and seeds, and its percentile interval over
    `resamples` paired draws of test images and seeds (`draws` replaces the random draws)."""
    observed = difference(np.ones((1, n_images)))  # (seeds, 1)
    weights, picks = draws if draws is not None else resample(n_images, n_seeds, rng, resamples)
    per_seed = difference(weights)  # (seeds, B)
    d = per_seed[picks.T, np.arange(picks.shape[0])].mean(axis=0)  # mean over the drawn seeds
    defined = d[~np.isnan(d)]
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(defined, [tail, 100 - tail]) if defined.size else (np.nan, np.nan)
    return Interval(float(np.mean(observed)), float(low), float(high), int(defined.size), d.size)
