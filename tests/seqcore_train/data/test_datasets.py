"""Dataset readers: manifest (splits, variants, masks), plain folders, DATA concatenation, errors."""

from __future__ import annotations

import numpy as np
import pytest

from seqcore_train.data.batches import sample_batches, to_tensors
from seqcore_train.data.datasets import ClassTable, open_datasets, parse_data_spec
from seqcore_train.data.images import write_png
from seqcore_train.errors import DataError
from shared_schemas import write_png as shared_write_png


def test_manifest_splits_masks_and_variants(tmp_path, rng, manifest_writer):
    root = manifest_writer(
        tmp_path / "ds", rng, {"train": 3, "val": 1, "test": 2}, 32, ("clean", "stained"), 4
    )
    train = open_datasets([str(root)], split="train")
    assert len(train) == 6
    clean = open_datasets([f"{root}::variant=clean"], split="train")
    assert len(clean) == 3 and {r.variant for r in clean.records} == {"clean"}
    stained = open_datasets([f"{root}::variant=stained"], split="train")
    sample = stained.load(stained.records[0])
    assert sample.image.shape == (32, 32, 3) and sample.image.dtype == np.float32
    assert sample.valid.sum() == 24 * 24  # the valid mask is honoured
    assert set(sample.instance_classes.values()) == {"water_stain"}
    test = open_datasets([str(root)], split="test")
    sample = test.load(test.records[0])
    names = {test.classes.get(n).id: n for n in sample.instance_classes.values()}
    for instance_id, name in sample.instance_classes.items():
        assert set(np.unique(sample.semantic[sample.instance == instance_id])) == {
            test.classes.get(name).id
        }
    assert names
    # Several DATA concatenate.
    both = open_datasets([f"{root}::variant=clean", f"{root}::variant=stained"], split="train")
    assert len(both) == 6
    ids = [r.sample_id for r in both.records]
    assert len(set(ids)) == 6 and ids[0].startswith("0_ds/") and ids[-1].startswith("1_ds/")
    test.check()


def test_manifest_bad_spec_and_filters(tmp_path, rng, manifest_writer):
    root = manifest_writer(tmp_path / "ds", rng, {"train": 1}, 16)
    with pytest.raises(DataError, match="bad DATA option"):
        parse_data_spec(f"{root}::colour=red")
    with pytest.raises(DataError, match="no sample matches"):
        open_datasets([f"{root}::variant=clean"])
    with pytest.raises(DataError, match="no images in split 'val'"):
        open_datasets([str(root)], split="val")


def test_plain_folder_with_and_without_split_folders(tmp_path, rng):
    flat = tmp_path / "flat"
    for i in range(3):
        write_png(flat / f"{i}.png", (rng.random((20, 24, 3)) * 255).astype(np.uint8))
    write_png(flat / "grey.png", (rng.random((20, 24)) * 65535).astype(np.uint16))
    data = open_datasets([str(flat)], split="train")
    assert len(data) == 4 and all(r.fmt == "folder" for r in data.records)
    grey = data.load(data.records[-1])
    assert grey.image.shape == (20, 24, 3) and grey.semantic.max() == 0 and grey.valid.all()
    resized = data.load(data.records[0], size=(10, 12))
    assert resized.image.shape == (10, 12, 3) and resized.valid.shape == (10, 12)

    split = tmp_path / "split"
    write_png(split / "train" / "a.png", np.zeros((8, 8, 3), np.uint8))
    write_png(split / "test" / "b.png", np.zeros((8, 8, 3), np.uint8))
    assert [r.sample_id for r in open_datasets([str(split)], split="test").records] == ["test/b"]


def test_folder_mask_size_checked_before_work(tmp_path, rng):
    """MVTec ground truth of another size is caught by check(), before any model work."""
    root = tmp_path / "cat"
    write_png(root / "train/good/0.png", np.zeros((16, 16, 3), np.uint8))
    write_png(root / "test/hole/0.png", np.zeros((16, 16, 3), np.uint8))
    write_png(root / "ground_truth/hole/0_mask.png", np.zeros((8, 16), np.uint8))
    data = open_datasets([str(root)], split="test")
    with pytest.raises(DataError, match="0_mask.png: mask is"):
        data.check()


def test_sixteen_bit_colour_png_is_read_exactly(tmp_path, rng):
    values = (rng.random((6, 7, 3)) * 65535).astype(">u2")
    folder = tmp_path / "deep"
    folder.mkdir()
    shared_write_png(folder / "a.png", values.tobytes(), 7, 6, channels=3, bit_depth=16)
    data = open_datasets([str(folder)])
    image = data.load(data.records[0]).image
    assert np.abs(image - values.astype(np.float64) / 65535).max() < 1e-6


def test_batches_group_equal_sizes(tmp_path):
    folder = tmp_path / "mixed"
    for i, size in enumerate([8, 8, 8, 12, 12]):
        write_png(folder / f"{i}.png", np.full((size, size, 3), 100, np.uint8))
    data = open_datasets([str(folder)])
    batches = list(sample_batches(data, data.records, batch_size=2))
    assert [len(b) for b in batches] == [2, 1, 2]
    images, valid = to_tensors(batches[0])
    assert images.shape == (2, 3, 8, 8) and valid is None


def test_bad_inputs_name_the_file(tmp_path, rng, manifest_writer):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no images found"):
        open_datasets([str(empty)])
    with pytest.raises(DataError, match="no such file"):
        open_datasets([str(tmp_path / "missing")])
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.png").write_bytes(b"not a png")
    data = open_datasets([str(broken)])
    with pytest.raises(DataError, match="x.png: unreadable image"):
        data.check()
    root = manifest_writer(tmp_path / "ds", rng, {"test": 1}, 16)
    mask = next((root / "masks").glob("*_semantic.png"))
    write_png(mask, np.zeros((8, 8), np.uint8))
    with pytest.raises(DataError, match="semantic.png' is 8x8"):
        open_datasets([str(root)])
    mask.unlink()
    with pytest.raises(DataError, match="semantic.png"):
        open_datasets([str(root)])


def test_class_table_adds_and_rejects_kind_clash():
    table = ClassTable()
    assert table.ensure("crack", "defect", "here").id == 7
    assert table.kinds_lookup()[7] and not table.kinds_lookup()[4]
    with pytest.raises(DataError, match="is a defect here"):
        table.ensure("crack", "impurity", "there")
