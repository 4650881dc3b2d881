"""The paired bootstrap on hand-made per-image numbers whose interval is known analytically or by
enumerating every draw, and its metrics against the evaluator's own report."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from seqcore_train.data.records import ClassTable
from seqcore_train.evaluation.bootstrap import (
    count_matrix,
    paired_bootstrap,
    report_from_sums,
    resample,
)
from seqcore_train.evaluation.metrics import Evaluator

from .test_metrics import random_images

CLASSES = [(info.name, info.kind) for info in ClassTable().classes]
NAMES = [name for name, _ in CLASSES]


def _image(sample_id, tp, fn, instances):
    return {"id": sample_id, "tp": tp, "fp": 0, "fn": fn, "class_pixels": {},
            "instances": instances}  # fmt: skip


def _scratches(detected):
    """One scratch instance per image, covered by one pixel where `detected`."""
    images = [_image(f"i{k}", 0, 0, [["scratch", 10, int(hit)]]) for k, hit in enumerate(detected)]
    return {"images": images}


IDS = ["i0", "i1", "i2", "i3"]


def _scratch_difference(a, b):
    """d per seed (one seed here) of scratch R_DW, A - B, for image weights (B, images)."""
    counts = [count_matrix(per_image, IDS, NAMES) for per_image in (a, b)]

    def difference(weights):
        recall = [report_from_sums(weights @ c, CLASSES)["per_class"]["scratch"] for c in counts]
        return (recall[0]["defect_wise_recall"] - recall[1]["defect_wise_recall"])[None, :]

    return difference


def test_interval_over_test_images_is_the_binomials_quantiles():
    """A detects all four scratches, B only image 0's: on a resample d = 1 - k / 4 with k, the
    draws of image 0, Binomial(4, 1/4): P(k = 4) = 0.004 < 2.5 % < P(k >= 3) = 0.051 and
    P(k = 0) = 0.32 > 2.5 %, so the 95 % interval is [0.25, 1]."""
    a, b = _scratches([1, 1, 1, 1]), _scratches([1, 0, 0, 0])
    rng = np.random.default_rng(7)
    interval = paired_bootstrap(_scratch_difference(a, b), 4, 1, rng, resamples=4000)
    assert interval.d == pytest.approx(0.75)
    assert (interval.low, interval.high) == pytest.approx((0.25, 1.0))
    assert interval.half_width == pytest.approx(0.375)
    assert interval.verdict() == "✓" and interval.defined == 4000
    # the other way round: the interval lies below 0
    reverse = paired_bootstrap(_scratch_difference(b, a), 4, 1, rng, resamples=4000)
    assert (reverse.low, reverse.high) == pytest.approx((-1.0, -0.25))
    assert reverse.verdict() == "✗"
    # the same row on both sides: every resample has d = 0, nothing to decide
    same = paired_bootstrap(_scratch_difference(a, a), 4, 1, rng, resamples=500)
    assert (same.d, same.low, same.high) == (0.0, 0.0, 0.0) and same.verdict() == "within noise"


def test_every_draw_enumerated_matches_a_brute_force_loop():
    """All 4^4 ordered draws of the test images: the vectorised d equals a plain loop's, and the
    draws' mean is 1 - E[k] / 4 = 0.75."""
    a, b = _scratches([1, 1, 1, 1]), _scratches([1, 0, 1, 0])
    draws = list(itertools.product(range(4), repeat=4))
    weights = np.array([np.bincount(draw, minlength=4) for draw in draws], dtype=float)
    d = _scratch_difference(a, b)(weights)[0]
    for draw, value in zip(draws, d, strict=True):
        hits_b = sum(b["images"][i]["instances"][0][2] > 0 for i in draw)
        assert value == pytest.approx(1 - hits_b / 4)
    assert d.mean() == pytest.approx(0.5)  # B detects half the images
    picks = np.zeros((len(draws), 1), dtype=int)
    interval = paired_bootstrap(_scratch_difference(a, b), 4, 1, None, draws=(weights, picks))
    assert interval.resamples == 256 and interval.d == pytest.approx(0.5)


def test_seeds_are_resampled_too():
    """Every image has 10 defect pixels. Seed 0: A finds 6, B 4 (d = 0.2 on any image draw);
    seed 1: A 8, B 4 (d = 0.4). Two seeds drawn with replacement: mean d 0.2, 0.3 or 0.4 with
    probabilities 1/4, 1/2, 1/4, so the interval is [0.2, 0.4] around d = 0.3."""
    ids = ["p0", "p1", "p2"]

    def counts(tp):
        return count_matrix({"images": [_image(i, tp, 10 - tp, []) for i in ids]}, ids, NAMES)

    seeds = [(counts(6), counts(4)), (counts(8), counts(4))]

    def difference(weights):
        recall = [[report_from_sums(weights @ c, CLASSES)["pixel"]["recall"] for c in pair]
                  for pair in seeds]  # fmt: skip
        return np.stack([a - b for a, b in recall])

    interval = paired_bootstrap(difference, 3, 2, np.random.default_rng(1), resamples=2000)
    assert interval.d == pytest.approx(0.3)
    assert (interval.low, interval.high) == pytest.approx((0.2, 0.4))
    assert interval.verdict() == "✓"


def test_resample_draws_with_replacement():
    weights, picks = resample(5, 3, np.random.default_rng(0), resamples=1000)
    assert weights.shape == (1000, 5) and picks.shape == (1000, 3)
    assert (weights.sum(axis=1) == 5).all() and set(np.unique(picks)) == {0, 1, 2}
    assert (weights == 0).any(axis=1).mean() > 0.5  # most draws miss some image: 1 - 5!/5^5


def test_metrics_from_summed_counts_equal_the_evaluators(rng, sample_factory):
    classes = ClassTable()
    evaluator = Evaluator(classes, 0.6)
    for sample, amap in random_images(rng, sample_factory, n=6):
        evaluator.update(sample, amap)
    report = evaluator.result()
    per_image = evaluator.per_image()
    ids = [image["id"] for image in per_image["images"]]
    ours = report_from_sums(count_matrix(per_image, ids, NAMES).sum(axis=0), CLASSES)
    for key in ("precision", "recall", "f1"):
        assert ours["pixel"][key] == pytest.approx(report["pixel"][key], abs=1e-6)
    assert ours["mean_defect_wise_recall"] == pytest.approx(
        report["mean_defect_wise_recall"], abs=1e-6
    )
    for name in NAMES:
        for key in ("pixel_recall", "defect_wise_recall"):
            expected = report["per_class"][name][key]
            value = ours["per_class"][name][key]
            assert (np.isnan(value) and expected is None) or value == pytest.approx(
                expected, abs=1e-6
            )
