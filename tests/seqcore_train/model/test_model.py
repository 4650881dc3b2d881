"""SeqPatchCore end to end on tiny images with the real EfficientNet-Lite0 weights."""

from __future__ import annotations

import math

import pytest
import torch

from seqcore_train.errors import DataError, ModelFileError
from seqcore_train.model.coreset import SequentialCoreset, reference_sequential_coreset
from seqcore_train.model.patchcore import ModelConfig, SeqPatchCore
from seqcore_train.model.scoring import cell_scores, nn_distances


def _textures(n: int, seed: int, size: int = 64, tilt: float = 0.0) -> torch.Tensor:
    """Brushed-looking grey images: horizontal stripes with noise (tilt changes the domain)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(size, dtype=torch.float32)[:, None]
    x = torch.arange(size, dtype=torch.float32)[None, :]
    phase = torch.rand(n, 1, 1, generator=g) * 6.28
    stripes = 0.5 + 0.15 * torch.sin(y[None] * 0.9 + tilt * x[None] + phase)
    noise = 0.05 * torch.randn(n, size, size, generator=g)
    return (stripes + noise).clamp(0, 1)[:, None].expand(n, 3, size, size).contiguous()


@pytest.fixture(scope="module")
def train_images():
    return _textures(6, seed=0)


def _batches(images, batch=3, valid=None):
    def epoch_batches(epoch):
        for i in range(0, len(images), batch):
            yield images[i : i + batch], None if valid is None else valid[i : i + batch]

    return epoch_batches


def test_fit_equals_the_reference_over_the_epochs_and_stops_early(train_images):
    model = SeqPatchCore(ModelConfig(coreset_size=40, chunk_size=50), device="cpu")
    seen = []
    history = model.fit(_batches(train_images), epochs=30, on_epoch_end=seen.append)
    assert seen == history
    assert history[0].additions == 40 and history[0].patches == 6 * 64
    last = history[-1]
    assert len(history) < 30 and last.replacements == 0 and last.additions == 0
    assert all(s.replacements > 0 for s in history[1:-1])
    # The same patches in the same order through the slow reference give the same bank.
    patches = model.patches(train_images).double()
    counts = {}
    expected = reference_sequential_coreset(patches.repeat(len(history), 1), 40, counts=counts)
    assert torch.equal(model.bank.double(), expected.float().double())
    assert sum(s.replacements for s in history) == counts["replacements"]
    assert history[-1].d_m == pytest.approx(SequentialCoreset(40, bank=model.bank).d_m)
    assert [e["epoch"] for e in model.metadata["epochs"]] == [s.epoch for s in history]


def test_epochs_that_only_fill_do_not_stop_training(train_images):
    model = SeqPatchCore(ModelConfig(coreset_size=200), device="cpu")
    history = model.fit(_batches(train_images[:2]), epochs=5, tol=10**6)
    # 128 patches per epoch: epoch 0 adds 128, epoch 1 adds 72 (and may replace); the huge tol
    # stops training only after epoch 2, the first epoch that adds nothing.
    assert [s.additions for s in history] == [128, 72, 0]
    assert history[0].replacements == 0
    assert len(model.bank) == 200


def test_valid_mask_keeps_only_valid_cells(train_images):
    valid = torch.zeros(6, 64, 64, dtype=torch.bool)
    valid[:, :, :28] = True  # cells with centre column 4, 12, 20 (< 28) are valid: 3 of 8 columns
    model = SeqPatchCore(ModelConfig(coreset_size=500), device="cpu")
    history = model.fit(_batches(train_images, valid=valid), epochs=1)
    assert history[0].patches == 6 * 8 * 3
    allowed = model.features(train_images)[:, :, :, :3].permute(0, 2, 3, 1).reshape(-1, 152)
    assert torch.equal(model.bank, allowed)
    with pytest.raises(DataError, match="no training patches"):
        model.fit(_batches(train_images, valid=torch.zeros(6, 64, 64, dtype=torch.bool)), epochs=1)


def test_predict_finds_a_defect_and_respects_valid(train_images):
    model = SeqPatchCore(ModelConfig(coreset_size=64), device="cpu")
    model.fit(_batches(train_images), epochs=3)
    test = _textures(2, seed=5)
    test[1, :, 24:36, 24:36] = 1.0  # a bright square "defect"
    maps, scores = model.predict(test)
    assert maps.shape == (2, 64, 64) and maps.dtype == torch.float32
    assert scores[1] > 1.5 * scores[0]
    # The image score is the largest cell distance (PatchCore's): blur only lowers the map's peak.
    cells = cell_scores(model.features(test), model.bank)
    assert torch.allclose(scores, cells.flatten(1).amax(1), rtol=1e-6)
    assert torch.all(maps.flatten(1).amax(1) <= scores * (1 + 1e-6))
    peak = divmod(int(maps[1].argmax()), 64)
    assert 16 <= peak[0] < 44 and 16 <= peak[1] < 44
    valid = torch.ones(2, 64, 64, dtype=torch.bool)
    valid[1, 8:56, 8:56] = False  # hide the defect
    _, masked_scores = model.predict(test, valid)
    assert masked_scores[1] < scores[1]
    inside = model.cell_mask(valid, tuple(cells.shape[-2:]))
    assert torch.allclose(masked_scores[1], cells[1][inside[1]].max(), rtol=1e-6)


def test_chunk_size_does_not_change_predictions(train_images):
    model = SeqPatchCore(ModelConfig(coreset_size=64, chunk_size=4096), device="cpu")
    model.fit(_batches(train_images), epochs=2)
    other = SeqPatchCore(ModelConfig(coreset_size=64, chunk_size=7), device="cpu", bank=model.bank)
    test = _textures(2, seed=9)
    assert torch.equal(model.predict(test)[0], other.predict(test)[0])


def test_save_load_round_trip_and_corrupt_file(tmp_path, train_images):
    model = SeqPatchCore(ModelConfig(coreset_size=32, blur_sigma=1.5), device="cpu", threshold=3.25)
    model.fit(_batches(train_images), epochs=2)
    path = tmp_path / "model.safetensors"
    model.save(path, extra_metadata={"datasets": ["synthetic-stripes"]})
    loaded = SeqPatchCore.load(path, device="cpu")
    assert loaded.config == model.config and loaded.threshold == 3.25
    assert torch.equal(loaded.bank, model.bank)
    assert loaded.metadata["datasets"] == ["synthetic-stripes"]
    assert len(loaded.metadata["epochs"]) == 2 and "seqcore_version" in loaded.metadata
    test = _textures(1, seed=3)
    assert torch.equal(loaded.predict(test)[0], model.predict(test)[0])
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ModelFileError, match="model.safetensors"):
        SeqPatchCore.load(path)


def test_finetune_moves_coverage_to_the_new_domain(train_images):
    model = SeqPatchCore(ModelConfig(coreset_size=48), device="cpu")
    model.fit(_batches(train_images), epochs=3)
    new_domain = _textures(6, seed=1, tilt=0.5)
    new_patches = model.patches(new_domain)
    before = float(nn_distances(new_patches, model.bank).max())
    bank_before = model.bank.clone()
    model.fit(_batches(new_domain), epochs=3)
    assert len(model.bank) == 48
    assert float(nn_distances(new_patches, model.bank).max()) < before
    # Fine-tuning continued from the old bank: the same as the coreset resumed from it.
    resumed = SequentialCoreset(48, bank=bank_before)
    for _ in range(len(model.metadata["epochs"]) - 3):
        resumed.update(new_patches)
    assert torch.equal(resumed.bank, model.bank)


def test_meld_models_and_reject_different_backbones(train_images):
    a = SeqPatchCore(ModelConfig(coreset_size=32), device="cpu")
    a.fit(_batches(train_images), epochs=2)
    other = _textures(6, seed=2, tilt=0.7)
    b = SeqPatchCore(ModelConfig(coreset_size=32), device="cpu")
    b.fit(_batches(other), epochs=2)
    y = b.patches(other)
    for size in (None, 16, 64):
        melded = SeqPatchCore.meld([a, b], size=size)
        assert len(melded.bank) == (size or 32) and melded.config.coreset_size == (size or 32)
        if size != 16:
            assert float(nn_distances(y, melded.bank).max()) < float(nn_distances(y, a.bank).max())
    assert melded.metadata["meld"]["sources"] == 2 and melded.image_size is None
    a.image_size = b.image_size = (64, 64)
    assert SeqPatchCore.meld([a, b]).image_size == (64, 64)  # one common size: kept
    c = SeqPatchCore(ModelConfig(coreset_size=32, pool_kernel=2), device="cpu", bank=a.bank)
    with pytest.raises(ModelFileError, match="pool 2"):
        SeqPatchCore.meld([a, c])


def test_greedy_sampler_fits_to_size(train_images):
    model = SeqPatchCore(ModelConfig(coreset_size=40, sampler="greedy"), device="cpu")
    history = model.fit(
        _batches(train_images), epochs=5, generator=torch.Generator().manual_seed(0)
    )
    assert len(history) == 1 and len(model.bank) == 40 and history[0].patches == 6 * 64
    assert not math.isinf(history[0].d_m)
    with pytest.raises(ValueError, match="sampler"):
        ModelConfig(sampler="random")


def test_replayed_epochs_equal_recomputed_ones(train_images):
    """Replaying the first pass from disk feeds the coreset exactly what the backbone would."""
    calls = []

    def batches(epoch):
        calls.append(epoch)
        return _batches(train_images)(epoch)

    config = ModelConfig(coreset_size=24, chunk_size=5)
    plain = SeqPatchCore(config, device="cpu")
    plain.fit(_batches(train_images), epochs=3)
    replayed = SeqPatchCore(config, device="cpu")
    history = replayed.fit(batches, epochs=3, replay_bytes=1 << 30)
    assert len(history) >= 2 and calls == [0]  # several epochs, the backbone ran once
    assert torch.equal(replayed.bank, plain.bank)
    assert [s.replacements for s in history] == [
        e["replacements"] for e in plain.metadata["epochs"]
    ]
    # A cache too small for one pass gives up and recomputes: same result.
    calls.clear()
    small = SeqPatchCore(config, device="cpu")
    small.fit(batches, epochs=3, replay_bytes=1000)
    assert calls == list(range(len(history))) and torch.equal(small.bank, plain.bank)
