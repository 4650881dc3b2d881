"""The nominal-only threshold on hand-made maxima with known answers, and its promise checked by
simulation on a distribution whose false-alarm rate is known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from seqcore_train.evaluation.false_alarms import images_for_95, images_for_rate, nominal_threshold


def test_quantile_of_one_to_ninety_nine():
    # n = 99, R = 0.1: j = ceil(100 * 0.9) = 90, so 91..99 are flagged (9 of 99) and 90 is not.
    found = nominal_threshold(np.arange(1, 100), 0.1)
    assert found.rank == 90 and found.flagged == 9 and found.images == 99
    assert 90 < found.threshold < 90.0001
    assert found.expected_rate == pytest.approx(0.1)


def test_threshold_is_just_above_the_order_statistic_in_float32():
    maxima = np.float32([0.3, 0.7, 0.5, 0.9])
    found = nominal_threshold(maxima, 0.2)  # j = ceil(5 * 0.8) = 4: above the largest
    assert found.threshold == float(np.nextafter(np.float32(0.9), np.float32(1)))
    assert not (maxima >= found.threshold).any()  # as predict compares a float32 map


def test_too_few_images_take_the_largest_and_say_so():
    found = nominal_threshold([1.0, 2.0, 3.0, 4.0, 5.0], 0.1)  # j = ceil(6 * 0.9) = 6 > 5
    assert found.rank == 5 and found.flagged == 0
    assert found.expected_rate == pytest.approx(1 / 6)  # above R: the data cannot do better
    assert found.images_for_rate == 9  # 1/R - 1
    assert nominal_threshold(np.arange(9.0), 0.1).expected_rate == pytest.approx(0.1)


def test_ties_at_the_order_statistic_are_not_flagged():
    found = nominal_threshold([1, 2, 2, 2, 2, 2, 2, 2, 2, 3], 0.3)  # j = ceil(11 * 0.7) = 8
    assert found.flagged == 1  # only the 3: the 2s tie at m_(8)


def test_images_needed():
    assert images_for_95(0.01) == 299  # ln 0.05 / ln 0.99 = 298.07
    assert images_for_95(0.05) == 59
    assert images_for_rate(0.01) == 99
    assert images_for_rate(0.3) == 3  # (n + 1) * 0.7 <= n from n = 7/3


@pytest.mark.parametrize(("images", "rate"), [(59, 0.05), (200, 0.1), (30, 0.5)])
def test_upper_bound_is_the_clopper_pearson_bound(images, rate):
    found = nominal_threshold(np.arange(images, dtype=np.float32), rate)
    k = images - found.rank
    # The binomial definition, independent of the beta function used inside.
    assert binom.cdf(k, images, found.upper_95) == pytest.approx(0.05, abs=1e-9)
    if k == 0:
        assert found.upper_95 == pytest.approx(1 - 0.05 ** (1 / images))


def test_rate_on_new_images_by_simulation():
    # Uniform maxima: a threshold t flags a new good image with probability exactly 1 - t.
    rng = np.random.default_rng(0)
    n, rate, trials = 50, 0.1, 4000
    true_rates = np.empty(trials)
    found = None
    for trial in range(trials):
        found = nominal_threshold(rng.random(n, dtype=np.float32), rate)
        true_rates[trial] = 1.0 - found.threshold
    assert found.expected_rate == pytest.approx(5 / 51)  # j = 46, k = 4
    assert true_rates.mean() == pytest.approx(
        found.expected_rate, abs=3 * true_rates.std() / math.sqrt(trials)
    )
    assert true_rates.mean() <= rate
    exceeded = (true_rates > found.upper_95).mean()  # the 95 % bound fails 5 % of the time
    assert exceeded == pytest.approx(0.05, abs=0.012)


@pytest.mark.parametrize("rate", [0.0, 1.0, -0.1])
def test_rate_outside_zero_one_is_refused(rate):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        nominal_threshold([1.0, 2.0], rate)
