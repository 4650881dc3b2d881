"""The fast sequential coreset against the slow reference, plus melding and the greedy baseline."""

from __future__ import annotations

import math

import pytest
import torch

from seqcore_train.model.coreset import (
    SequentialCoreset,
    greedy_kcenter,
    meld,
    reference_sequential_coreset,
)
from seqcore_train.model.distances import exact_distances


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _fast(patches, size, chunk, pieces=1, bank=None):
    coreset = SequentialCoreset(size=size, chunk_size=chunk, bank=bank)
    for part in torch.tensor_split(patches, pieces):
        coreset.update(part)
    return coreset


def _assert_same_as_reference(patches, size, chunk, pieces=1, bank=None):
    counts = {}
    expected = reference_sequential_coreset(patches, size, bank=bank, counts=counts)
    coreset = _fast(patches, size, chunk, pieces, bank)
    assert torch.equal(coreset.bank, expected)
    assert coreset.replacements == counts["replacements"]
    return coreset, counts


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("size", [1, 2, 5, 24])
def test_fast_equals_reference_random(seed, size):
    # Clustered data with a drift, so replacements keep happening over the whole stream.
    g = _gen(seed)
    centres = torch.randn(6, 8, generator=g, dtype=torch.float64) * 4
    labels = torch.randint(0, 6, (500,), generator=g)
    patches = centres[labels] + torch.randn(500, 8, generator=g, dtype=torch.float64)
    patches += torch.linspace(0, 12, 500, dtype=torch.float64)[:, None]
    for chunk, pieces in ((1, 1), (7, 3), (64, 2), (4096, 1)):
        coreset, counts = _assert_same_as_reference(patches, size, chunk, pieces)
    if size >= 2:
        assert counts["replacements"] > 0  # the comparison is not vacuous


def test_fast_equals_reference_float32():
    g = _gen(7)
    patches = torch.randn(2000, 32, generator=g) * 3 + 10  # large norms: the product cancels
    coreset, counts = _assert_same_as_reference(patches, 48, 256)
    assert counts["replacements"] > 20


def test_fast_equals_reference_duplicates():
    g = _gen(11)
    base = torch.randn(40, 6, generator=g, dtype=torch.float64)
    patches = base[torch.randint(0, 40, (400,), generator=g)]  # every patch repeats many times
    for size in (2, 8, 30, 39):
        _, counts = _assert_same_as_reference(patches, size, 32)
    # The fill takes duplicates (d_m = 0), so later distinct patches must replace them.
    assert counts["replacements"] > 0


def test_fast_equals_reference_ties():
    # Integer lattice points: many pairs at exactly equal distance, computed exactly in floating point.
    g = _gen(5)
    patches = torch.randint(0, 4, (600, 3), generator=g).double()
    for size in (2, 3, 6, 12, 20):
        for chunk in (1, 16, 600):
            _assert_same_as_reference(patches, size, chunk)


def test_tie_rule_replaces_lower_index_and_equal_distance_does_not_replace():
    # Bank: 0 and 1 are 1 apart, 2 and 3 are 1 apart, everything else farther. d_m = 1.
    bank = torch.tensor([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0], [11.0, 0.0]], dtype=torch.float64)
    coreset = SequentialCoreset(size=4, chunk_size=8, bank=bank)
    assert coreset.d_m == 1.0
    coreset.update(torch.tensor([[5.5, 1.0]], dtype=torch.float64))  # farther than 1 from all
    assert torch.equal(coreset.bank[0], torch.tensor([5.5, 1.0], dtype=torch.float64))
    assert coreset.replacements == 1
    before = coreset.bank.clone()
    # Exactly d_m away from its nearest point (point 2 after the replacement is at (10, 0)): no change.
    coreset.update(torch.tensor([[10.0, -1.0]], dtype=torch.float64))
    assert torch.equal(coreset.bank, before)


def test_fewer_patches_than_size_and_size_one():
    g = _gen(3)
    patches = torch.randn(10, 4, generator=g, dtype=torch.float64)
    coreset, counts = _assert_same_as_reference(patches, 32, 4, pieces=3)
    assert torch.equal(coreset.bank, patches)
    assert len(coreset) == 10 and counts["additions"] == 10 and math.isinf(coreset.d_m)
    single = _fast(patches, 1, 4)
    assert torch.equal(single.bank, patches[:1]) and single.replacements == 0


def test_size_two_keeps_the_widest_pair_it_sees_in_order():
    patches = torch.tensor([[0.0], [1.0], [3.0], [2.0], [-5.0]], dtype=torch.float64)
    coreset, _ = _assert_same_as_reference(patches, 2, 2)
    # [0,1] d_m=1 -> 3 replaces 0 (d=2>1): [3,1] d_m=2 -> 2 (d=1) no -> -5 (d=6>2) replaces 0: [-5,1]
    assert coreset.bank.flatten().tolist() == [-5.0, 1.0]
    assert coreset.replacements == 2


def test_resume_from_bank_equals_reference_from_bank():
    g = _gen(9)
    bank = torch.randn(16, 5, generator=g, dtype=torch.float64)
    patches = torch.randn(300, 5, generator=g, dtype=torch.float64) * 2
    _assert_same_as_reference(patches, 16, 50, bank=bank)
    partial = bank[:10]  # a bank that is not yet full continues filling first
    coreset, counts = _assert_same_as_reference(patches, 16, 50, bank=partial)
    assert counts["additions"] == 6


def test_d_m_never_decreases_and_matches_bank():
    g = _gen(4)
    coreset = SequentialCoreset(size=20, chunk_size=33)
    last = -math.inf
    for _ in range(6):
        coreset.update(torch.randn(200, 6, generator=g, dtype=torch.float64))
        d = exact_distances(coreset.bank, coreset.bank)
        d.fill_diagonal_(math.inf)
        assert coreset.d_m == float(d.min())
        # The incrementally kept D_M and nearest neighbours equal a fresh computation, bit for bit.
        assert torch.equal(coreset._dist, d)
        assert torch.equal(coreset._nn_val, d.min(dim=1).values)
        assert coreset.d_m >= last
        last = coreset.d_m


def test_bad_shapes_are_rejected():
    coreset = SequentialCoreset(size=4)
    coreset.update(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="features"):
        coreset.update(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="NaN"):
        coreset.update(torch.tensor([[0.0, float("nan"), 1.0]]))
    with pytest.raises(ValueError, match="coreset size"):
        SequentialCoreset(size=2, bank=torch.zeros(3, 3))


def _greedy_by_hand(patches, size, start):
    chosen = [start]
    while len(chosen) < size:
        d = exact_distances(patches, patches[chosen]).min(dim=1).values
        chosen.append(int(d.argmax()))
    return patches[chosen]


def test_greedy_kcenter_matches_brute_force():
    g = _gen(21)
    patches = torch.randn(300, 5, generator=g, dtype=torch.float64)
    start = int(torch.randint(300, (1,), generator=_gen(1)))
    result = greedy_kcenter(patches, 25, generator=_gen(1))
    assert torch.equal(result, _greedy_by_hand(patches, 25, start))
    assert torch.equal(greedy_kcenter(patches[:10], 25), patches[:10])


def _coverage(points, bank):
    return float(exact_distances(points, bank).min(dim=1).values.max())


def test_meld_covers_the_second_domain_and_keeps_the_size():
    g = _gen(2)
    x = torch.randn(800, 6, generator=g, dtype=torch.float64)
    y = torch.randn(800, 6, generator=g, dtype=torch.float64) * 0.5 + 4.0  # another domain
    a = _fast(x, 32, 128).bank
    b = _fast(y, 32, 128).bank
    for size in (32, 16, 64):
        melded = meld([a, b], size, epochs=5, generator=_gen(0), chunk_size=40)
        assert melded.shape == (size, 6)
        assert _coverage(y, melded) < _coverage(y, a)
        # Every melded point comes from one of the source coresets.
        sources = torch.cat([a, b])
        assert bool((exact_distances(melded, sources).min(dim=1).values == 0).all())


def test_meld_first_epoch_is_the_reference_over_the_concatenation():
    g = _gen(8)
    a = torch.randn(20, 4, generator=g, dtype=torch.float64)
    b = torch.randn(20, 4, generator=g, dtype=torch.float64) + 2
    melded = meld([a, b], 20, epochs=1)
    assert torch.equal(melded, reference_sequential_coreset(torch.cat([a, b]), 20))


@pytest.mark.parametrize("use_kernel", [True, False], ids=["compiled", "torch-ops"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_both_bookkeeping_paths_equal_reference_and_keep_d_m_exact(use_kernel, dtype):
    # CPU runs the per-replacement loop compiled; other devices use torch ops. Both
    # must give the reference's bank and a D_M / nearest-neighbour state equal to a fresh one.
    g = _gen(13)
    centres = torch.randn(5, 12, generator=g, dtype=dtype) * 4 + 6
    patches = centres[torch.randint(0, 5, (1500,), generator=g)]
    patches = patches + torch.randn(1500, 12, generator=g, dtype=dtype)
    patches += torch.linspace(0, 10, 1500, dtype=dtype)[:, None]
    lattice = torch.randint(0, 4, (400, 12), generator=g).to(dtype)  # exact ties
    for data, size in ((patches, 40), (patches, 3), (lattice, 25)):
        counts = {}
        expected = reference_sequential_coreset(data, size, counts=counts)
        for chunk, pieces in ((1, 1), (37, 4), (4096, 1)):
            coreset = SequentialCoreset(size=size, chunk_size=chunk)
            coreset.use_kernel = use_kernel
            for part in torch.tensor_split(data, pieces):
                coreset.update(part)
            assert torch.equal(coreset.bank, expected)
            assert coreset.replacements == counts["replacements"] > 0
            d = exact_distances(coreset.bank, coreset.bank)
            d.fill_diagonal_(math.inf)
            assert torch.equal(coreset._dist, d)
            assert torch.equal(coreset._nn_val, d.min(dim=1).values)
            assert torch.equal(d[torch.arange(size), coreset._nn_idx], coreset._nn_val)
