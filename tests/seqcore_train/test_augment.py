"""Augmentation: seeded, fresh each epoch, each operation doing what it says."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from seqcore_train.augment import AugmentConfig, augment_batch, epoch_generator

OFF = AugmentConfig(brightness=0.0, contrast=0.0, flip_p=0.0, blur_p=0.0, noise_p=0.0, border_p=0.0)


def batch(seed=0, size=32):
    g = torch.Generator().manual_seed(seed)
    images = 0.3 + 0.4 * torch.rand((4, 3, size, size), generator=g)
    valid = torch.rand((4, size, size), generator=g) > 0.2
    return images, valid


def test_same_seed_same_result_and_fresh_each_epoch():
    images, valid = batch()
    config = AugmentConfig()
    a, va = augment_batch(images, valid, config, epoch_generator(7, 0))
    b, vb = augment_batch(images, valid, config, epoch_generator(7, 0))
    c, _ = augment_batch(images, valid, config, epoch_generator(7, 1))
    assert torch.equal(a, b) and torch.equal(va, vb)
    assert not torch.equal(a, c)
    assert a.shape == images.shape and a.min() >= 0 and a.max() <= 1


def test_all_off_is_identity():
    images, valid = batch()
    out, out_valid = augment_batch(images, valid, OFF, epoch_generator(0, 0))
    assert torch.allclose(out, images) and torch.equal(out_valid, valid)


def test_flips_move_image_and_valid_mask_together():
    images, valid = batch()
    out, out_valid = augment_batch(images, valid, replace(OFF, flip_p=1.0), epoch_generator(0, 0))
    assert torch.allclose(out, images.flip(2).flip(3))
    assert torch.equal(out_valid, valid.flip(1).flip(2))


def test_brightness_and_contrast_only_increase():
    images, valid = batch()
    config = replace(OFF, brightness=0.1, contrast=0.5)
    out, _ = augment_batch(images, valid, config, epoch_generator(3, 0))
    assert (out.mean(dim=(1, 2, 3)) >= images.mean(dim=(1, 2, 3)) - 1e-6).all()
    assert (out.std(dim=(1, 2, 3)) >= images.std(dim=(1, 2, 3)) - 1e-6).all()
    assert not torch.allclose(out, images)


def test_blur_smooths_and_noise_roughens():
    images, valid = batch()
    blurred, _ = augment_batch(images, valid, replace(OFF, blur_p=1.0), epoch_generator(0, 0))
    noisy, _ = augment_batch(images, valid, replace(OFF, noise_p=1.0), epoch_generator(0, 0))

    def roughness(x):
        return (x[..., 1:] - x[..., :-1]).abs().mean()

    assert roughness(blurred) < 0.8 * roughness(images)
    assert not torch.allclose(noisy, images)
    assert (noisy - images).abs().max() < 0.2


def test_border_masks_a_straight_black_region_that_stays_valid():
    images, valid = batch()
    out, out_valid = augment_batch(images, valid, replace(OFF, border_p=1.0), epoch_generator(5, 0))
    black = (out == 0).all(dim=1)  # (B, H, W)
    share = black.float().mean(dim=(1, 2))
    assert ((share > 0.02) & (share < 0.5)).all()
    # The black region touches the image border (a half-plane from one side).
    edges = (
        black[:, 0, :].any(1)
        | black[:, -1, :].any(1)
        | black[:, :, 0].any(1)
        | black[:, :, -1].any(1)
    )
    assert edges.all()
    assert torch.equal(out_valid, valid)


def test_training_batches_leave_defect_pixels_out(tmp_path, rng, manifest_writer):
    from seqcore_train.batches import training_batches
    from seqcore_train.datasets import open_datasets

    root = manifest_writer(tmp_path / "ds", rng, {"test": 2}, 32)
    data = open_datasets([str(root)])
    batches = list(training_batches(data, data.records, 4, None, None, 0)(0))
    images, valid = batches[0]
    defects = [
        np.isin(data.load(r).semantic, [1, 2, 3]) for r in data.records
    ]  # scratch, bump, dent ids
    assert valid is not None and images.shape == (2, 3, 32, 32)
    for mask, defect in zip(valid.numpy(), defects, strict=True):
        assert defect.any() and not mask[defect].any() and mask[~defect].all()
