"""`export-dataset --format coco`, read back with pycocotools (an independent reader): one annotation
per instance whose decoded mask, area and box are the instance mask's, impurities marked as such."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from seqcore_train.data.datasets import open_datasets
from seqcore_train.export.coco import rle_counts, rle_string

from ..cli_runner import run


@pytest.mark.parametrize("seed", range(6))
def test_rle_string_equals_pycocotools(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((23, 17)) < [0.0, 0.02, 0.5, 0.98, 1.0, 0.3][seed]
    if seed == 5:
        mask[:] = False
        mask[4:20, 2:9] = True  # long runs: multi-group counts and negative differences
    theirs = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    assert rle_string(rle_counts(mask)) == theirs["counts"].decode()


@pytest.fixture(scope="module")
def exported(tmp_path_factory, manifest_writer):
    root = tmp_path_factory.mktemp("coco")
    data = manifest_writer(
        root / "plates", np.random.default_rng(3), {"train": 2, "val": 2, "test": 3}, 48, (None,), 2
    )
    out = root / "coco"
    result = run("export-dataset", data, "--format", "coco", "--out", out)
    assert result.exit_code == 0, result.output
    return data, out, result.output


def test_annotations_read_back_with_pycocotools(exported):
    data, out, output = exported
    coco = COCO(str(out / "annotations.json"))
    dataset = open_datasets([str(data)])
    samples = {s.record.sample_id: s for s in dataset.samples()}
    names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    kinds = {c["name"]: c["supercategory"] for c in coco.loadCats(coco.getCatIds())}
    assert kinds["scratch"] == "defect" and kinds["water_stain"] == "impurity"
    seen = 0
    for image in coco.loadImgs(coco.getImgIds()):
        sample = samples[image["source_id"]]
        assert (
            out / "images" / image["file_name"]
        ).read_bytes() == sample.record.image.read_bytes()
        assert image["split"] == sample.record.split
        assert image["invalid_pixels"] == int((~sample.valid).sum())
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=image["id"]))
        ids = [i for i in np.unique(sample.instance) if i]
        assert len(annotations) == len(ids)  # one per instance
        for ann, index in zip(sorted(annotations, key=lambda a: a["id"]), ids, strict=True):
            truth = sample.instance == index
            decoded = coco.annToMask(ann).astype(bool)
            np.testing.assert_array_equal(decoded, truth)
            assert ann["area"] == truth.sum() == mask_utils.area(ann["segmentation"])
            assert ann["bbox"] == mask_utils.toBbox(ann["segmentation"]).tolist()
            name = names[ann["category_id"]]
            assert name == sample.instance_classes[int(index)]
            assert ann["kind"] == kinds[name]
            seen += 1
    assert seen == len(coco.anns) >= 10  # 5 val/test images with up to three instances each
    assert "impurity" in output and "defect" in output


def test_existing_folder_is_refused(exported, tmp_path):
    data, _, _ = exported
    (tmp_path / "full").mkdir()
    (tmp_path / "full/x").write_text("x")
    result = run("export-dataset", data, "--format", "coco", "--out", tmp_path / "full")
    assert result.exit_code == 1
    assert "already exists and is not an empty folder" in result.output


def test_class_masks_without_instances_become_components(tmp_path):
    from seqcore_train.data.images import write_png

    image = np.full((20, 30, 3), 120, np.uint8)
    mask = np.zeros((20, 30), np.uint8)
    mask[2:5, 2:6] = 255  # two separate regions of one class
    mask[10:15, 20:28] = 255
    category = tmp_path / "mvtec/bottle"
    write_png(category / "train/good/000.png", image)
    write_png(category / "test/good/000.png", image)
    write_png(category / "test/crack/000.png", image)
    write_png(category / "ground_truth/crack/000_mask.png", mask)
    result = run("export-dataset", category, "--format", "coco", "--out", tmp_path / "coco")
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "coco/annotations.json").read_text())
    areas = sorted(a["area"] for a in document["annotations"])
    assert areas == [12, 40]
    assert {a["bbox"][0] for a in document["annotations"]} == {2, 20}
