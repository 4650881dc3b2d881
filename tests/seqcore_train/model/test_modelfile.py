"""The .safetensors model file: round trip, atomic write, and every kind of bad file rejected."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from seqcore_train.errors import ModelFileError
from seqcore_train.model.modelfile import FORMAT_VERSION, load_model_file, save_model_file
from seqcore_train.model.patchcore import ModelConfig, SeqPatchCore


def _write(path, bank=None, meta=None):
    bank = torch.arange(12, dtype=torch.float32).view(3, 4) if bank is None else bank
    save_model_file(
        path, {"coreset": bank}, meta or {"config": {"backbone": "x"}, "threshold": 1.5}
    )
    return bank


def test_round_trip_and_no_leftover_temporary_files(tmp_path):
    path = tmp_path / "sub" / "model.safetensors"
    bank = _write(path)
    tensors, meta = load_model_file(path)
    assert torch.equal(tensors["coreset"], bank)
    assert meta["threshold"] == 1.5 and meta["format_version"] == FORMAT_VERSION
    assert [p.name for p in path.parent.iterdir()] == ["model.safetensors"]


def test_overwrite_keeps_a_complete_file_when_metadata_is_bad(tmp_path):
    path = tmp_path / "model.safetensors"
    _write(path)
    with pytest.raises(ValueError, match="JSON"):
        save_model_file(path, {"coreset": torch.zeros(1, 2)}, {"x": object()})
    tensors, _ = load_model_file(path)  # the old model is intact
    assert tensors["coreset"].shape == (3, 4)


def _rewrite_meta(path: Path, change) -> None:
    tensors, meta = load_model_file(path)
    change(meta)
    save_file(tensors, str(path), metadata={"seqcore": json.dumps(meta)})


def test_unknown_version_and_foreign_files_are_rejected(tmp_path):
    path = tmp_path / "m.safetensors"
    _write(path)
    _rewrite_meta(path, lambda m: m.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(
        ModelFileError, match=re.escape(str(path)) + f".*format version {FORMAT_VERSION + 1}"
    ):
        load_model_file(path)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.zeros(2)}, str(foreign))
    with pytest.raises(ModelFileError, match="not a SeqCore model"):
        load_model_file(foreign)
    _write(path)
    _rewrite_meta(path, lambda m: m.update(format="something-else"))
    with pytest.raises(ModelFileError, match="not a SeqCore model"):
        load_model_file(path)


def test_format_1_files_are_refused_with_the_reason_and_what_to_do(tmp_path):
    """Format 1 coresets hold misaligned, differently normalised features: refit, never guess."""
    path = tmp_path / "old.safetensors"
    _write(path)
    _rewrite_meta(path, lambda m: m.update(format_version=1))
    with pytest.raises(
        ModelFileError, match=re.escape(str(path)) + ".*misaligned.*fit the model again"
    ):
        load_model_file(path)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: b"\x00" * 8 + data[8:],  # header length zeroed
        lambda data: data[:8] + b"[" + data[9:],  # broken JSON header
        lambda data: (
            data[:-3] + bytes([data[-3] ^ 0x40]) + data[-2:]
        ),  # one flipped bit in the data
        lambda data: b"PK\x03\x04 a zip, or a pickle, not ours",
        lambda data: b"",
    ],
)
def test_corrupt_files_are_rejected(tmp_path, damage):
    path = tmp_path / "m.safetensors"
    _write(path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ModelFileError, match=re.escape(str(path))):
        load_model_file(path)


def test_missing_file_and_nan_coreset(tmp_path):
    with pytest.raises(ModelFileError, match="cannot read"):
        load_model_file(tmp_path / "absent.safetensors")
    path = tmp_path / "nan.safetensors"
    _write(path, bank=torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(ModelFileError, match="NaN"):
        load_model_file(path)


def test_no_pickle_in_the_package():
    package = Path(__import__("seqcore_train").__file__).parent
    for source in package.rglob("*.py"):
        text = source.read_text()
        assert not re.search(r"^\s*(import|from)\s+(c?pickle|dill|joblib)\b", text, re.M), source
        assert "torch.save(" not in text, source
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, (source, call)


def _model_file(path: Path, image_size) -> SeqPatchCore:
    model = SeqPatchCore(
        ModelConfig(coreset_size=8), device="cpu", bank=torch.ones(3, 4), image_size=image_size
    )
    model.save(path)
    return model


def test_image_size_is_saved_as_a_model_attribute(tmp_path):
    path = tmp_path / "m.safetensors"
    _model_file(path, (48, 64))
    _, meta = load_model_file(path)
    assert meta["image_size"] == [48, 64] and "image_size" not in meta["provenance"]
    assert SeqPatchCore.load(path, device="cpu").image_size == (48, 64)
    _model_file(path, None)
    assert SeqPatchCore.load(path, device="cpu").image_size is None
    _rewrite_meta(path, lambda m: m.update(image_size=[48]))
    with pytest.raises(ModelFileError, match="bad entry"):
        SeqPatchCore.load(path, device="cpu")


def _as_format_2(meta: dict) -> None:
    """Format 2 kept the image size in the free-form provenance."""
    meta["provenance"]["image_size"] = meta.pop("image_size")
    meta["format_version"] = 2


def test_format_2_files_load_with_their_image_size(tmp_path):
    path = tmp_path / "v2.safetensors"
    saved = _model_file(path, (48, 64))
    _rewrite_meta(path, _as_format_2)
    loaded = SeqPatchCore.load(path, device="cpu")
    assert loaded.image_size == (48, 64) and "image_size" not in loaded.metadata
    assert torch.equal(loaded.bank, saved.bank)
    _model_file(path, None)  # a format 2 model fitted on images of different sizes
    _rewrite_meta(path, _as_format_2)
    assert SeqPatchCore.load(path, device="cpu").image_size is None
