"""LabelMe folders: polygons and rectangles -> instance and semantic masks by label name."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seqcore_train.data.datasets import open_datasets
from seqcore_train.data.images import write_png
from seqcore_train.data.records import parse_label_map
from seqcore_train.errors import DataError


def write_labelme(root, shapes, size=(20, 30)):
    write_png(root / "plate.png", np.full(size + (3,), 120, np.uint8))
    write_png(root / "clean.png", np.full(size + (3,), 120, np.uint8))
    doc = {
        "version": "5.4.1",
        "imagePath": "plate.png",
        "imageHeight": size[0],
        "imageWidth": size[1],
        "shapes": shapes,
    }
    (root / "plate.json").write_text(json.dumps(doc))
    return root


SHAPES = [
    {"label": "kratzer", "points": [[2, 2], [12, 2], [12, 6], [2, 6]], "shape_type": "polygon"},
    {"label": "water_stain", "points": [[15, 10], [25, 16]], "shape_type": "rectangle"},
    {
        "label": "kratzer",
        "points": [[20, 2], [26, 2], [26, 4]],
        "shape_type": "polygon",
        "group_id": 3,
    },
    {"label": "kratzer", "points": [[20, 6], [26, 8]], "shape_type": "rectangle", "group_id": 3},
    {"label": "rand", "points": [[0, 18], [29, 19]], "shape_type": "rectangle"},
]


def test_polygons_and_rectangles_to_masks(tmp_path):
    root = write_labelme(tmp_path / "real", SHAPES)
    label_map = parse_label_map("kratzer=scratch,rand=ignore")
    data = open_datasets([str(root)], label_map=label_map)
    assert [r.fmt for r in data.records] == ["labelme", "labelme"]
    data.check()
    plate = data.load(next(r for r in data.records if r.image.name == "plate.png"))
    scratch, stain = data.classes.get("scratch").id, data.classes.get("water_stain").id
    # Rectangle (15,10)-(25,16) inclusive: 11 x 7 pixels of water stain.
    assert (plate.semantic == stain).sum() == 11 * 7
    assert plate.semantic[4, 7] == scratch and plate.semantic[0, 0] == 0
    # Polygon and rectangle with one group id form one instance; the first polygon is another.
    assert sorted(plate.instance_classes.values()) == ["scratch", "scratch", "water_stain"]
    grouped = plate.instance[3, 24], plate.instance[7, 22]
    assert grouped[0] == grouped[1] != plate.instance[4, 7]
    # "ignore" regions leave the inspected area.
    assert not plate.valid[18:20].any() and plate.valid[:18].all()
    clean = data.load(next(r for r in data.records if r.image.name == "clean.png"))
    assert clean.semantic.max() == 0 and clean.instance_classes == {}


def test_new_class_through_label_map(tmp_path):
    root = write_labelme(
        tmp_path / "real",
        [{"label": "rost", "points": [[1, 1], [4, 4]], "shape_type": "rectangle"}],
    )
    data = open_datasets([str(root)], label_map={"rost": "rust:defect"})
    plate = data.load(next(r for r in data.records if r.image.name == "plate.png"))
    assert plate.semantic.max() == data.classes.get("rust").id


def test_unknown_label_names_file_and_label(tmp_path):
    root = write_labelme(tmp_path / "real", SHAPES)
    data = open_datasets([str(root)])
    with pytest.raises(DataError, match=r"plate.json: unknown label 'kratzer'"):
        data.check()
    with pytest.raises(DataError, match="bad entry"):
        parse_label_map("kratzer")


def test_size_mismatch_and_bad_json(tmp_path):
    root = write_labelme(tmp_path / "real", SHAPES, size=(20, 30))
    doc = json.loads((root / "plate.json").read_text())
    doc["imageWidth"] = 31
    (root / "plate.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match="differs from the image"):
        open_datasets([str(root)], label_map={"kratzer": "scratch", "rand": "ignore"}).check()
    (root / "plate.json").write_text("{not json")
    with pytest.raises(DataError, match="not a readable LabelMe JSON"):
        open_datasets([str(root)]).check()
