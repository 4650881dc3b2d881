"""Tiled backbone passes give the whole image's features (tiling.py, FeatureExtractor.tile)."""

import pytest
import torch

from seqcore_train.errors import BackboneUnavailable
from seqcore_train.model.features import FeatureExtractor
from seqcore_train.model.tiling import plan_axis, plan_tiles, trace_size


@pytest.mark.parametrize("size", [100, 515, 1024, 2050, 2448])
@pytest.mark.parametrize("core", [64, 300, 1024])
def test_tiles_cover_the_axis_aligned_and_congruent(size, core):
    spans = plan_axis(size, core, halo=185, align=16)
    covered = [x for s in spans for x in range(s.core_start, s.core_stop)]
    assert covered == list(range(size))  # cores partition the axis, in order
    for s in spans:
        assert s.start % 16 == 0 and s.core_start % 16 == 0
        assert (s.stop - s.start) % 16 == size % 16  # same parities at every strided layer
        assert s.start == 0 or s.core_start - s.start >= 185  # the halo is there ...
        assert s.stop == size or s.stop - s.core_stop >= 185  # ... or the image's own edge
    assert spans[-1].at_end and not any(s.at_end for s in spans[:-1])


@pytest.mark.parametrize("size", [(2050, 2448), (600, 9000), (5000, 5000)])
def test_tile_plans_stay_within_the_pixel_budget(size):
    rows, cols = plan_tiles(*size, 2_000_000, 185, 16)
    assert max(r.stop - r.start for r in rows) * max(c.stop - c.start for c in cols) <= 2_000_000
    assert plan_tiles(512, 512, 2_000_000, 185, 16) == (
        plan_axis(512, 512, 185, 16),
        plan_axis(512, 512, 185, 16),
    )


def test_a_budget_below_the_halo_gives_cores_as_wide_as_the_halo():
    rows, cols = plan_tiles(611, 533, 1_000, 185, 16)  # 1000 px could not even hold the halo
    assert (len(rows), len(cols)) == (4, 3)  # cores of about 192 px (evened out), not 16 px


def test_trace_size_keeps_parities():
    for n in range(1, 200):
        t = trace_size(n, 16)
        assert t <= max(n, 48)
        for k in range(4):  # the input of each of the four stride-2 layers
            assert -(-n // 2**k) % 2 == -(-t // 2**k) % 2


@pytest.fixture(scope="module")
def lite0():
    return FeatureExtractor()


def test_receptive_field_of_lite0(lite0):
    field, stride = lite0.field()
    assert stride == 16
    # Independent check: a pixel change further than half the field from a cell's receptive field
    # leaves that cell unchanged, one inside it does not.
    x = torch.rand(1, 3, 400, 64, generator=torch.Generator().manual_seed(1))
    y = x.clone()
    y[:, :, 399] += 0.5
    a, b = lite0.stage_maps(x)["blocks.10"], lite0.stage_maps(y)["blocks.10"]
    changed = (a - b).abs().amax(dim=(0, 1, 3)) > 0
    first_changed = int(changed.nonzero()[0])
    assert 399 - 16 * first_changed <= field  # the change reached no further than the field
    assert 399 - 16 * first_changed > field // 4  # and the field is not wildly overestimated


@pytest.mark.parametrize(
    "size,tile", [((520, 203), 90_000), ((457, 230), 100_000), ((611, 533), 300_000)]
)
def test_tiled_features_equal_whole_image_features(lite0, size, tile):
    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(size[0]))
    lite0.tile = None
    whole_stages, whole = lite0.stage_maps(x), lite0(x)
    lite0.tile = tile
    try:
        tiled_stages, tiled = lite0.stage_maps(x), lite0(x)
    finally:
        lite0.tile = None
    rows, cols = plan_tiles(*size, tile, lite0.halo(), 16)
    assert len(rows) * len(cols) > 1  # it did tile
    for name in whole_stages:
        assert tiled_stages[name].shape == whole_stages[name].shape
        assert float((tiled_stages[name] - whole_stages[name]).abs().max()) <= 1e-4
    assert float((tiled - whole).abs().max()) <= 1e-4


def test_a_halo_short_of_the_field_changes_features(lite0, monkeypatch):
    # The negative control: the test above would pass vacuously if tiles did not matter.
    x = torch.rand(1, 3, 520, 150, generator=torch.Generator().manual_seed(3))
    lite0.tile = None
    whole = lite0(x)
    lite0.tile = 60_000
    monkeypatch.setattr(type(lite0), "halo", lambda self: 16)
    try:
        short = lite0(x)
    finally:
        lite0.tile = None
    assert float((short - whole).abs().max()) > 1e-3


def test_squeeze_excite_backbones_refuse_tiles():
    from seqcore_train.model.features import BACKBONES

    assert not BACKBONES["mobilenet_v3_large"].tileable
    extractor = FeatureExtractor.__new__(FeatureExtractor)
    torch.nn.Module.__init__(extractor)
    extractor._tileable, extractor.backbone_name = False, "mobilenet_v3_large"
    with pytest.raises(BackboneUnavailable, match="cannot be tiled"):
        extractor.tile = 512


@pytest.mark.slow
def test_cli_predict_maps_are_the_same_tiled_and_whole(tmp_path):
    """`--tile-megapixels` changes how the backbone is run, not what `predict` writes."""
    import numpy as np
    from click.testing import CliRunner

    from seqcore_train.cli import cli
    from seqcore_train.data.images import write_png

    rng = np.random.default_rng(5)
    data = tmp_path / "images"
    data.mkdir()
    for k in range(3):
        image = rng.integers(60, 200, size=(416, 448, 3)).astype(np.uint8)
        image[100 + 40 * k : 120 + 40 * k, 200:230] = 255  # something to find
        write_png(data / f"img_{k}.png", image)
    model = tmp_path / "m.safetensors"

    def run(*args):
        result = CliRunner().invoke(cli, [str(a) for a in args])
        assert result.exit_code == 0, result.output

    run("fit", data, "--out", model, "--coreset-size", "64", "--epochs", "1", "--device", "cpu")
    rows, cols = plan_tiles(416, 448, 100_000, FeatureExtractor().halo(), 16)
    assert len(rows) * len(cols) > 1
    maps = {}
    for tile in ("0", "0.1"):
        out = tmp_path / f"pred-{tile}"
        run("predict", model, data, "--out", out, "--threshold", "1", "--tile-megapixels", tile)
        maps[tile] = [np.load(p) for p in sorted((out / "maps").glob("*.npy"))]
    assert len(maps["0"]) == 3
    for whole, tiled in zip(maps["0"], maps["0.1"], strict=True):
        assert np.abs(tiled - whole).max() <= 1e-4 * np.abs(whole).max()


@pytest.mark.parametrize("size", [(515, 402), (388, 611)])  # odd and even rows: both paddings
def test_blocks_in_bands_give_the_whole_pass_bit_for_bit(lite0, monkeypatch, size):
    from seqcore_train.model import efficientnet_lite

    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(size[1]))
    lite0.tile = None
    monkeypatch.setattr(efficientnet_lite, "BAND_BYTES", 1 << 40)
    whole_stages, whole = lite0.stage_maps(x), lite0(x)
    calls = []
    monkeypatch.setattr(efficientnet_lite, "BAND_BYTES", 256 << 10)
    banded_forward = efficientnet_lite._MBConv._forward_in_bands

    def counted(block, y):
        calls.append(block)
        return banded_forward(block, y)

    monkeypatch.setattr(efficientnet_lite._MBConv, "_forward_in_bands", counted)
    banded_stages, banded = lite0.stage_maps(x), lite0(x)
    strided = [b for b in calls if b._depthwise_conv.stride[0] > 1]
    assert strided and len(strided) < len(calls)  # strided and stride-1 blocks ran in bands
    for name in whole_stages:
        assert torch.equal(banded_stages[name], whole_stages[name])
    assert torch.equal(banded, whole)


def test_fit_with_blocks_in_bands_makes_the_same_coreset(monkeypatch):
    from seqcore_train.model import efficientnet_lite
    from seqcore_train.model.patchcore import ModelConfig, SeqPatchCore

    generator = torch.Generator().manual_seed(7)
    images = [torch.rand(1, 3, 320, 352, generator=generator) for _ in range(3)]
    banks = []
    for band_bytes in (1 << 40, 256 << 10):
        monkeypatch.setattr(efficientnet_lite, "BAND_BYTES", band_bytes)
        model = SeqPatchCore(ModelConfig(coreset_size=64), device="cpu")
        model.fit(lambda _epoch: ((x, None) for x in images), epochs=2)
        banks.append(model.bank)
    assert torch.equal(banks[0], banks[1])
