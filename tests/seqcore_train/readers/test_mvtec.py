"""MVTec AD layout: train/good, test/<type>, ground_truth/<type>/<stem>_mask.png."""

from __future__ import annotations

import numpy as np
import pytest

from seqcore_train.data.datasets import open_datasets
from seqcore_train.data.images import write_png
from seqcore_train.errors import DataError


def write_mvtec(root, rng):
    for i in range(2):
        write_png(
            root / "train/good" / f"{i:03d}.png", (rng.random((16, 16, 3)) * 255).astype(np.uint8)
        )
    write_png(root / "test/good/000.png", np.zeros((16, 16, 3), np.uint8))
    write_png(root / "test/crack/000.png", np.zeros((16, 16, 3), np.uint8))
    mask = np.zeros((16, 16), np.uint8)
    mask[1:4, 1:4] = 255
    mask[10:12, 10:15] = 255  # two separate components = two instances
    write_png(root / "ground_truth/crack/000_mask.png", mask)
    return root


def test_mvtec_reader(tmp_path, rng):
    root = write_mvtec(tmp_path / "bottle", rng)
    train = open_datasets([str(root)], split="train")
    assert [r.sample_id for r in train.records] == ["train/good/000", "train/good/001"]
    test = open_datasets([str(root)], split="test")
    assert len(test) == 2
    crack = test.classes.get("crack")
    assert crack.kind == "defect"
    sample = test.load(next(r for r in test.records if r.defect_type == "crack"))
    assert set(np.unique(sample.semantic)) == {0, crack.id}
    assert sample.instance_classes == {1: "crack", 2: "crack"}
    assert (sample.instance > 0).sum() == 9 + 10
    good = test.load(next(r for r in test.records if r.defect_type is None))
    assert good.semantic.max() == 0
    with pytest.raises(DataError, match="no images in split 'val'"):
        open_datasets([str(root)], split="val")


def test_mvtec_missing_ground_truth(tmp_path, rng):
    root = write_mvtec(tmp_path / "bottle", rng)
    (root / "ground_truth/crack/000_mask.png").unlink()
    with pytest.raises(DataError, match="000_mask.png is missing"):
        open_datasets([str(root)])
