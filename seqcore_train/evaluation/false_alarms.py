"""A threshold from good images alone: at most a share R of nominal images flagged.

Before any defect has been seen, the only thing a threshold can promise is how often it flags a good
image. An image is flagged when any valid pixel of its map reaches the threshold, so what counts per
image is its largest valid map value m. Sort the n calibration images' maxima, m_(1) <= ... <= m_(n),
and put the threshold just above the order statistic m_(j) with

    j = ceil((n + 1) (1 - R))

(the split-conformal quantile). A new good image exchangeable with the calibration images then lands
above m_(j) with probability at most (n + 1 - j) / (n + 1) <= R, whatever the maxima's distribution;
ties only lower it. Of the calibration images themselves, k = n - j are flagged (at most nR).

The rate a threshold chosen this way actually has is random: with continuous maxima, 1 - F(m_(j))
follows Beta(k + 1, n - k), whose mean is (k + 1) / (n + 1) and whose 95 % quantile (the same number
as the one-sided Clopper-Pearson bound for k flagged of n) is reported as `upper_95`. Its spread
shrinks only with n, which fixes how many images a rate needs:

  * `images_for_rate` = ceil(1/R - 1): fewer, and j > n, so the threshold is the largest maximum and
    the expected rate 1 / (n + 1) exceeds R (reported, not refused: it is the best the data allow);
  * `images_for_95` = ceil(ln 0.05 / ln(1 - R)): the success-run rule (about 3 / R, the rule of
    three). With this many images, even a threshold above every one of them (k = 0) is only then
    known, at 95 % confidence, to flag at most R of good images.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["NominalThreshold", "nominal_threshold", "images_for_rate", "images_for_95"]

CONFIDENCE = 0.95


@dataclass(frozen=True)
class NominalThreshold:
    """The threshold and what n good images can say about its false-alarm rate."""

    threshold: float
    false_alarm_rate: float  # R, as asked
    images: int  # n
    rank: int  # j: the threshold lies just above the j-th smallest maximum
    flagged: int  # k = n - j calibration images at or above the threshold
    expected_rate: float  # (k + 1) / (n + 1): the mean rate on new good images
    upper_95: float  # the rate's 95 % upper bound
    images_for_rate: int
    images_for_95: int

    def to_dict(self) -> dict:
        return {"method": "nominal", **asdict(self)}


def images_for_rate(rate: float) -> int:
    """Fewest images whose conformal quantile lies below their largest maximum: n >= 1/R - 1."""
    return max(1, math.ceil((1.0 - rate) / rate - 1e-12))


def images_for_95(rate: float) -> int:
    """Fewest images for which k = 0 flagged of n bounds the rate by R at 95 %: (1 - R)^n <= 0.05."""
    return math.ceil(math.log(1.0 - CONFIDENCE) / math.log1p(-rate) - 1e-12)


def _upper_bound(flagged: int, images: int) -> float:
    """95 % quantile of Beta(k + 1, n - k): the one-sided Clopper-Pearson upper bound."""
    if flagged >= images:
        return 1.0
    from scipy.special import betaincinv  # function-local: scipy stays off predict's path

    return float(betaincinv(flagged + 1, images - flagged, CONFIDENCE))


def nominal_threshold(maxima, rate: float) -> NominalThreshold:
    """The threshold flagging at most a share `rate` of good images, from their map maxima."""
    if not 0.0 < rate < 1.0:
        raise ValueError(f"the false-alarm rate must lie strictly between 0 and 1, got {rate}")
    values = np.sort(np.asarray(maxima, dtype=np.float32).ravel())
    n = int(values.size)
    if n == 0:
        raise ValueError("no nominal images")
    if not np.isfinite(values).all():
        raise ValueError("anomaly map maxima must be finite")
    rank = min(n, math.ceil((n + 1) * (1.0 - rate) - 1e-9))  # j, 1-based; n when too few
    # Just above m_(j) in float32, the maps' precision: an image whose maximum equals it is not
    # flagged by `map >= threshold`, and the value compares the same in float32 and float64.
    threshold = float(np.nextafter(values[rank - 1], np.float32(np.inf)))
    flagged = int((values >= threshold).sum())  # n - j, fewer where maxima tie at m_(j)
    return NominalThreshold(
        threshold=threshold,
        false_alarm_rate=float(rate),
        images=n,
        rank=rank,
        flagged=flagged,
        expected_rate=(n - rank + 1) / (n + 1),
        upper_95=_upper_bound(n - rank, n),
        images_for_rate=images_for_rate(rate),
        images_for_95=images_for_95(rate),
    )
