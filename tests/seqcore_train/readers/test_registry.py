"""The reader registry: formats tried in order, each one module; a new format is one more entry."""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from seqcore_train import readers
from seqcore_train.cli import cli
from seqcore_train.data.datasets import open_datasets
from seqcore_train.data.images import write_png
from seqcore_train.data.records import Record, Targets, image_files_in
from seqcore_train.errors import DataError

SQUARE = 8  # a toy defect: a bright square at the (row, col) its file name gives


def _toy_reader() -> types.SimpleNamespace:
    """A format of its own: a `TOY` marker file, `train/` and `test/` folders, defects in names."""

    def detect(path: Path) -> bool:
        return (path / "TOY").is_file()

    def records(spec, classes):
        classes.ensure("scratch", "defect", str(spec.path))
        return [
            Record(f"{split}/{image.stem}", image, split, str(spec), "toy")
            for split in ("train", "test")
            for image in image_files_in(spec.path / split)
        ]

    def targets(record, shape, classes, label_map):
        if not record.image.stem.startswith("defect"):
            return None
        row, col = (int(x) for x in record.image.stem.split("_")[1:])
        semantic = np.zeros(shape, np.uint8)
        semantic[row : row + SQUARE, col : col + SQUARE] = classes.get("scratch").id
        instance = (semantic > 0).astype(np.int32)
        return Targets(semantic, instance, {1: "scratch"})

    def check(record, shape, classes, label_map):
        pass

    return types.SimpleNamespace(
        NAME="toy", FILTERS=False, detect=detect, records=records, targets=targets, check=check
    )


@pytest.fixture
def toy_format():
    reader = _toy_reader()
    readers.READERS.insert(0, reader)  # the one line a new format adds
    yield reader
    readers.READERS.remove(reader)


def _write_toy(root: Path, rng: np.random.Generator) -> Path:
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    (root / "TOY").write_text("")

    def texture():
        return 0.45 + 0.04 * rng.standard_normal((48, 48, 1)) * np.ones((1, 1, 3))

    for k in range(3):
        write_png(root / "train" / f"good_{k}.png", (texture() * 255).astype(np.uint8))
    for row, col in ((8, 12), (28, 30)):
        image = texture()
        image[row : row + SQUARE, col : col + SQUARE] = 0.95
        write_png(root / "test" / f"defect_{row}_{col}.png", (image * 255).astype(np.uint8))
    write_png(root / "test" / "good_9.png", (texture() * 255).astype(np.uint8))
    return root


def test_registry_lists_every_format_once_with_the_folder_last():
    names = [reader.NAME for reader in readers.READERS]
    assert names == ["manifest", "mvtec", "labelme", "folder"]
    for reader in readers.READERS:
        assert readers.reader_named(reader.NAME) is reader
        assert all(callable(getattr(reader, f)) for f in ("detect", "records", "targets", "check"))
    with pytest.raises(KeyError):
        readers.reader_named("toy")


def test_a_registered_reader_is_fitted_and_evaluated_through(tmp_path, toy_format):
    data = _write_toy(tmp_path / "toy", np.random.default_rng(3))
    opened = open_datasets([str(data)], split="test")
    assert {r.fmt for r in opened.records} == {"toy"} and len(opened) == 3
    sample = opened.load(opened.records[0])
    assert sample.semantic.sum() > 0 and sample.instance_classes == {1: "scratch"}

    model = tmp_path / "toy.safetensors"
    runner = CliRunner()
    fit = ["fit", str(data), "--out", str(model), "--coreset-size", "16", "--epochs", "1"]
    result = runner.invoke(cli, fit)
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        cli, ["evaluate", str(model), str(data), "--out", str(tmp_path / "r"), "--threshold", "0"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["images"] == 3
    assert report["pixel"]["recall"] == 1.0  # threshold 0 flags every pixel: both squares found


def test_filters_are_refused_by_formats_without_them(tmp_path, toy_format):
    data = _write_toy(tmp_path / "toy", np.random.default_rng(4))
    with pytest.raises(DataError, match="variant/light filters need a manifest dataset"):
        open_datasets([f"{data}::variant=clean"])
