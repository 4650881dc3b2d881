"""The model file records the input normalisation its coreset was built with."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from seqcore_train.errors import ModelFileError
from seqcore_train.model.efficientnet_lite import INPUT_MEAN, INPUT_STD
from seqcore_train.model.patchcore import ModelConfig, SeqPatchCore


def test_normalisation_is_recorded_and_a_different_one_is_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    bank = torch.rand(8, 152, generator=torch.Generator().manual_seed(0))
    SeqPatchCore(ModelConfig(coreset_size=8), device="cpu", bank=bank).save(path)
    tensors = load_file(str(path))
    data = path.read_bytes()
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
    meta = json.loads(header["__metadata__"]["seqcore"])
    assert meta["input_normalisation"] == {"mean": list(INPUT_MEAN), "std": list(INPUT_STD)}
    assert SeqPatchCore.load(path, device="cpu").config.backbone == "efficientnet_lite0"

    meta["input_normalisation"] = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    save_file(tensors, str(path), metadata={"seqcore": json.dumps(meta)})
    with pytest.raises(ModelFileError, match=r"m\.safetensors.*normalised as.*fit it again"):
        SeqPatchCore.load(path, device="cpu")
