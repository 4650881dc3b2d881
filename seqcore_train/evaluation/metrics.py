"""Evaluation metrics, accumulated image by image (nothing holds all maps).

Positives are defect pixels, impurity pixels are negatives, pixels outside the valid mask are
ignored. At the threshold (predict anomalous iff score >= threshold): pixel precision, recall, F1;
per class (defects and impurities) the pixel recall R_PX and the defect-wise recall R_DW (share of
the class's instances touched by a predicted pixel, or by a predicted 8-connected component of at
least `min_component_size` pixels); mR_DW = mean R_DW over defect classes present. Threshold-free:
pixel AUROC and AUPRO (PRO over FPR up to 0.3, normalised by 0.3; regions are the 8-connected
components of the defect mask, as in MVTec AD) from a streaming histogram (see threshold.py), and
image AUROC (an image is anomalous iff it has defect pixels; its score is the map's maximum over
valid pixels), exact.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from seqcore_train.data.records import ClassTable, LoadedSample
from seqcore_train.evaluation.threshold import (
    DEFAULT_BINS,
    ScoreHistogram,
    best_f1_from_histogram,
    f1_score,
)

__all__ = [
    "Evaluator",
    "ImageResult",
    "roc_auc",
    "auroc_from_counts",
    "aupro_from_counts",
    "defect_wise_hits",
    "instance_coverage",
    "coverage_sweep",
    "COVERAGE_STEPS",
    "flatten",
]

_EIGHT = np.ones((3, 3), dtype=bool)
# Appendix C's shares (0, 1, 2, 3, 5, 10, 15, 20, 25, 50, 75, 100 %) and every 5 % between.
COVERAGE_STEPS = (0, 1, 2, 3, *range(5, 101, 5))


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


_NEG, _POS, _PRO = 0, 1, 2
FPR_LIMIT = 0.3


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Exact ROC AUC (Mann-Whitney U with tied ranks); None when one class is missing."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels, dtype=bool).ravel()
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    starts = np.r_[0, np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]) + 1]
    ends = np.r_[starts[1:], scores.size]
    mean_rank = (starts + ends + 1) / 2.0  # 1-based average rank of each tie group
    ranks = np.empty(scores.size)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auroc_from_counts(tp: np.ndarray, fp: np.ndarray) -> float | None:
    """Trapezoid ROC AUC from counts at descending-sensitivity thresholds (index 0 = all)."""
    if tp[0] <= 0 or fp[0] <= 0:
        return None
    tpr = np.r_[tp[::-1] / tp[0], 1.0]
    fpr = np.r_[fp[::-1] / fp[0], 1.0]
    tpr, fpr = np.r_[0.0, tpr], np.r_[0.0, fpr]
    return _trapezoid(tpr, fpr)


def aupro_from_counts(
    pro_sum: np.ndarray, regions: int, fp: np.ndarray, limit: float = FPR_LIMIT
) -> float | None:
    """Normalised area under PRO(FPR) for FPR in [0, limit], linear interpolation at the limit."""
    if regions == 0 or fp[0] <= 0:
        return None
    fpr = np.r_[0.0, fp[::-1] / fp[0]]
    pro = np.r_[0.0, pro_sum[::-1] / regions]
    inside = fpr <= limit
    x, y = fpr[inside], pro[inside]
    beyond = np.flatnonzero(~inside)
    if beyond.size:
        j = beyond[0]  # first point past the limit; the one before it is inside (fpr[0] = 0)
        x0, x1, y0, y1 = fpr[j - 1], fpr[j], pro[j - 1], pro[j]
        y_limit = y0 + (y1 - y0) * (limit - x0) / (x1 - x0)
        x, y = np.r_[x, limit], np.r_[y, y_limit]
    return _trapezoid(y, x) / limit


def instance_coverage(
    instance: np.ndarray, predicted: np.ndarray, valid: np.ndarray, min_component_size: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(instance ids present in the valid region, their valid pixels, how many of those a
    prediction covers); predicted pixels count only in 8-connected components of at least
    `min_component_size` pixels."""
    inside = valid & (instance > 0)
    present, sizes = np.unique(instance[inside], return_counts=True)
    hitting = predicted & valid
    if min_component_size > 1 and hitting.any():
        from scipy import ndimage  # 0.2 s of import: not on predict's path

        components, _count = ndimage.label(hitting, structure=_EIGHT)
        large = np.bincount(components.ravel()) >= min_component_size
        large[0] = False
        hitting = large[components]
    covered_ids, covered = np.unique(instance[hitting & inside], return_counts=True)
    covered_of_present = np.zeros(present.size, dtype=np.int64)
    covered_of_present[np.searchsorted(present, covered_ids)] = covered
    return present, sizes.astype(np.int64), covered_of_present


def defect_wise_hits(
    instance: np.ndarray, predicted: np.ndarray, valid: np.ndarray, min_component_size: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """(instance ids present in the valid region, bool: touched by a large-enough prediction)."""
    present, _sizes, covered = instance_coverage(instance, predicted, valid, min_component_size)
    return present, covered > 0


def coverage_sweep(sizes, covered, steps=COVERAGE_STEPS) -> list[float | None]:
    """R_DW at each minimum covered share in `steps` [%]: the share of instances with a covered
    pixel and covered * 100 >= step * size (integers, so 5 % of 20 pixels is exactly 1)."""
    sizes, covered = np.asarray(sizes, np.int64), np.asarray(covered, np.int64)
    if sizes.size == 0:
        return [None] * len(steps)
    steps = np.asarray(steps, np.int64)[:, None]
    detected = (covered > 0) & (covered * 100 >= steps * sizes)  # (steps, instances)
    return [round(float(v), 6) for v in detected.mean(axis=1)]


class ImageResult:
    """What one image contributed; `f1` ranks images for the best/worst overlays."""

    __slots__ = ("sample_id", "f1", "score", "anomalous")

    def __init__(self, sample_id: str, f1: float, score: float, anomalous: bool):
        self.sample_id, self.f1, self.score, self.anomalous = sample_id, f1, score, anomalous


class Evaluator:
    """Accumulates the metrics above over (sample, anomaly map) pairs; `result()` = report dict."""

    def __init__(
        self,
        classes: ClassTable,
        threshold: float | None,
        min_component_size: int = 1,
        bins: int = DEFAULT_BINS,
    ):
        self.classes = classes
        self.threshold = threshold
        self.min_component_size = int(min_component_size)
        self.hist = ScoreHistogram(3, bins)
        self.regions = 0
        self.image_scores: list[float] = []
        self.image_labels: list[bool] = []
        self.tp = self.fp = self.fn = 0
        self.class_pixels = np.zeros(256, dtype=np.int64)
        self.class_predicted = np.zeros(256, dtype=np.int64)
        self.class_instances: dict[str, int] = {}
        self.class_detected: dict[str, int] = {}
        self.class_coverage: dict[str, list[tuple[int, int]]] = {}  # (size, covered) an instance
        self.images: list[dict] = []  # per_image(): each image's counts at the threshold
        self._is_defect = classes.kinds_lookup()

    def update(
        self, sample: LoadedSample, anomaly_map: np.ndarray, image_score: float | None = None
    ) -> ImageResult:
        """Count one image; its image score is `image_score` (the model's), else the map's maximum
        over the valid pixels."""
        amap = np.asarray(anomaly_map, dtype=np.float32)
        if amap.shape != sample.valid.shape:
            raise ValueError(f"map {amap.shape} vs masks {sample.valid.shape}")
        valid = sample.valid
        positive = self._is_defect[sample.semantic] & valid
        negative = valid & ~positive
        self.hist.add(_NEG, amap[negative])
        self.hist.add(_POS, amap[positive])
        from scipy import ndimage  # 0.2 s of import: not on predict's path

        regions, count = ndimage.label(positive, structure=_EIGHT)
        if count:
            sizes = np.bincount(regions.ravel())
            inside = regions > 0
            self.hist.add(_PRO, amap[inside], 1.0 / sizes[regions[inside]])
            self.regions += count
        if image_score is None:
            image_score = float(amap[valid].max()) if valid.any() else 0.0
        score = float(image_score)
        self.image_scores.append(score)
        self.image_labels.append(bool(positive.any()))
        f1 = float("nan")
        if self.threshold is not None:
            predicted = (amap >= self.threshold) & valid
            tp = int((predicted & positive).sum())
            fp = int((predicted & negative).sum())
            fn = int(positive.sum()) - tp
            self.tp, self.fp, self.fn = self.tp + tp, self.fp + fp, self.fn + fn
            f1 = 1.0 if tp + fp + fn == 0 else float(f1_score(tp, fp, fn))
            pixels = np.bincount(sample.semantic[valid], minlength=256)
            predicted_pixels = np.bincount(sample.semantic[predicted], minlength=256)
            self.class_pixels += pixels
            self.class_predicted += predicted_pixels
            instances = self._count_instances(sample, predicted)
            self.images.append({
                "id": sample.record.sample_id, "tp": tp, "fp": fp, "fn": fn,
                "class_pixels": {info.name: [int(pixels[info.id]), int(predicted_pixels[info.id])]
                                 for info in self.classes.classes if pixels[info.id]},
                "instances": instances,
            })  # fmt: skip
        return ImageResult(sample.record.sample_id, f1, score, bool(positive.any()))

    def _count_instances(self, sample: LoadedSample, predicted: np.ndarray) -> list[list]:
        """Counts the image's instances; returns them as [class, valid pixels, covered pixels]."""
        present, sizes, covered = instance_coverage(
            sample.instance, predicted, sample.valid, self.min_component_size
        )
        rows = []
        for instance_id, size, hit in zip(present.tolist(), sizes.tolist(), covered.tolist(),
                                          strict=True):  # fmt: skip
            name = sample.instance_classes.get(instance_id)
            if name is None:
                raise ValueError(f"{sample.record.sample_id}: instance {instance_id} has no class")
            self.class_instances[name] = self.class_instances.get(name, 0) + 1
            self.class_detected[name] = self.class_detected.get(name, 0) + int(hit > 0)
            self.class_coverage.setdefault(name, []).append((size, hit))
            rows.append([name, size, hit])
        return rows

    def per_image(self) -> dict:
        """Each image's counts at the threshold (pixel TP/FP/FN, per class valid and predicted
        pixels, instances as [class, valid pixels, covered pixels]): small, no maps."""
        return {
            "threshold": self.threshold,
            "min_component_size": self.min_component_size,
            "classes": {info.name: info.kind for info in self.classes.classes},
            "images": self.images,
        }

    def best_threshold(self) -> tuple[float, float]:
        """(threshold, F1) maximising pixel F1 over what was seen (calibration)."""
        return best_f1_from_histogram(self.hist, _POS, _NEG)

    def pr_curve(self, points: int = 200) -> dict[str, list[float]]:
        tp, fp = self.hist.at_or_above(_POS), self.hist.at_or_above(_NEG)
        keep = np.unique(np.linspace(0, self.hist.bins - 1, points * 8).astype(int))
        keep = keep[(tp[keep] + fp[keep]) > 0]
        if tp[0] <= 0 or keep.size == 0:
            return {"recall": [], "precision": [], "threshold": []}
        recall = tp[keep] / tp[0]
        precision = tp[keep] / (tp[keep] + fp[keep])
        # Thin to at most `points` points evenly spaced in recall, for a small report.json.
        chosen = np.unique(
            np.searchsorted(-recall, -np.linspace(1, 0, points)).clip(0, keep.size - 1)
        )
        return {
            "recall": recall[chosen].round(6).tolist(),
            "precision": precision[chosen].round(6).tolist(),
            "threshold": self.hist.edges[keep][chosen].tolist(),
        }

    def result(self) -> dict:
        """The report dictionary (nested; its dotted paths are the stable keys listed in report.py)."""
        tp_curve, fp_curve = self.hist.at_or_above(_POS), self.hist.at_or_above(_NEG)
        report: dict = {
            "threshold": self.threshold,
            "pixel": {
                "auroc": _round(auroc_from_counts(tp_curve, fp_curve)),
                "aupro": _round(
                    aupro_from_counts(self.hist.at_or_above(_PRO), self.regions, fp_curve)
                ),
            },
            "image": {"auroc": _round(roc_auc(self.image_scores, self.image_labels))},
            "images": len(self.image_scores),
            "min_component_size": self.min_component_size,
        }
        if self.threshold is None:
            return report
        precision = _ratio(self.tp, self.tp + self.fp)
        recall = _ratio(self.tp, self.tp + self.fn)
        report["pixel"].update(
            precision=_round(precision),
            recall=_round(recall),
            f1=_round(float(f1_score(self.tp, self.fp, self.fn)) if self.tp + self.fn else None),
            tp=self.tp,
            fp=self.fp,
            fn=self.fn,
        )
        per_class = {}
        for info in self.classes.classes:
            instances = self.class_instances.get(info.name, 0)
            per_class[info.name] = {
                "kind": info.kind,
                "pixel_recall": _round(
                    _ratio(self.class_predicted[info.id], self.class_pixels[info.id])
                ),
                "defect_wise_recall": _round(
                    _ratio(self.class_detected.get(info.name, 0), instances)
                ),
                "pixels": int(self.class_pixels[info.id]),
                "instances": instances,
            }
        report["per_class"] = per_class
        defect_recalls = [
            c["defect_wise_recall"]
            for c in per_class.values()
            if c["kind"] == "defect" and c["defect_wise_recall"] is not None
        ]
        report["mean_defect_wise_recall"] = _round(
            float(np.mean(defect_recalls)) if defect_recalls else None
        )
        report["coverage_sweep"] = {
            "min_covered_share": [step / 100 for step in COVERAGE_STEPS],
            "defect_wise_recall": {
                info.name: coverage_sweep(*zip(*self.class_coverage[info.name], strict=True))
                for info in self.classes.classes
                if info.name in self.class_coverage
            },
        }
        return report


def _ratio(numerator, denominator) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def flatten(report: Mapping, prefix: str = "") -> dict:
    """Nested report -> {dotted.key: value}, for tests and tables."""
    flat = {}
    for key, value in report.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
