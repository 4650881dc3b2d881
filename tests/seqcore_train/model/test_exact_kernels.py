"""The compiled exact distances: right (against scipy in float64), and a fixed sequence of IEEE
operations (against the same sequence in numpy), which is what makes them CPU-independent."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from seqcore_train.model.distances import exact_distances, load_kernels_in_background


def _data(rows: int, cols: int, dim: int, dtype, seed: int = 0):
    rng = np.random.default_rng(seed)
    a = (rng.normal(size=(rows, dim)) * 5 + 20).astype(dtype)
    b = (rng.normal(size=(cols, dim)) * 5 + 20).astype(dtype)
    b[: min(3, cols)] = a[: min(3, cols)]  # some zero distances
    return torch.from_numpy(a), torch.from_numpy(b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 2304, 152), (37, 53, 7), (5, 1, 1), (3, 0, 4)])
def test_exact_distances_agree_with_scipy_in_float64(dtype, shape):
    a, b = _data(*shape, dtype)
    got = exact_distances(a, b)
    assert got.dtype == a.dtype and got.shape == shape[:2]
    want = cdist(a.double().numpy(), b.double().numpy())
    # Summing D squares in order: relative error <= (D + 2) u (+ the sqrt's half ulp).
    u = np.finfo(dtype).eps / 2
    tolerance = (shape[2] + 3) * u * want + np.finfo(dtype).tiny
    assert np.all(np.abs(got.double().numpy() - want) <= tolerance)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exact_distances_are_the_in_order_sum_of_squared_differences(dtype):
    # The same IEEE operations in the same order, written with numpy (each op rounds once, no
    # fused multiply-add): equal bits prove the kernel neither reorders nor fuses, so its results
    # cannot depend on the CPU's vector width or FMA units.
    a, b = _data(9, 301, 67, dtype, seed=1)
    got = exact_distances(a, b).numpy()
    an, bn = a.numpy(), b.numpy()
    acc = np.zeros((len(an), len(bn)), dtype=dtype)
    for c in range(an.shape[1]):
        d = bn[None, :, c] - an[:, None, c]
        acc = acc + d * d
    assert acc.dtype == dtype
    np.testing.assert_array_equal(got, np.sqrt(acc))


def test_exact_distances_are_symmetric_and_row_independent():
    a, b = _data(40, 70, 33, np.float32, seed=2)
    full = exact_distances(a, b)
    assert torch.equal(full, exact_distances(b, a).T)
    for i in (0, 17, 39):
        assert torch.equal(exact_distances(a[i : i + 1], b)[0], full[i])
    assert torch.equal(exact_distances(a[::3], b[5:]), full[::3, 5:])  # strided inputs too


def test_kernels_load_in_the_background_and_warm_up_takes_the_exact_path():
    thread = load_kernels_in_background()
    thread.join(timeout=600)
    assert not thread.is_alive()
    from seqcore_train.model.exact_kernels import warm_up

    assert warm_up() == 1  # the close call is settled exactly: the far patch replaces
