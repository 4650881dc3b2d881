"""`seqcore-train export-dataset --format mvtec`: the export read back by the project's MVTec AD
reader gives the same evaluation as the source dataset, and impurity-only images are "good"."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seqcore_train.data.datasets import open_datasets
from seqcore_train.data.images import read_mask, read_rgb, write_png
from seqcore_train.evaluation.metrics import flatten
from seqcore_train.export.dataset import SIDECAR
from seqcore_train.model.patchcore import SeqPatchCore
from shared_schemas import Instance, Manifest, Sample, save_manifest

from ..cli_runner import run

SIZE = 64


# (split, [(class id, class name, value, y, x, side)]): one defect class per test image and
# instances far apart, so MVTec's folder-per-class and components-as-instances lose nothing.
LAYOUT = [
    ("train", []),
    ("train", []),
    ("train", [(4, "water_stain", 0.38, 30, 30, 10)]),  # impurity on a train image
    ("test", [(1, "scratch", 0.95, 8, 8, 6), (1, "scratch", 0.95, 44, 40, 7)]),
    ("test", [(3, "dent", 0.05, 20, 36, 9)]),
    ("test", [(3, "dent", 0.05, 40, 10, 8), (4, "water_stain", 0.38, 8, 40, 10)]),
    ("test", [(4, "water_stain", 0.38, 25, 25, 12)]),  # impurity only
    ("test", []),
]


def write_dataset(root: Path, layout=LAYOUT) -> Path:
    rng = np.random.default_rng(11)
    samples = []
    for index, (split, blobs) in enumerate(layout):
        sid = f"{index:03d}"
        image = 0.45 + 0.01 * rng.standard_normal((SIZE, SIZE, 1)) * np.ones((1, 1, 3))
        image += 0.03 * np.sin(np.arange(SIZE) / 1.5)[None, :, None]
        semantic = np.zeros((SIZE, SIZE), np.uint8)
        instance = np.zeros((SIZE, SIZE), np.uint16)
        instances = []
        for number, (class_id, name, value, y, x, side) in enumerate(blobs, start=1):
            image[y : y + side, x : x + side] = value
            semantic[y : y + side, x : x + side] = class_id
            instance[y : y + side, x : x + side] = number
            instances.append(Instance(number, name))
        write_png(root / f"images/{sid}.png", (np.clip(image, 0, 1) * 255).astype(np.uint8))
        write_png(root / f"masks/{sid}_semantic.png", semantic)
        write_png(root / f"masks/{sid}_instance.png", instance)
        samples.append(
            Sample(
                id=sid,
                split=split,
                image=f"images/{sid}.png",
                semantic_mask=f"masks/{sid}_semantic.png",
                instance_mask=f"masks/{sid}_instance.png",
                instances=instances,
            )
        )
    save_manifest(Manifest(name=root.name, samples=samples), root)
    return root


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("mvtec")
    source = write_dataset(root / "source")
    out = root / "export"
    result = run("export-dataset", source, "--format", "mvtec", "--out", out)
    assert result.exit_code == 0, result.output
    return source, out


def test_layout_and_sidecar(exported):
    source, out = exported
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [
        "ground_truth/dent/000_mask.png",
        "ground_truth/dent/001_mask.png",
        "ground_truth/scratch/000_mask.png",
        SIDECAR,
        "test/dent/000.png",
        "test/dent/001.png",
        "test/good/000.png",
        "test/good/001.png",
        "test/scratch/000.png",
        "train/good/000.png",
        "train/good/001.png",
        "train/good/002.png",
    ]
    # Images are copied byte for byte; masks are 0/255 on exactly the defect pixels.
    assert (out / "test/scratch/000.png").read_bytes() == (source / "images/003.png").read_bytes()
    mask = read_mask(out / "ground_truth/dent/001_mask.png")
    assert set(np.unique(mask).tolist()) == {0, 255}
    semantic = read_mask(source / "masks/005_semantic.png")
    np.testing.assert_array_equal(mask == 255, semantic == 3)  # the stain beside it is not
    sidecar = json.loads((out / SIDECAR).read_text())
    by_image = {e["image"]: e for e in sidecar["images"]}
    impurity_only = by_image["test/good/000.png"]
    assert impurity_only["source_id"] == "006" and impurity_only["impurities"] == ["water_stain"]
    assert "impurity only (water_stain)" in impurity_only["notes"][0]
    assert "impurity only" in by_image["train/good/002.png"]["notes"][0]
    assert "notes" not in by_image["test/good/001.png"]
    assert sidecar["folders"] == {
        "test/dent": 2,
        "test/good": 2,
        "test/scratch": 1,
        "train/good": 3,
    }


def test_mvtec_reader_gives_the_same_metrics(exported, tmp_path):
    source, out = exported
    reread = open_datasets([str(out)], split="test")
    assert {r.fmt for r in reread.records} == {"mvtec"} and len(reread) == 5

    model_path = tmp_path / "model.safetensors"
    fit = ["--coreset-size", "64", "--epochs", "1", "--chunk-size", "256"]
    result = run("fit", source, "--out", model_path, *fit)
    assert result.exit_code == 0, result.output
    model = SeqPatchCore.load(model_path, device="cpu")
    model.threshold = 12.0  # fixed, so thresholded metrics are compared too
    model.save(model_path)

    reports = {}
    for name, data in (("source", source), ("mvtec", out)):
        result = run("evaluate", model_path, data, "--out", tmp_path / name)
        assert result.exit_code == 0, result.output
        reports[name] = flatten(json.loads((tmp_path / name / "report.json").read_text()))
    a, b = reports["source"], reports["mvtec"]
    assert a["images"] == b["images"] == 5
    assert a["pixel.fn"] + a["pixel.tp"] == (6 * 6 + 7 * 7) + (9 * 9 + 8 * 8)  # all defect px
    compared = [
        k
        for k in a
        if k.startswith(("pixel.", "image.", "mean_defect_wise"))
        or k.startswith(("per_class.scratch.", "per_class.dent."))
    ]
    assert len(compared) > 15
    assert {k: a[k] for k in compared} == {k: b[k] for k in compared}
    assert a["per_class.scratch.instances"] == 2 and a["per_class.dent.instances"] == 2
    # MVTec AD has no impurities: their pixels stay negatives there, but are no class of their own.
    assert a["per_class.water_stain.pixels"] > 0 and b["per_class.water_stain.pixels"] == 0


def test_several_classes_go_to_combined(tmp_path, manifest_writer):
    source = manifest_writer(
        tmp_path / "plates",
        np.random.default_rng(3),
        {"train": 2, "val": 1, "test": 2},
        48,
        ("clean", "stained"),
        4,
    )
    out = tmp_path / "export"
    result = run("export-dataset", source, "--out", out)
    assert result.exit_code == 0, result.output
    sidecar = json.loads((out / SIDECAR).read_text())
    combined = [e for e in sidecar["images"] if e["image"].startswith("test/combined/")]
    assert combined and all(len(e["defects"]) > 1 for e in combined)
    for entry in combined:  # union of the defect classes, never the stain
        truth = read_mask(out / entry["mask"]) == 255
        sample_id = entry["source_id"]
        semantic = read_mask(source / f"masks/{sample_id}_semantic.png")
        valid = read_mask(source / f"masks/{sample_id}_valid.png") > 0
        np.testing.assert_array_equal(truth, np.isin(semantic, (1, 3)) & valid)
        assert "outside the valid mask" in " ".join(entry["notes"])
    stained_train = [e for e in sidecar["images"] if e["source_id"].endswith("_stained")]
    assert any(e["image"].startswith("train/good/") for e in stained_train)
    np.testing.assert_array_equal(  # the reader decodes the copies as the originals
        read_rgb(out / sidecar["images"][0]["image"]),
        read_rgb(Path(sidecar["images"][0]["source"])),
    )


def test_refuses_a_folder_in_use(exported, tmp_path):
    source, out = exported
    result = run("export-dataset", source, "--out", out)
    assert result.exit_code == 1
    assert "already exists and is not an empty folder" in result.output
    assert result.output.count("\n") == 1
