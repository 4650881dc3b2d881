"""Training augmentation of paper §V.B, on batches: brighter and more contrast, flips along both
axes, Gaussian blur and noise, and a random region masked to black background (the plate border
the synthetic renders lack). Seeded by (seed, epoch), so every epoch sees fresh, repeatable
variations; the valid mask is flipped with the image but the black region stays valid, because the
coreset has to learn the border patches it will meet on real images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "AugmentConfig",
    "augment_batch",
    "epoch_generator",
    "border_only",
    "paper_augmentation",
]


@dataclass(frozen=True)
class AugmentConfig:
    brightness: float = 0.12  # largest additive brightness increase
    contrast: float = 0.3  # largest contrast gain above 1 (about each image's mean)
    flip_p: float = 0.5  # per axis
    blur_p: float = 0.5
    blur_sigma: tuple[float, float] = (0.3, 1.5)
    noise_p: float = 0.5
    noise_std: float = 0.02  # largest noise standard deviation
    border_p: float = 0.5
    border_depth: tuple[float, float] = (0.05, 0.35)  # masked share of the image along the normal
    border_tilt_deg: float = 10.0


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A generator for one epoch: fresh each epoch, identical for the same (seed, epoch)."""
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))


def _uniform(generator, count, low, high) -> torch.Tensor:
    return low + (high - low) * torch.rand(count, generator=generator)


def _chance(generator, count, p) -> torch.Tensor:
    return torch.rand(count, generator=generator) < p


def _gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable blur with one sigma per image (grouped convolution, no loop over images)."""
    batch, channels, height, width = images.shape
    radius = max(1, int(math.ceil(3 * float(sigma.max()))))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype)
    kernel = torch.exp(-0.5 * (offsets[None] / sigma[:, None].clamp_min(1e-3)) ** 2)
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(channels, dim=0)
    flat = images.reshape(1, batch * channels, height, width)
    flat = F.pad(flat, (radius, radius, 0, 0), mode="replicate")
    flat = F.conv2d(flat, kernel[:, None, None, :], groups=batch * channels)
    flat = F.pad(flat, (0, 0, radius, radius), mode="replicate")
    flat = F.conv2d(flat, kernel[:, None, :, None], groups=batch * channels)
    return flat.reshape(batch, channels, height, width)


def _border_mask(batch, height, width, config, generator) -> torch.Tensor:
    """(B, H, W) bool, True where a tilted half-plane from a random side is black background."""
    side = torch.randint(0, 4, (batch,), generator=generator)
    tilt = _uniform(generator, batch, -config.border_tilt_deg, config.border_tilt_deg)
    angle = side * (math.pi / 2) + torch.deg2rad(tilt)
    depth = _uniform(generator, batch, *config.border_depth)
    ys = (torch.arange(height) + 0.5) / height - 0.5
    xs = (torch.arange(width) + 0.5) / width - 0.5
    projection = (
        torch.cos(angle)[:, None, None] * xs[None, None, :]
        + torch.sin(angle)[:, None, None] * ys[None, :, None]
    )  # (B, H, W)
    return projection > (0.5 - depth)[:, None, None]


def augment_batch(
    images: torch.Tensor,
    valid: torch.Tensor | None,
    config: AugmentConfig,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """images (B, 3, H, W) in [0, 1], valid (B, H, W) bool or None -> augmented copies."""
    batch, _channels, height, width = images.shape
    images = images.float().clone()
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    gain = _uniform(generator, batch, 1.0, 1.0 + config.contrast)[:, None, None, None]
    shift = _uniform(generator, batch, 0.0, config.brightness)[:, None, None, None]
    images = (images - mean) * gain + mean + shift

    for dim, axis in ((3, 2), (2, 1)):  # horizontal then vertical flips
        flip = _chance(generator, batch, config.flip_p)
        images = torch.where(flip[:, None, None, None], images.flip(dim), images)
        if valid is not None:
            valid = torch.where(flip[:, None, None], valid.flip(axis), valid)

    border = _border_mask(batch, height, width, config, generator)
    border &= _chance(generator, batch, config.border_p)[:, None, None]
    images = images.masked_fill(border[:, None], 0.0)

    blur = _chance(generator, batch, config.blur_p)
    sigma = _uniform(generator, batch, *config.blur_sigma)
    if blur.any():
        images = torch.where(blur[:, None, None, None], _gaussian_blur(images, sigma), images)

    noisy = _chance(generator, batch, config.noise_p)
    std = _uniform(generator, batch, 0.0, config.noise_std) * noisy
    noise = torch.randn(images.shape, generator=generator) * std[:, None, None, None]
    return (images + noise).clamp_(0.0, 1.0), valid


def border_only() -> AugmentConfig:
    """The paper's protocol for synthetic training images without DA: only the black-out of a
    random border region, on every image (the renders lack the plate border real images show)."""
    return AugmentConfig(
        brightness=0.0, contrast=0.0, flip_p=0.0, blur_p=0.0, noise_p=0.0, border_p=1.0
    )


def paper_augmentation() -> AugmentConfig:
    """DA as in the paper's experiments: the full augmentation, with the border black-out on every
    image (as without DA) rather than on half of them."""
    return AugmentConfig(border_p=1.0)
