"""Fixtures for seqcore_train tests: tiny datasets written by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from seqcore_train.data.images import write_png
from seqcore_train.data.records import LoadedSample, Record
from shared_schemas import Instance, Manifest, Sample, save_manifest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One thread for the small tensors of these tests: on a busy 2-core machine OpenMP's waits cost 10x."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_sample(semantic, instance, instance_classes, valid=None, sample_id="s") -> LoadedSample:
    semantic = np.asarray(semantic, dtype=np.uint8)
    valid = np.ones(semantic.shape, bool) if valid is None else np.asarray(valid, bool)
    record = Record(sample_id, Path(f"{sample_id}.png"), "test", "mem", "manifest")
    image = np.zeros(semantic.shape + (3,), np.float32)
    return LoadedSample(
        record, image, valid, semantic, np.asarray(instance, np.int32), instance_classes
    )


def _blob(rng, shape, size):
    y, x = rng.integers(0, shape[0] - size), rng.integers(0, shape[1] - size)
    return (slice(y, y + size), slice(x, x + size))


def write_manifest_dataset(
    root: Path,
    rng: np.random.Generator,
    counts: dict[str, int],
    size: int = 64,
    variants: tuple[str | None, ...] = (None,),
    valid_border: int = 0,
) -> Path:
    """A manifest dataset of textured images; val/test samples get square defects and stains.

    Defects (scratch=1, dent=3) are bright squares, stains (water_stain=4) faint dark squares, so a
    model can find the former. Paired variants share the texture; 'stained' adds a stain.
    """
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    samples = []
    index = 0
    for split, count in counts.items():
        for _ in range(count):
            index += 1
            texture = 0.45 + 0.05 * rng.standard_normal((size, size, 1)) * np.ones((1, 1, 3))
            texture += 0.03 * np.sin(np.arange(size) / 1.5)[None, :, None]
            for variant in variants:
                sid = f"{index:04d}" + (f"_{variant}" if variant else "")
                image = texture.copy()
                semantic = np.zeros((size, size), np.uint8)
                instance = np.zeros((size, size), np.uint16)
                instances = []
                blobs = []
                if split != "train":
                    blobs += [(1, "scratch", 0.95, 6), (3, "dent", 0.05, 8)]
                if split != "train" or variant == "stained":
                    blobs.append((4, "water_stain", 0.38, 10))
                for class_id, name, value, side in blobs:
                    where = _blob(rng, (size, size), side)
                    image[where] = value
                    semantic[where] = class_id
                    instance[where] = len(instances) + 1
                    instances.append(Instance(len(instances) + 1, name))
                present = set(np.unique(instance).tolist())
                instances = [i for i in instances if i.id in present]
                write_png(root / f"images/{sid}.png", (np.clip(image, 0, 1) * 255).astype(np.uint8))
                write_png(root / f"masks/{sid}_semantic.png", semantic)
                write_png(root / f"masks/{sid}_instance.png", instance)
                valid_path = None
                if valid_border:
                    valid = np.zeros((size, size), np.uint8)
                    valid[valid_border:-valid_border, valid_border:-valid_border] = 255
                    valid_path = f"masks/{sid}_valid.png"
                    write_png(root / valid_path, valid)
                samples.append(
                    Sample(
                        id=sid,
                        split=split,
                        image=f"images/{sid}.png",
                        semantic_mask=f"masks/{sid}_semantic.png",
                        instance_mask=f"masks/{sid}_instance.png",
                        valid_mask=valid_path,
                        instances=instances,
                        pair=f"{index:04d}" if variant else None,
                        variant=variant,
                        params={"texture": index},
                    )
                )
    save_manifest(Manifest(name=root.name, samples=samples), root)
    return root


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def sample_factory():
    """`make_sample(semantic, instance, instance_classes, valid=None, sample_id)` -> LoadedSample."""
    return make_sample


@pytest.fixture(scope="session")
def manifest_writer():
    """`write_manifest_dataset(root, rng, counts, size, variants, valid_border)` -> root."""
    return write_manifest_dataset


@pytest.fixture
def report_keys() -> tuple[str, ...]:
    """The dotted keys every evaluation report carries (report.json, flattened)."""
    return (
        "pixel.precision",
        "pixel.recall",
        "pixel.f1",
        "pixel.auroc",
        "pixel.aupro",
        "image.auroc",
        "mean_defect_wise_recall",
        "threshold",
    )
