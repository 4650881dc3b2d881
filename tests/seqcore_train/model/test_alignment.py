"""A physical fact: an anomaly at pixel (y, x) lights up the anomaly map at (y, x).

A model is fitted on plain noisy grey images; a small bright square is then put at many places,
on image sizes that are and are not multiples of 32, for every backbone. The map's peak must lie
within half a feature cell (4 px at stride 8) of the square's centre on each axis.

EfficientNet-Lite0 runs with its real ImageNet weights. The torchvision backbones' weights cannot be
had offline, so they run with random weights made mirror-symmetric: such a network responds around
each cell's geometric centre, so the truth is known, and the test checks padding, pooling,
resampling and the cell-to-pixel mapping. (Plain random kernels lean any which way, by design.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from seqcore_train.model.features import BACKBONES, FeatureExtractor
from seqcore_train.model.patchcore import ModelConfig, SeqPatchCore

SIZES = [(128, 128), (100, 140), (97, 75)]


def _plain(rng, n, size):
    base = 0.45 + 0.02 * rng.standard_normal((n, 3, *size))
    return torch.from_numpy(base.astype(np.float32))


def _with_square(image, cy, cx, side=5):
    out = image.clone()
    h0, w0 = cy - side // 2, cx - side // 2
    out[:, h0 : h0 + side, w0 : w0 + side] = 1.0
    return out


def _positions(size, count, rng):
    """Square centres spread over the image, two stride-8 cells (16 px) or more from the border,
    where zero padding makes every cell look unlike the interior."""
    ys = rng.integers(16, size[0] - 16, count)
    xs = rng.integers(16, size[1] - 16, count)
    return list(zip(ys.tolist(), xs.tolist(), strict=True))


def _random_weights(tmp_path_factory, name):
    """A state dict of random weights whose spatial kernels are symmetric under both flips."""
    path = tmp_path_factory.mktemp("weights") / f"{name}.pth"
    torch.manual_seed(0)
    state = getattr(torchvision.models, name)(weights=None).state_dict()
    for key, w in state.items():
        if w.ndim == 4 and w.shape[-1] > 1:
            state[key] = (w + w.flip(-1) + w.flip(-2) + w.flip(-1, -2)) / 4
    torch.save(state, path)
    return str(path)


# wide_resnet50_2 shares resnet18's downsampling path (checked below); with random weights its
# 1536 features respond too diffusely for a peak test to mean anything.
CASES = [("efficientnet_lite0", None), ("mobilenet_v3_large", "random"), ("resnet18", "random")]


@pytest.mark.parametrize("backbone, weights", CASES)
@pytest.mark.parametrize("pool_kernel", [2, 3])
def test_map_peak_lies_on_the_anomaly(tmp_path_factory, backbone, weights, pool_kernel):
    if weights == "random":
        weights = _random_weights(tmp_path_factory, backbone)
    rng = np.random.default_rng(7)
    config = ModelConfig(
        backbone=backbone, weights=weights, pool_kernel=pool_kernel, coreset_size=256
    )
    model = SeqPatchCore(config, device="cpu")
    stride = model.extractor.patch_stride()
    errors = []
    for size in SIZES:
        model.bank = torch.empty(0, 0)
        train = _plain(rng, 2, size)
        model.fit(lambda epoch, train=train: [(train, None)], epochs=1)
        positions = _positions(size, 8, rng)
        test = torch.stack([_with_square(_plain(rng, 1, size)[0], y, x) for y, x in positions])
        maps, _ = model.predict(test)
        assert maps.shape == (len(positions), *size)
        for (y, x), m in zip(positions, maps, strict=True):
            py, px = np.unravel_index(int(m.argmax()), size)
            assert abs(py - y) <= stride / 2 and abs(px - x) <= stride / 2, (
                f"{backbone} pool {pool_kernel} at {size}: square at {(y, x)}, peak at {(py, px)}"
            )
            errors.append((py - y, px - x))
    bias = np.mean(errors, axis=0)
    assert np.all(np.abs(bias) <= 2.0), f"{backbone} pool {pool_kernel}: mean offset {bias} px"


def _geometric(extractor, size):
    extractor.cell_axes(size)
    rows, cols = extractor._axes[extractor._trace_key(size)][extractor.finest]
    return rows.step, rows.offset, cols.step, cols.offset


def test_lite0_geometric_centres_follow_tensorflow_same_padding():
    """Stride-8 receptive fields of a multiple-of-8 input are centred on 8 i + 7 (TF pads after);
    on odd sizes TF pads before too, and the centres move with each axis's size."""
    extractor = FeatureExtractor()
    assert _geometric(extractor, (64, 96)) == (8, 7, 8, 7)
    assert _geometric(extractor, (97, 130)) == (8, 0, 8, 1)


def test_lite0_registered_lean_is_what_the_weights_measure():
    """The stored lean of the default weights equals a fresh measurement (within half a pixel)."""
    extractor = FeatureExtractor()
    measured = extractor.measure_lean()
    for name, lean in BACKBONES["efficientnet_lite0"].lean.items():
        assert np.allclose(measured[name], lean, atol=0.5), (name, measured[name], lean)
    assert measured["blocks.4"][0] < -2  # the trained weights really do lean before the centre


@pytest.mark.parametrize(
    "name", ["resnet18", pytest.param("wide_resnet50_2", marks=pytest.mark.slow)]
)
def test_resnet_cells_are_centred_on_multiples_of_the_stride(tmp_path_factory, name):
    extractor = FeatureExtractor(name, weights=_random_weights(tmp_path_factory, name))
    for size in [(64, 64), (97, 75)]:
        assert _geometric(extractor, size) == (8, 0, 8, 0)
    # Mirror-symmetric weights do not lean.
    assert all(abs(v) <= 0.5 for lean in extractor.measure_lean(160, 2).values() for v in lean)
