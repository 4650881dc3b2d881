"""`seqcore-train export`: the ONNX graph run by onnxruntime (an independent runtime) and the
TorchScript graph run by torch give `predict`'s raw maps and scores, with the threshold inside."""

from __future__ import annotations

import json
import sys

import numpy as np
import onnxruntime
import pytest
import torch

from seqcore_train.data.images import read_rgb, write_png
from seqcore_train.export.model import METADATA_FILE
from seqcore_train.model.patchcore import SeqPatchCore

from ..cli_runner import run

# Neither side a multiple of 8, and W != H: TF "same" padding and the W H order both matter.
WIDTH, HEIGHT = 76, 52
THRESHOLD = 7.25


def _texture(rng, defect: bool) -> tuple[np.ndarray, tuple[float, float] | None]:
    """A textured image, with a bright 7 x 9 defect when asked; (image, defect centre (y, x))."""
    image = 0.45 + 0.01 * rng.standard_normal((HEIGHT, WIDTH, 1)) * np.ones((1, 1, 3))
    image += 0.03 * np.sin(np.arange(WIDTH) / 1.5)[None, :, None]
    centre = None
    if defect:
        y, x = rng.integers(4, HEIGHT - 12), rng.integers(4, WIDTH - 12)
        image[y : y + 7, x : x + 9] = 0.95
        centre = (y + 3.0, x + 4.0)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8), centre


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A model fitted on a plain folder, its predictions, and both exports."""
    root = tmp_path_factory.mktemp("export")
    rng = np.random.default_rng(5)
    centres = []
    for split, count in (("train", 3), ("test", 3)):
        for i in range(count):
            image, centre = _texture(rng, split == "test")
            write_png(root / f"data/{split}/{i}.png", image)
            centres += [centre] if centre else []
    model_path = root / "model.safetensors"
    fit = ["--coreset-size", "256", "--epochs", "2", "--chunk-size", "64"]
    result = run("fit", root / "data", "--out", model_path, *fit)
    assert result.exit_code == 0, result.output
    model = SeqPatchCore.load(model_path, device="cpu")
    assert model.image_size == (HEIGHT, WIDTH)
    model.threshold = THRESHOLD  # as `calibrate` would store it
    model.save(model_path)
    result = run("predict", model_path, root / "data", "--split", "test", "--out", root / "pred")
    assert result.exit_code == 0, result.output
    paths = {}
    for fmt, suffix in (("onnx", ".onnx"), ("torchscript", ".pt")):
        paths[fmt] = root / f"model{suffix}"
        args = ("export", model_path, "--format", fmt, "--out", paths[fmt])
        result = run(*args, "--image-size", WIDTH, HEIGHT)
        assert result.exit_code == 0, result.output
        assert f"{HEIGHT} x {WIDTH}" in result.output
    scores = json.loads((root / "pred/scores.json").read_text())["images"]
    images = [read_rgb(root / "data/test" / f"{i}.png") for i in range(3)]
    batch = np.stack(images).transpose(0, 3, 1, 2).astype(np.float32)
    maps = np.stack([np.load(root / f"pred/maps/test__{i}.npy") for i in range(3)])
    by_id = {row["id"]: row["score"] for row in scores}
    reference = {
        "maps": maps,
        "scores": np.array([by_id[f"test/{i}"] for i in range(3)]),
        "centres": np.array(centres),
        "points": len(model.bank),
    }
    return paths, np.ascontiguousarray(batch), reference


def _assert_same(maps, scores, reference):
    # Same arithmetic in another runtime: only summation order may differ (relative 1e-4).
    assert maps.shape == (3, HEIGHT, WIDTH) and maps.dtype == np.float32
    np.testing.assert_allclose(maps, reference["maps"], rtol=1e-4, atol=0)
    np.testing.assert_allclose(scores, reference["scores"], rtol=1e-4, atol=0)
    # Not a trivial map: each peaks on its image's defect (and the W H order is not swapped).
    peaks = np.array([np.unravel_index(m.argmax(), m.shape) for m in maps])
    assert np.abs(peaks - reference["centres"]).max() <= 6


def test_onnx_in_onnxruntime_equals_predict(exported):
    paths, batch, reference = exported
    session = onnxruntime.InferenceSession(str(paths["onnx"]), providers=["CPUExecutionProvider"])
    (given,) = session.get_inputs()
    assert given.name == "images" and given.shape[1:] == [3, HEIGHT, WIDTH]
    assert [o.name for o in session.get_outputs()] == ["anomaly_map", "score"]
    maps, scores = session.run(None, {"images": batch})  # batch 3; traced with 1
    _assert_same(maps, scores, reference)
    meta = session.get_modelmeta().custom_metadata_map
    assert float(meta["threshold"]) == THRESHOLD
    assert meta["image_size"] == f"{HEIGHT} {WIDTH}"
    assert json.loads(meta["seqcore"])["coreset_points"] == reference["points"]


def test_torchscript_in_torch_equals_predict(exported):
    paths, batch, reference = exported
    extra = {METADATA_FILE: ""}
    graph = torch.jit.load(str(paths["torchscript"]), _extra_files=extra)
    with torch.no_grad():
        maps, scores = graph(torch.from_numpy(batch))
    _assert_same(maps.numpy(), scores.numpy(), reference)
    meta = json.loads(extra[METADATA_FILE])
    assert meta["threshold"] == THRESHOLD
    assert meta["image_size"] == {"height": HEIGHT, "width": WIDTH}


def test_export_refuses_another_size(exported, tmp_path):
    paths, _, _ = exported
    model = paths["onnx"].with_name("model.safetensors")
    out = tmp_path / "wrong.onnx"
    result = run("export", model, "--format", "onnx", "--out", out, "--image-size", HEIGHT, WIDTH)
    assert result.exit_code == 1
    assert "fitted on 76x52 images" in result.output and result.output.count("\n") == 1
    assert not out.exists()


def test_onnx_without_the_package_says_what_to_install(exported, tmp_path, monkeypatch):
    paths, _, _ = exported
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now raises ImportError
    out = tmp_path / "model.onnx"
    result = run(
        "export", paths["onnx"].with_name("model.safetensors"), "--format", "onnx", "--out", out
    )
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "pip install 'seqcore-train[onnx]'" in result.output
    assert not out.exists()


def test_export_of_a_mixed_size_model_needs_a_size(exported, tmp_path):
    paths, batch, reference = exported
    model = SeqPatchCore.load(paths["onnx"].with_name("model.safetensors"), device="cpu")
    model.image_size = None  # as after fitting on images of several sizes
    model.save(tmp_path / "mixed.safetensors")
    out = tmp_path / "mixed.pt"
    args = ("export", tmp_path / "mixed.safetensors", "--format", "torchscript", "--out", out)
    result = run(*args)
    assert result.exit_code == 1 and "pass --image-size W H" in result.output
    result = run(*args, "--image-size", WIDTH, HEIGHT)
    assert result.exit_code == 0, result.output
    with torch.no_grad():
        maps, _ = torch.jit.load(str(out))(torch.from_numpy(batch))
    np.testing.assert_allclose(maps.numpy(), reference["maps"], rtol=1e-4, atol=0)
