"""MVTec-AD-layout benchmark data built offline and deterministically.

Two sources:

* Texture categories cut from public-domain / CC0 photographs that ship inside the scikit-image
  wheel (`skimage.data`): good crops for training come from one half of the photo, good and
  anomalous test crops from the other half. Anomalies are synthetic, each with its pixel mask:
  - `perlin`: a thresholded Perlin-noise blob filled with a foreign texture (DRAEM style),
  - `cutpaste`: a patch cut from elsewhere in the photo, jittered, rotated and pasted (CutPaste).
* A rendered SeqCore data set (the project's own renderer, manifest in shared_schemas form),
  exported to the same layout: defect pixels (classes of kind "defect") are the ground truth,
  impurities count as nominal surface.

Layout written: CATEGORY/train/good/NNN.png, CATEGORY/test/good/NNN.png,
CATEGORY/test/<anomaly>/NNN.png, CATEGORY/ground_truth/<anomaly>/NNN_mask.png (0/255).
A `spec.json` beside them records what was built; an existing folder with the same spec is reused.

Only numpy, scipy, Pillow and (for the photographs) scikit-image are needed; nothing downloads.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

__all__ = [
    "TEXTURES",
    "FOREIGN",
    "TextureSpec",
    "perlin_noise",
    "perlin_anomaly",
    "cutpaste_anomaly",
    "build_texture_category",
    "export_rendered",
]

# name -> skimage.data function; licences as stated in scikit-image's docstrings.
TEXTURES = {
    "brick": "brick",  # CC0 (cc0textures.com, Bricks25), grey
    "grass": "grass",  # CC0 (DeviantArt linolafett, Grass-01), grey
    "gravel": "gravel",  # CC0 (cc0textures.com, Gravel04), grey
    "tissue": "immunohistochemistry",  # IHC-stained colon tissue, no known copyright, RGB
    "hubble": "hubble_deep_field",  # NASA, public domain, RGB
}
# Sources of the foreign texture pasted by `perlin` anomalies (never a category itself).
FOREIGN = ("coffee", "chelsea", "rocket", "astronaut")  # CC0 / public domain


@dataclass(frozen=True)
class TextureSpec:
    """How many crops of which size; the seed makes the category reproducible."""

    train: int = 40
    # 600 test crops. The paired CI95 of two methods' image-AUROC difference is about +-5 points
    # with 150 crops and +-1 to +-3 with 600 (grass and gravel, near chance, widest); resolving
    # 1 point on those needs about 4000 (`accuracy.py --test-crops`).
    test_good: int = 240
    test_perlin: int = 180
    test_cutpaste: int = 180
    size: int = 192
    seed: int = 0
    version: int = 2  # bump when the generator changes, so cached folders are rebuilt

    @classmethod
    def with_test_crops(cls, count: int, **kwargs) -> TextureSpec:
        """`count` test crops in the default proportions: 40 % good, 30 % of each anomaly kind.

        Training crops are drawn first from the category's generator, so the training set (and
        with it the coreset) does not depend on the test set's size.
        """
        if count < 10:
            raise ValueError(f"test crops: need at least 10, got {count}")
        good = round(0.4 * count)
        perlin = (count - good) // 2
        return cls(
            test_good=good, test_perlin=perlin, test_cutpaste=count - good - perlin, **kwargs
        )


# ---------------------------------------------------------------------------- photographs


def load_photo(name: str) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] from skimage.data (grey photos are replicated to RGB)."""
    import skimage.data

    image = np.asarray(getattr(skimage.data, name)(), dtype=np.float32) / 255.0
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return image[..., :3]


def is_grey(image: np.ndarray) -> bool:
    return bool(
        np.allclose(image[..., 0], image[..., 1]) and np.allclose(image[..., 0], image[..., 2])
    )


def halves(photo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(training region, test region): the two halves along the longer axis, disjoint."""
    h, w = photo.shape[:2]
    if h >= w:
        return photo[: h // 2], photo[h // 2 :]
    return photo[:, : w // 2], photo[:, w // 2 :]


def random_crop(region: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    h, w = region.shape[:2]
    if h < size or w < size:
        raise ValueError(f"region {h}x{w} is smaller than a {size}px crop")
    y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
    return region[y : y + size, x : x + size].copy()


# ---------------------------------------------------------------------------- Perlin anomalies


def perlin_noise(
    shape: tuple[int, int], periods: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """2-D gradient (Perlin) noise, roughly in [-1, 1], with `periods` lattice cells per axis."""
    h, w = shape
    gy, gx = periods
    angles = rng.uniform(0.0, 2.0 * np.pi, size=(gy + 1, gx + 1))
    grads = np.stack([np.cos(angles), np.sin(angles)], axis=-1)  # (gy+1, gx+1, 2)
    ys = np.arange(h) * gy / h
    xs = np.arange(w) * gx / w
    iy, ix = ys.astype(int), xs.astype(int)
    fy, fx = (ys - iy)[:, None], (xs - ix)[None, :]

    def corner(dy: int, dx: int) -> np.ndarray:
        g = grads[iy[:, None] + dy, ix[None, :] + dx]  # (h, w, 2)
        return g[..., 0] * (fy - dy) + g[..., 1] * (fx - dx)

    def fade(t: np.ndarray) -> np.ndarray:
        return t * t * t * (t * (t * 6 - 15) + 10)

    uy, ux = fade(fy), fade(fx)
    top = corner(0, 0) * (1 - ux) + corner(0, 1) * ux
    bottom = corner(1, 0) * (1 - ux) + corner(1, 1) * ux
    return np.sqrt(2.0) * (top * (1 - uy) + bottom * uy)


def _ellipse(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    h, w = shape
    cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    ry, rx = rng.uniform(0.12, 0.3) * h, rng.uniform(0.12, 0.3) * w
    yy, xx = np.mgrid[0:h, 0:w]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def perlin_mask(shape: tuple[int, int], rng: np.random.Generator, attempts: int = 50) -> np.ndarray:
    """A Perlin-shaped blob inside a random ellipse covering 1-12 % of the image."""
    for _ in range(attempts):
        periods = (2 ** int(rng.integers(1, 5)), 2 ** int(rng.integers(1, 5)))
        mask = (perlin_noise(shape, periods, rng) > rng.uniform(0.1, 0.4)) & _ellipse(shape, rng)
        if 0.01 <= mask.mean() <= 0.12:
            return mask
    raise RuntimeError("no Perlin mask of a usable size; change the seed")


def perlin_anomaly(
    image: np.ndarray, foreign: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(image with a foreign texture blended into a Perlin blob, bool mask)."""
    mask = perlin_mask(image.shape[:2], rng)
    beta = rng.uniform(0.5, 0.9)  # opacity of the foreign texture
    alpha = (beta * mask)[..., None]
    return image * (1 - alpha) + foreign * alpha, mask


def foreign_texture(size: int, grey: bool, rng: np.random.Generator, photos: dict) -> np.ndarray:
    """A random crop of a random FOREIGN photo, rotated by a multiple of 90 degrees."""
    photo = photos[FOREIGN[int(rng.integers(len(FOREIGN)))]]
    crop = np.rot90(random_crop(photo, size, rng), k=int(rng.integers(4)))
    if grey:
        crop = np.repeat(crop.mean(axis=2, keepdims=True), 3, axis=2)
    return np.ascontiguousarray(crop)


# ---------------------------------------------------------------------------- CutPaste anomalies


def cutpaste_anomaly(
    image: np.ndarray, source: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(image with a jittered, rotated patch of `source` pasted in, bool mask of pasted pixels).

    Patch area 2-8 % of the image, aspect ratio 0.3-3.3, rotation +-45 degrees, brightness and
    contrast jitter of +-15 % (the CutPaste paper's colour jitter, simplified).
    """
    h, w = image.shape[:2]
    area = rng.uniform(0.02, 0.08) * h * w
    aspect = np.exp(rng.uniform(np.log(0.3), np.log(3.3)))
    ph = int(np.clip(np.sqrt(area * aspect), 8, h // 2))
    pw = int(np.clip(np.sqrt(area / aspect), 8, w // 2))
    sy, sx = rng.integers(0, source.shape[0] - ph + 1), rng.integers(0, source.shape[1] - pw + 1)
    patch = source[sy : sy + ph, sx : sx + pw]
    mean = patch.mean()
    patch = (patch - mean) * rng.uniform(0.85, 1.15) + mean * rng.uniform(0.85, 1.15)
    angle = rng.uniform(-45.0, 45.0)
    patch = ndimage.rotate(patch, angle, axes=(1, 0), reshape=True, order=1, mode="constant")
    box = ndimage.rotate(np.ones((ph, pw)), angle, reshape=True, order=1, mode="constant") > 0.5
    bh, bw = box.shape
    oy, ox = rng.integers(0, h - bh + 1), rng.integers(0, w - bw + 1)
    mask = np.zeros((h, w), dtype=bool)
    mask[oy : oy + bh, ox : ox + bw] = box
    out = image.copy()
    out[mask] = patch[box]
    return np.clip(out, 0.0, 1.0), mask


# ---------------------------------------------------------------------------- writing


def _write_rgb(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)).save(path)


def _write_mask(path: Path, mask: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)


def _cached(out: Path, spec: dict) -> bool:
    stamp = out / "spec.json"
    return stamp.is_file() and json.loads(stamp.read_text()) == spec


def _fresh(out: Path) -> Path:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    return out


def _finish(out: Path, spec: dict) -> None:
    (out / "spec.json").write_text(json.dumps(spec, indent=1, sort_keys=True) + "\n")


def _rng(name: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(name.encode()), seed])


def build_texture_category(name: str, out: Path, spec: TextureSpec = TextureSpec()) -> Path:
    """Write texture category `name` (a TEXTURES key) to `out` unless it is already there."""
    out = Path(out)
    description = {"kind": "texture", "category": name, "photo": TEXTURES[name], **asdict(spec)}
    if _cached(out, description):
        return out
    _fresh(out)
    rng = _rng(name, spec.seed)
    photo = load_photo(TEXTURES[name])
    grey = is_grey(photo)
    train_region, test_region = halves(photo)
    foreign = {n: load_photo(n) for n in FOREIGN}
    for i in range(spec.train):
        _write_rgb(
            out / "train" / "good" / f"{i:03d}.png", random_crop(train_region, spec.size, rng)
        )
    for i in range(spec.test_good):
        _write_rgb(out / "test" / "good" / f"{i:03d}.png", random_crop(test_region, spec.size, rng))
    makers: dict[str, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
        "perlin": lambda crop: perlin_anomaly(
            crop, foreign_texture(spec.size, grey, rng, foreign), rng
        ),
        "cutpaste": lambda crop: cutpaste_anomaly(crop, test_region, rng),
    }
    counts = {"perlin": spec.test_perlin, "cutpaste": spec.test_cutpaste}
    for kind, make in makers.items():
        for i in range(counts[kind]):
            image, mask = make(random_crop(test_region, spec.size, rng))
            _write_rgb(out / "test" / kind / f"{i:03d}.png", image)
            _write_mask(out / "ground_truth" / kind / f"{i:03d}_mask.png", mask)
    _finish(out, description)
    return out


# ---------------------------------------------------------------------------- rendered set


def export_rendered(train_manifest: Path, test_manifest: Path, out: Path) -> Path:
    """Rendered SeqCore data sets (manifest folders) -> one MVTec-layout category.

    train/good: every training render (nominal plates; water stains, fingerprints and stickers
    are nominal surface). Test renders with defect pixels go to test/defect with the union of
    their defect classes as the mask; the others to test/good. Invalid pixels (valid mask 0)
    cannot be expressed in this layout, so the export refuses data that has any.
    """
    from shared_schemas import load_manifest

    out = Path(out)
    train, test = load_manifest(train_manifest), load_manifest(test_manifest)
    description = {
        "kind": "rendered",
        "train": [train.name, len(train.samples), train.generator],
        "test": [test.name, len(test.samples), test.generator],
        # a re-render under the same name and count must not reuse an older export
        "manifests": [_digest(m) for m in (train_manifest, test_manifest)],
        "version": 1,
    }
    if _cached(out, description):
        return out
    _fresh(out)
    for i, sample in enumerate(train.samples):
        _check_valid(train, sample)
        shutil.copyfile(
            train.path_of(sample.image), _mkdir(out / "train" / "good") / f"{i:03d}.png"
        )
    defect_ids = np.array([c.id for c in test.classes if c.kind == "defect"])
    for i, sample in enumerate(test.samples):
        _check_valid(test, sample)
        semantic = np.asarray(Image.open(test.path_of(sample.semantic_mask)))
        mask = np.isin(semantic, defect_ids)
        folder = "defect" if mask.any() else "good"
        shutil.copyfile(test.path_of(sample.image), _mkdir(out / "test" / folder) / f"{i:03d}.png")
        if mask.any():
            _write_mask(out / "ground_truth" / folder / f"{i:03d}_mask.png", mask)
    _finish(out, description)
    return out


def _digest(manifest: Path) -> str:
    path = Path(manifest)
    path = path / "manifest.json" if path.is_dir() else path
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _check_valid(manifest, sample) -> None:
    if sample.valid_mask and not np.asarray(Image.open(manifest.path_of(sample.valid_mask))).all():
        raise ValueError(f"{sample.id}: has invalid pixels; the MVTec layout cannot express them")
