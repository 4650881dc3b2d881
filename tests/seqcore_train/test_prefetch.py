"""The fit's one-ahead feature pipeline: order, errors, clean stops, per-thread torch thread counts."""

from __future__ import annotations

import threading

import pytest
import torch

from seqcore_train.model import ModelConfig, SeqPatchCore
from seqcore_train.prefetch import ahead, producer_threads


def test_items_arrive_in_order_and_are_made_on_another_thread():
    made_on = []

    def produce():
        for i in range(50):
            made_on.append(threading.get_ident())
            yield i

    assert list(ahead(produce(), threads=1)) == list(range(50))
    assert set(made_on) and threading.get_ident() not in made_on


def test_a_producer_error_is_raised_in_the_consumer_after_the_items_before_it():
    def produce():
        yield 1
        yield 2
        raise ValueError("bad image a.png")

    seen = []
    with pytest.raises(ValueError, match="bad image a.png"):
        for item in ahead(produce(), threads=1):
            seen.append(item)
    assert seen == [1, 2]


def test_a_consumer_that_stops_early_stops_the_producer():
    produced = []

    def produce():
        for i in range(10_000):
            produced.append(i)
            yield i

    stream = ahead(produce(), threads=1)
    assert next(stream) == 0
    stream.close()  # joins the worker
    assert len(produced) <= 3  # one consumed, one in the slot, one waiting to be put
    assert not any(t.name == "seqcore-prefetch" for t in threading.enumerate())


def test_the_producer_thread_count_is_its_own():
    main_threads = torch.get_num_threads()
    seen = []

    def produce():
        seen.append(torch.get_num_threads())
        yield None

    list(ahead(produce(), threads=1))
    assert seen == [1]
    assert torch.get_num_threads() == main_threads
    assert producer_threads() == (main_threads - 1 if main_threads >= 2 else 0)


def test_a_pipelined_fit_is_reproducible_and_matches_its_features(tmp_path):
    """Two fits give the same bank bits, and every bank point is one of the training patches."""
    torch.manual_seed(0)
    images = torch.rand(6, 3, 96, 96)

    def batches(_epoch):
        for lo in range(0, len(images), 2):
            yield images[lo : lo + 2], None

    def fit():
        model = SeqPatchCore(ModelConfig(coreset_size=40), device="cpu")
        model.fit(batches, epochs=2)
        return model

    first, second = fit(), fit()
    assert torch.equal(first.bank, second.bank)
    # The producer ran with its own thread count, so compare against features computed the same way.
    patches = torch.cat(
        list(ahead((first.patches(x, v) for x, v in batches(0)), producer_threads() or 1))
    )
    gap = (
        torch.cdist(first.bank, patches, compute_mode="donot_use_mm_for_euclid_dist")
        .min(dim=1)
        .values
    )
    assert float(gap.max()) <= 1e-4 * float(patches.norm(dim=1).max())
