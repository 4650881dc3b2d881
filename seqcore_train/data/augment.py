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


def _gaussian_blur_(image: torch.Tensor, sigma: float) -> None:
    """Blur one (C, H, W) image in place: separable Gaussian truncated at ceil(3 sigma), edges
    replicated (scipy.ndimage.gaussian_filter with mode "nearest").

    Each pass is a weighted sum of shifted views of one padded channel: conv2d here would unfold
    the channel once per tap (an 11-tap kernel: eleven channel-sized columns, 220 MB at 5 MP)."""
    radius = max(1, int(math.ceil(3 * sigma)))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (offsets / max(sigma, 1e-3)) ** 2)
    weights = (kernel / kernel.sum()).tolist()
    height, width = image.shape[-2:]
    for channel in image:
        for axis, size in ((1, width), (0, height)):
            pad = (radius, radius, 0, 0) if axis == 1 else (0, 0, radius, radius)
            padded = F.pad(channel[None, None], pad, mode="replicate")[0, 0]
            channel.copy_(padded.narrow(axis, 0, size)).mul_(weights[0])
            for tap, weight in enumerate(weights[1:], start=1):
                channel.add_(padded.narrow(axis, tap, size), alpha=weight)
            del padded


def _border_mask(angle: torch.Tensor, depth: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(H, W) bool, True where the tilted half-plane at `angle` (radians, from the image centre)
    lies more than 0.5 - depth out: the black background."""
    ys = (torch.arange(height) + 0.5) / height - 0.5
    xs = (torch.arange(width) + 0.5) / width - 0.5
    projection = torch.cos(angle) * xs[None, :] + torch.sin(angle) * ys[:, None]
    return projection > (0.5 - depth)


def augment_batch(
    images: torch.Tensor,
    valid: torch.Tensor | None,
    config: AugmentConfig,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """images (B, 3, H, W) in [0, 1], valid (B, H, W) bool or None -> augmented copies.

    Every random number of the batch is drawn first, then each image is changed in place, one at
    a time: at 2448 x 2050 a whole-batch, out-of-place version held about seven image-sized
    temporaries (+450 MB for one image); this holds the copy and at most one more (the noise).
    The draws come in the previous release's order, so a batch of one image gets the same
    augmentation as it did; each image is blurred with its own radius (it used the batch's
    largest)."""
    batch, _channels, height, width = images.shape
    gain = _uniform(generator, batch, 1.0, 1.0 + config.contrast)
    shift = _uniform(generator, batch, 0.0, config.brightness)
    flip_x = _chance(generator, batch, config.flip_p)
    flip_y = _chance(generator, batch, config.flip_p)
    side = torch.randint(0, 4, (batch,), generator=generator)
    tilt = _uniform(generator, batch, -config.border_tilt_deg, config.border_tilt_deg)
    depth = _uniform(generator, batch, *config.border_depth)
    border = _chance(generator, batch, config.border_p)
    blur = _chance(generator, batch, config.blur_p)
    sigma = _uniform(generator, batch, *config.blur_sigma)
    noisy = _chance(generator, batch, config.noise_p)
    std = _uniform(generator, batch, 0.0, config.noise_std) * noisy
    angle = side * (math.pi / 2) + torch.deg2rad(tilt)

    out = images.to(torch.float32, copy=True)
    valid = None if valid is None else valid.clone()
    for i, image in enumerate(out):
        mean = image.mean()
        image.sub_(mean).mul_(gain[i]).add_(mean).add_(shift[i])  # (x - m) * g + m + s
        dims = [d for d, on in ((2, flip_x[i]), (1, flip_y[i])) if on]
        if dims:
            image.copy_(image.flip(dims))
            if valid is not None:
                valid[i] = valid[i].flip([d - 1 for d in dims])
        if border[i]:
            image.masked_fill_(_border_mask(angle[i], depth[i], height, width), 0.0)
        if blur[i]:
            _gaussian_blur_(image, float(sigma[i]))
    for i, image in enumerate(out):  # after every other draw, one image's noise at a time
        noise = torch.randn(image.shape, generator=generator)  # drawn even at std 0: same stream
        if noisy[i]:
            image.add_(noise.mul_(std[i]))
        del noise
    return out.clamp_(0.0, 1.0), valid


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
