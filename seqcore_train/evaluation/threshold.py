"""Streaming score histograms and the F1-optimal threshold (the one maximising pixel F1 on val).

Pixel scores of a whole test set do not fit in memory at full resolution, so metrics count scores
on a fine grid instead: bin k covers [k*w, (k+1)*w), and when a score lands beyond the last bin the
width w doubles and neighbouring bins merge (exact, since edges stay multiples of w). Counting
"score >= edge_k" is therefore exact at every edge; the only approximation is that thresholds are
restricted to edges (resolution max/bins) and ROC ties inside one bin. tests/ checks the results
against sklearn and brute force on random data.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ScoreHistogram", "best_f1_threshold", "best_f1_from_histogram", "f1_score"]

DEFAULT_BINS = 1 << 17


class ScoreHistogram:
    """Weighted counts of non-negative scores on a shared, self-widening grid, per channel."""

    def __init__(self, channels: int, bins: int = DEFAULT_BINS):
        self.bins = int(bins)
        self.width: float | None = None  # a power of two once the first score arrives
        self.counts = np.zeros((channels, self.bins), dtype=np.float64)

    def _fit(self, top: float) -> None:
        if not np.isfinite(top):
            raise ValueError("anomaly scores must be finite")
        if self.width is None:
            self.width = 2.0 ** np.ceil(np.log2(max(top, 1e-12) / (self.bins - 1)))
        while top >= self.width * self.bins:
            merged = self.counts.reshape(len(self.counts), self.bins // 2, 2).sum(axis=2)
            self.counts[:] = 0
            self.counts[:, : self.bins // 2] = merged
            self.width *= 2.0

    def add(self, channel: int, scores: np.ndarray, weights: np.ndarray | None = None) -> None:
        scores = np.asarray(scores, dtype=np.float64).ravel()
        if scores.size == 0:
            return
        low = scores.min()
        if low < 0:
            raise ValueError(f"anomaly scores must be >= 0, got {low}")
        self._fit(float(scores.max()))
        index = np.minimum((scores / self.width).astype(np.int64), self.bins - 1)
        self.counts[channel] += np.bincount(
            index,
            weights=None if weights is None else np.asarray(weights).ravel(),
            minlength=self.bins,
        )

    @property
    def edges(self) -> np.ndarray:
        """Lower edge of each bin: the thresholds at which `at_or_above` is exact."""
        return np.arange(self.bins, dtype=np.float64) * (self.width or 0.0)

    def at_or_above(self, channel: int) -> np.ndarray:
        """(bins,) weighted count of scores >= edge_k."""
        return np.cumsum(self.counts[channel][::-1])[::-1]


def f1_score(tp, fp, fn):
    """F1 = 2TP / (2TP + FP + FN), 0 where undefined; works on arrays."""
    tp, fp, fn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, fn))
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(denominator), where=denominator > 0)


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Exact (threshold, F1) over every distinct score, predicting `score >= threshold`.

    Ties go to the highest threshold reaching the best F1 (the most conservative mask).
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels, dtype=bool).ravel()
    if scores.size == 0:
        raise ValueError("no scores")
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order]
    tp = np.cumsum(sorted_labels)
    fp = np.cumsum(~sorted_labels)
    # The last index of each run of equal scores: the counts for threshold = that score.
    last = np.flatnonzero(np.r_[sorted_scores[1:] != sorted_scores[:-1], True])
    f1 = f1_score(tp[last], fp[last], labels.sum() - tp[last])
    best = int(np.argmax(f1))
    return float(sorted_scores[last[best]]), float(f1[best])


def best_f1_from_histogram(
    hist: ScoreHistogram, positive: int, negative: int
) -> tuple[float, float]:
    """(threshold, F1) maximising F1 over the histogram's edges (exact counts at each edge)."""
    if hist.width is None:
        raise ValueError("no scores")
    tp = hist.at_or_above(positive)
    fp = hist.at_or_above(negative)
    f1 = f1_score(tp, fp, tp[0] - tp)
    # Highest edge among the best: np.argmax finds the first maximum, so search reversed.
    best = hist.bins - 1 - int(np.argmax(f1[::-1]))
    return float(hist.edges[best]), float(f1[best])
