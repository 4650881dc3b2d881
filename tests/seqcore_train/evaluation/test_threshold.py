"""The F1-optimal threshold equals a brute-force search; the histogram stays within one bin."""

from __future__ import annotations

import numpy as np
import pytest

from seqcore_train.data.records import ClassTable
from seqcore_train.evaluation.metrics import Evaluator
from seqcore_train.evaluation.threshold import ScoreHistogram, best_f1_threshold


def brute_force(scores, labels):
    best = (-1.0, None)
    for t in sorted(set(scores.tolist()), reverse=True):
        predicted = scores >= t
        tp = np.sum(predicted & labels)
        fp = np.sum(predicted & ~labels)
        fn = np.sum(~predicted & labels)
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
        if f1 > best[0]:
            best = (f1, t)
    return best[1], best[0]


@pytest.mark.parametrize("seed", range(5))
def test_exact_threshold_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    labels = rng.random(400) < 0.3
    scores = np.round(rng.random(400) + labels * rng.random(400), 3)  # ties included
    threshold, f1 = best_f1_threshold(scores, labels)
    expected_threshold, expected_f1 = brute_force(scores, labels)
    assert threshold == expected_threshold
    assert f1 == pytest.approx(expected_f1, abs=1e-12)


def test_histogram_threshold_matches_brute_force_within_a_bin(rng, sample_factory):
    semantic = (rng.random((60, 70)) < 0.2).astype(np.uint8)  # class 1 = scratch (defect)
    amap = (rng.random((60, 70)) * 3 + semantic * rng.random((60, 70)) * 2).astype(np.float32)
    evaluator = Evaluator(ClassTable(), None)
    evaluator.update(sample_factory(semantic, np.zeros_like(semantic), {}), amap)
    threshold, f1 = evaluator.best_threshold()
    expected_threshold, expected_f1 = best_f1_threshold(amap.ravel(), semantic.ravel() > 0)
    assert f1 == pytest.approx(expected_f1, abs=1e-3)
    assert abs(threshold - expected_threshold) <= 2 * evaluator.hist.width + 1e-3
    # The F1 reported for the chosen threshold is the true F1 at that threshold.
    predicted = amap.ravel() >= threshold
    truth = semantic.ravel() > 0
    tp = np.sum(predicted & truth)
    exact = 2 * tp / (2 * tp + np.sum(predicted & ~truth) + np.sum(~predicted & truth))
    assert f1 == pytest.approx(exact, abs=1e-12)


def test_histogram_widens_exactly(rng):
    hist = ScoreHistogram(1, bins=64)
    first = rng.random(500)
    hist.add(0, first)
    second = rng.random(500) * 37
    hist.add(0, second)  # forces several doublings
    everything = np.r_[first, second]
    for k in range(0, 64, 7):
        assert hist.at_or_above(0)[k] == np.sum(everything >= hist.edges[k])
    with pytest.raises(ValueError):
        hist.add(0, np.array([-1.0]))
