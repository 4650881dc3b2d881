"""`predict --engine onnxruntime` gives the torch engine's maps and scores (valid masks included),
`auto` picks it on the CPU, and `export --valid-mask` writes a graph whose score respects the mask."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime
import pytest
import torch

from seqcore_train.export.runtime import OnnxEngine, choose_engine
from seqcore_train.model.patchcore import SeqPatchCore

from ..cli_runner import run

FAST = ["--coreset-size", "64", "--epochs", "1", "--chunk-size", "512", "--device", "cpu"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, manifest_writer):
    root = tmp_path_factory.mktemp("engine")
    # 44 x 44 with a 5-pixel invalid border: the valid mask changes which cells score.
    data = manifest_writer(
        root / "plates", np.random.default_rng(4), {"train": 3, "test": 3}, 44, (None,), 5
    )
    model = root / "m.safetensors"
    result = run("fit", data, "--out", model, *FAST)
    assert result.exit_code == 0, result.output
    loaded = SeqPatchCore.load(model, device="cpu")
    loaded.threshold = 1.0
    loaded.save(model)
    return data, model


def _predict(data, model, out, engine):
    result = run(
        "predict",
        model,
        data,
        "--split",
        "test",
        "--out",
        out,
        "--engine",
        engine,
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "scores.json").read_text())["images"]
    maps = np.stack([np.load(out / "maps" / f"{r['id']}.npy") for r in rows])
    settings = json.loads((out / "settings.json").read_text())
    return np.array([r["score"] for r in rows]), maps, settings["engine"]


def test_onnxruntime_engine_equals_torch(tmp_path, fitted):
    data, model = fitted
    scores, maps, engine = _predict(data, model, tmp_path / "torch", "torch")
    assert engine == "torch"
    ort_scores, ort_maps, engine = _predict(data, model, tmp_path / "ort", "onnxruntime")
    assert engine == "onnxruntime"
    np.testing.assert_allclose(ort_maps, maps, rtol=1e-4, atol=0)
    np.testing.assert_allclose(ort_scores, scores, rtol=1e-4, atol=0)
    assert _predict(data, model, tmp_path / "auto", "auto")[2] == "onnxruntime"  # on the CPU


def test_valid_mask_changes_the_score_as_in_torch(fitted):
    _, model = fitted
    loaded = SeqPatchCore.load(model, device="cpu")
    rng = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 44, 44, generator=rng)
    valid = torch.zeros(2, 44, 44, dtype=torch.bool)
    valid[0, 10:30, 5:20] = True  # a window: most cells do not score
    valid[1] = True
    engine = OnnxEngine(loaded)
    maps, scores = engine(images, valid)
    want_maps, want_scores = loaded.predict(images, valid)
    np.testing.assert_allclose(maps.numpy(), want_maps.numpy(), rtol=1e-4)
    np.testing.assert_allclose(scores.numpy(), want_scores.numpy(), rtol=1e-4)
    _, whole = loaded.predict(images)
    assert scores[0] < whole[0]  # the window's score is not the whole image's
    assert len(engine.sessions) == 1


def test_exported_graph_with_valid_input(tmp_path, fitted):
    _, model = fitted
    out = tmp_path / "m.onnx"
    result = run("export", model, "--format", "onnx", "--out", out, "--valid-mask")
    assert result.exit_code == 0, result.output
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images", "valid"]
    images = np.random.default_rng(1).random((1, 3, 44, 44), dtype=np.float32)
    valid = np.zeros((1, 44, 44), bool)
    valid[0, 20:, 20:] = True
    _, score = session.run(None, {"images": images, "valid": valid})
    loaded = SeqPatchCore.load(model, device="cpu")
    _, want = loaded.predict(torch.from_numpy(images), torch.from_numpy(valid))
    np.testing.assert_allclose(score, want.numpy(), rtol=1e-4)


def test_choices(fitted):
    _, model = fitted
    loaded = SeqPatchCore.load(model, device="cpu")
    assert choose_engine("auto", loaded, 512 * 512) == "onnxruntime"
    assert choose_engine("auto", loaded, 2448 * 2050) == "torch"  # beyond one pass: torch's tiles
    assert choose_engine("auto", loaded, None) == "torch"
    assert choose_engine("torch", loaded, 100) == "torch"
