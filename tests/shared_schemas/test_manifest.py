"""The manifest contract: every validation rule, round trip, atomic writes, append and merge."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import shared_schemas
from shared_schemas import (
    DEFAULT_CLASSES,
    Instance,
    Manifest,
    ManifestError,
    Sample,
    append_samples,
    load_manifest,
    merge_manifests,
    save_manifest,
    write_png,
)

REPO = Path(__file__).resolve().parents[2]


def _write_sample_files(root: Path, sid: str, width=8, height=6, mask_size=None) -> None:
    write_png(root / "images" / f"{sid}.png", bytes(width * height * 3), width, height, channels=3)
    mw, mh = mask_size or (width, height)
    write_png(root / "masks" / f"{sid}_semantic.png", bytes(mw * mh), mw, mh)
    write_png(root / "masks" / f"{sid}_instance.png", bytes(mw * mh * 2), mw, mh, bit_depth=16)


def _sample_dict(sid: str, **overrides) -> dict:
    d = {
        "id": sid,
        "split": "train",
        "image": f"images/{sid}.png",
        "semantic_mask": f"masks/{sid}_semantic.png",
        "instance_mask": f"masks/{sid}_instance.png",
        "valid_mask": None,
        "instances": [{"id": 1, "class": "water_stain"}],
        "pair": None,
        "variant": None,
        "light": "hex",
        "params": {"texture": {"groove_frequency": 40.0}, "sampling_seed": 7},
    }
    d.update(overrides)
    return d


@pytest.fixture
def dataset(tmp_path) -> Path:
    """A valid two-sample paired dataset on disk."""
    for sid in ("000001", "000002"):
        _write_sample_files(tmp_path, sid)
    doc = {
        "schema": "seqcore-dataset",
        "schema_version": 1,
        "name": "tiny",
        "generator": {"tool": "test"},
        "classes": [c.to_dict() for c in DEFAULT_CLASSES],
        "samples": [
            _sample_dict("000001", pair="p1", variant="clean", instances=[]),
            _sample_dict("000002", pair="p1", variant="stained"),
        ],
    }
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    return tmp_path


def _edit(dataset: Path, change) -> None:
    path = dataset / "manifest.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def test_valid_dataset_loads(dataset):
    m = load_manifest(dataset)
    assert [s.id for s in m.samples] == ["000001", "000002"]
    assert m.samples[1].instances == [Instance(1, "water_stain")]
    assert m.class_by_name("dent").id == 3 and m.class_by_id(6).name == "sticker"
    assert m.path_of(m.samples[0].image).is_file()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(schema="other"), "field 'schema'"),
        (lambda d: d.update(schema_version=2), "unsupported schema_version 2"),
        (
            lambda d: d["samples"][0].update(image="images/missing.png"),
            "'images/missing.png' does not exist",
        ),
        (lambda d: d["samples"][1].update(valid_mask="masks/nope.png"), "field 'valid_mask'"),
        (
            lambda d: d["samples"][1]["instances"].append({"id": 2, "class": "rust"}),
            "unknown class 'rust'",
        ),
        (
            lambda d: d["samples"][1]["instances"].append({"id": 1, "class": "dent"}),
            "instance id 1 appears twice",
        ),
        (lambda d: d["samples"][1].update(instances=[{"id": 0, "class": "dent"}]), "must be >= 1"),
        (lambda d: d["samples"][1].update(instance_mask=None), "has no instance mask"),
        (lambda d: d["samples"][0].update(split="validation"), "split 'validation' is not one of"),
        (lambda d: d["samples"][1].update(id="000001"), "sample id appears twice"),
        (lambda d: d["samples"][1].update(variant="clean"), "has two 'clean' samples"),
        (
            lambda d: d["samples"][1].update(variant="dirty"),
            "must have variant 'clean' or 'stained'",
        ),
        (
            lambda d: d["samples"][1]["params"]["texture"].update(groove_frequency=41.0),
            "params.texture differs",
        ),
        (
            lambda d: d["samples"][1]["params"].update(sampling_seed=8),
            "params.sampling_seed differs",
        ),
        (
            lambda d: d["classes"].append({"id": 3, "name": "crack", "kind": "defect"}),
            "class id 3 appears twice",
        ),
        (lambda d: d["classes"].append({"id": 9, "name": "crack", "kind": "flaw"}), "kind 'flaw'"),
        (
            lambda d: d["classes"].append({"id": 300, "name": "crack", "kind": "defect"}),
            "outside 1..255",
        ),
        (lambda d: d["samples"][0].pop("split"), "field 'split': must be a string"),
        (lambda d: d["samples"][0].update(instances=[{"id": "a", "class": "dent"}]), "integer id"),
        (lambda d: d.update(samples={}), "field 'samples': must be a list"),
    ],
)
def test_each_rule_gives_its_message(dataset, change, expected):
    _edit(dataset, change)
    with pytest.raises(ManifestError) as info:
        load_manifest(dataset)
    message = str(info.value)
    assert expected in message
    assert str(dataset / "manifest.json") in message
    assert "\n" not in message


def test_error_names_sample_and_field(dataset):
    _edit(dataset, lambda d: d["samples"][1]["instances"].append({"id": 2, "class": "rust"}))
    with pytest.raises(ManifestError) as info:
        load_manifest(dataset)
    assert info.value.sample_id == "000002" and info.value.field == "instances"
    assert "sample '000002'" in str(info.value)


def test_mask_of_another_size_is_rejected(tmp_path, dataset):
    _write_sample_files(dataset, "000002", mask_size=(5, 5))
    with pytest.raises(ManifestError, match="is 5x5, the image is 8x6"):
        load_manifest(dataset)


def test_invalid_json_and_missing_manifest(tmp_path):
    with pytest.raises(ManifestError, match="no such manifest"):
        load_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"schema": ')
    with pytest.raises(ManifestError, match="invalid JSON at line 1"):
        load_manifest(tmp_path)


def test_round_trip_keeps_everything(dataset):
    _edit(dataset, lambda d: d["samples"][0].update(custom_field={"a": 1}))
    m = load_manifest(dataset)
    before = json.loads((dataset / "manifest.json").read_text())
    save_manifest(m, dataset)
    after = json.loads((dataset / "manifest.json").read_text())
    assert after == before
    assert load_manifest(dataset) == m


def test_atomic_write_survives_a_crash(dataset, monkeypatch):
    before = (dataset / "manifest.json").read_bytes()
    m = load_manifest(dataset)
    m.name = "renamed"

    def crash(*args, **kwargs):
        raise OSError("simulated power cut during rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        save_manifest(m, dataset)
    monkeypatch.undo()
    assert (dataset / "manifest.json").read_bytes() == before
    assert [p.name for p in dataset.iterdir() if p.name.startswith(".")] == []
    assert load_manifest(dataset).name == "tiny"


def test_save_refuses_an_invalid_manifest(dataset):
    before = (dataset / "manifest.json").read_bytes()
    m = load_manifest(dataset)
    m.samples[0].split = "holdout"
    with pytest.raises(ManifestError, match="split 'holdout'"):
        save_manifest(m, dataset)
    assert (dataset / "manifest.json").read_bytes() == before


def test_append_creates_replaces_and_keeps(tmp_path):
    for sid in ("a", "b"):
        _write_sample_files(tmp_path, sid)
    first = Sample.from_dict(_sample_dict("a"))
    append_samples(tmp_path, [first], name="grow", generator={"tool": "t"})
    second = Sample.from_dict(_sample_dict("b"))
    append_samples(tmp_path, [second])
    redo = Sample.from_dict(_sample_dict("a", light="ring"))
    m = append_samples(tmp_path, [redo])
    assert [s.id for s in m.samples] == ["b", "a"]
    loaded = load_manifest(tmp_path)
    assert loaded.name == "grow" and loaded.generator == {"tool": "t"}
    assert {s.id: s.light for s in loaded.samples} == {"a": "ring", "b": "hex"}


def test_merge_shards(tmp_path):
    shard1 = Manifest("d", [Sample.from_dict(_sample_dict("2"))])
    shard2 = Manifest("d", [Sample.from_dict(_sample_dict("1"))])
    merged = merge_manifests([shard1, shard2])
    assert [s.id for s in merged.samples] == ["1", "2"]
    with pytest.raises(ManifestError, match="appears in another shard"):
        merge_manifests([shard1, shard1])


def _run_cli(*args):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "shared_schemas", *args], capture_output=True, text=True, env=env
    )


def test_cli_validate_ok(dataset):
    result = _run_cli("validate", str(dataset))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK ")
    assert "2 samples (2 train)" in result.stdout and "1 water_stain" in result.stdout


def test_cli_validate_broken_gives_one_line(dataset):
    _edit(dataset, lambda d: d["samples"][0].update(split="holdout"))
    result = _run_cli("validate", str(dataset))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "split 'holdout'" in lines[0] and "Traceback" not in result.stderr


def test_json_schema_export(tmp_path, dataset):
    out = tmp_path / "schema.json"
    assert _run_cli("schema", str(out)).returncode == 0
    schema = json.loads(out.read_text())
    assert schema["properties"]["schema"]["const"] == "seqcore-dataset"
    assert schema["properties"]["samples"]["items"]["properties"]["split"]["enum"] == [
        "train",
        "val",
        "test",
    ]
    # Every key a real manifest uses is described by the schema.
    doc = json.loads((dataset / "manifest.json").read_text())
    assert set(doc) <= set(schema["properties"])
    assert set(doc["samples"][0]) <= set(schema["properties"]["samples"]["items"]["properties"])


def test_public_api_is_explicit():
    assert "load_manifest" in shared_schemas.__all__
    for name in shared_schemas.__all__:
        assert hasattr(shared_schemas, name), name


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        shared_schemas.atomic_write_text(tmp_path / "report.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "report.json").stat().st_mode & 0o777 == 0o644
