"""The CLI end to end on a tiny generated dataset, and every bad input -> one line, exit != 0."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

from seqcore_train import workflows
from seqcore_train.data.images import read_mask, write_png
from seqcore_train.evaluation.metrics import flatten
from seqcore_train.model.patchcore import SeqPatchCore

from .cli_runner import run

FAST = ["--coreset-size", "32", "--epochs", "2", "--chunk-size", "512"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, manifest_writer):
    root = tmp_path_factory.mktemp("data") / "plates"
    return manifest_writer(
        root,
        np.random.default_rng(7),
        {"train": 4, "val": 2, "test": 3},
        64,
        ("clean", "stained"),
        3,
    )


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, dataset):
    out = tmp_path_factory.mktemp("model") / "clean.safetensors"
    result = run(
        "fit", f"{dataset}::variant=clean", "--out", out, *FAST, "--augment", "--seed", "3"
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory, fitted, dataset):
    out = tmp_path_factory.mktemp("calibrated") / "clean.safetensors"
    result = run("calibrate", fitted, f"{dataset}::variant=clean", "--out", out)
    assert result.exit_code == 0, result.output
    assert "threshold" in result.output
    return out


def test_fit_calibrate_evaluate_predict(tmp_path, dataset, fitted, calibrated, report_keys):
    assert fitted.with_suffix(".settings.json").is_file()
    settings = json.loads(fitted.with_suffix(".settings.json").read_text())
    assert settings["model"]["coreset_size"] == 32 and settings["augment"] is not None
    assert not fitted.with_suffix(".checkpoint.safetensors").exists()  # removed on success
    model = SeqPatchCore.load(calibrated, device="cpu")
    assert model.threshold is not None and model.threshold > 0
    assert SeqPatchCore.load(fitted, device="cpu").threshold is None
    assert model.image_size == (64, 64)  # fitted at the data's common size, kept by calibrate

    out = tmp_path / "eval"
    result = run(
        "evaluate", calibrated, f"{dataset}::variant=clean", "--out", out, "--name", "Synth"
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    flat = flatten(report)
    for key in report_keys:
        assert key in flat, key
    for name in ("scratch", "dent", "water_stain"):
        assert f"per_class.{name}.pixel_recall" in flat
        assert f"per_class.{name}.defect_wise_recall" in flat
        assert report["per_class"][name]["instances"] > 0
    assert report["threshold"] == pytest.approx(model.threshold)
    assert report["images"] == 3
    markdown = (out / "report.md").read_text()
    assert "| Synth |" in markdown and "R_DW" in markdown and "mR_DW" in markdown
    for figure in ("per_class_recall.png", "pr_curve.png", "best_worst.png", "coverage_sweep.png"):
        assert (out / "figures" / figure).stat().st_size > 1000
    assert (out / "settings.json").is_file()
    per_image = json.loads((out / "per_image.json").read_text())  # the bootstrap's input
    assert len(per_image["images"]) == 3
    assert sum(i["tp"] for i in per_image["images"]) == report["pixel"]["tp"]
    sweep = report["coverage_sweep"]["defect_wise_recall"]
    assert sweep["scratch"][0] == report["per_class"]["scratch"]["defect_wise_recall"]

    predicted = tmp_path / "pred"
    result = run(
        "predict", calibrated, f"{dataset}::variant=stained", "--split", "test", "--out", predicted
    )
    assert result.exit_code == 0, result.output
    scores = json.loads((predicted / "scores.json").read_text())
    assert len(scores["images"]) == 3
    for kind in ("heatmap.png", "mask.png", "overlay.jpg"):
        assert len(list(predicted.glob(f"*_{kind}"))) == 3
    for overlay in predicted.glob("*_overlay.jpg"):  # a real JPEG of the input's size
        mask = read_mask(predicted / overlay.name.replace("_overlay.jpg", "_mask.png"))
        with Image.open(overlay) as picture:
            assert picture.format == "JPEG" and picture.mode == "RGB"
            assert picture.size[::-1] == mask.shape
    for mask_file in predicted.glob("*_mask.png"):  # valid masks honoured: nothing outside
        stem = mask_file.name.removesuffix("_mask.png")
        valid = read_mask(dataset / "masks" / f"{stem}_valid.png") > 0
        assert not read_mask(mask_file)[~valid].any()
        # The raw map re-thresholds to the same mask (within the valid region).
        raw = np.load(predicted / "maps" / f"{stem}.npy")
        assert raw.dtype == np.float32 and raw.shape == valid.shape
        rethresholded = (raw >= scores["threshold"]) & valid
        assert np.array_equal(rethresholded, read_mask(mask_file) > 0)
    one_image = next((dataset / "images").glob("*.png"))  # a bare image: every pixel inspected
    result = run("predict", calibrated, one_image, "--out", tmp_path / "one", "--threshold", "0")
    assert result.exit_code == 0, result.output
    mask = read_mask(tmp_path / "one" / f"{one_image.stem}_mask.png")
    assert mask.shape == (64, 64) and (mask == 255).all()


def test_finetune_and_meld(tmp_path, dataset, fitted):
    tuned = tmp_path / "tuned.safetensors"
    result = run("finetune", fitted, f"{dataset}::variant=stained", "--out", tuned, "--epochs", "1")
    assert result.exit_code == 0, result.output
    model = SeqPatchCore.load(tuned, device="cpu")
    assert model.metadata["finetuned_from"] == str(fitted)
    melded = tmp_path / "melded.safetensors"
    result = run("meld", fitted, tuned, "--out", melded, "--coreset-size", "16", "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert len(SeqPatchCore.load(melded, device="cpu").bank) == 16


def test_fit_resumes_from_checkpoint(tmp_path, dataset, monkeypatch):
    """A checkpoint of an interrupted run with the same settings is continued, not redone."""
    out = tmp_path / "resumed.safetensors"
    args = [
        "fit",
        f"{dataset}::variant=clean",
        "--out",
        out,
        "--coreset-size",
        "32",
        "--chunk-size",
        "512",
    ]
    assert run(*args, "--epochs", "1").exit_code == 0
    # Turn that 1-epoch result into the checkpoint a crashed 2-epoch run leaves after epoch 0.
    settings = json.loads(out.with_suffix(".settings.json").read_text())
    settings["epochs"] = 2
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    checkpoint = workflows.checkpoint_path(out)
    SeqPatchCore.load(out, device="cpu").save(
        checkpoint, extra_metadata={"checkpoint": {"epoch": 0, "settings": key}}
    )
    starts = []
    original = SeqPatchCore.fit

    def spy(self, epoch_batches, epochs=5, tol=0, start_epoch=0, on_epoch_end=None, **kw):
        starts.append(start_epoch)
        return original(self, epoch_batches, epochs, tol, start_epoch, on_epoch_end, **kw)

    monkeypatch.setattr(SeqPatchCore, "fit", spy)
    result = run(*args, "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert starts == [1] and "resuming" in result.output
    assert not checkpoint.exists()
    # Different settings: the checkpoint is not used.
    SeqPatchCore.load(out, device="cpu").save(
        checkpoint, extra_metadata={"checkpoint": {"epoch": 0, "settings": key}}
    )
    assert run(*args, "--epochs", "2", "--seed", "9").exit_code == 0
    assert starts == [1, 0]


def test_seed_reaches_the_greedy_sampler(tmp_path, dataset):
    """No augmentation and a fixed image order: only the sampler's random start can differ."""

    def greedy_coreset(seed, name):
        out = tmp_path / f"{name}.safetensors"
        args = ["fit", f"{dataset}::variant=clean", "--out", out, "--sampler", "greedy"]
        result = run(*args, "--coreset-size", "32", "--seed", seed)
        assert result.exit_code == 0, result.output
        assert json.loads(out.with_suffix(".settings.json").read_text())["seed"] == seed
        return SeqPatchCore.load(out, device="cpu").bank

    first = greedy_coreset(1, "a")
    assert torch.equal(greedy_coreset(1, "b"), first)
    assert not torch.equal(greedy_coreset(2, "c"), first)


# ------------------------------------------------------------------ bad inputs


def assert_one_line_error(result, pattern, code=None):
    assert result.exit_code != 0
    if code is not None:
        assert result.exit_code == code
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert pattern in lines[0], lines[0]
    assert "Traceback" not in result.output


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "m.safetensors"
    result = run("fit", tmp_path / "empty", "--out", out, *FAST)
    assert_one_line_error(result, "no images found", 1)
    assert not out.exists()


def test_unwritable_output(tmp_path, dataset, calibrated):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    result = run("evaluate", calibrated, dataset, "--out", blocker / "report")
    assert_one_line_error(result, f"{blocker / 'report'}", 1)
    assert result.output.rstrip().endswith("Not a directory")
    assert blocker.read_text() == "not a folder"


def test_unwritable_predict_output_fails_in_one_line(tmp_path, dataset, calibrated):
    # predict's files are written by a helper thread; its error must still reach the user as one line
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    result = run("predict", calibrated, dataset, "--out", blocker / "pred", "--device", "cpu")
    assert_one_line_error(result, f"{blocker / 'pred'}", 1)
    assert result.output.rstrip().endswith("Not a directory")
    assert blocker.read_text() == "not a folder"


def test_unreadable_image(tmp_path):
    folder = tmp_path / "imgs"
    write_png(folder / "good.png", np.zeros((32, 32, 3), np.uint8))
    (folder / "bad.png").write_bytes(b"\x89PNG garbage")
    out = tmp_path / "m.safetensors"
    result = run("fit", folder, "--out", out, *FAST)
    assert_one_line_error(result, "bad.png: unreadable image", 1)
    assert not out.exists()


def test_mask_missing_and_mask_of_another_size(tmp_path, manifest_writer, rng):
    root = manifest_writer(tmp_path / "ds", rng, {"train": 2}, 32)
    mask = next((root / "masks").glob("*_instance.png"))
    write_png(mask, np.zeros((16, 32), np.uint16))
    result = run("fit", root, "--out", tmp_path / "m.safetensors", *FAST)
    assert_one_line_error(result, "is 32x16", 1)
    mask.unlink()
    result = run("fit", root, "--out", tmp_path / "m.safetensors", *FAST)
    assert_one_line_error(result, "instance.png", 1)
    assert not (tmp_path / "m.safetensors").exists()


def test_unknown_label(tmp_path, fitted):
    folder = tmp_path / "real"
    write_png(folder / "a.png", np.zeros((32, 32, 3), np.uint8))
    (folder / "a.json").write_text(
        json.dumps(
            {"shapes": [{"label": "rust", "points": [[1, 1], [5, 5]], "shape_type": "rectangle"}]}
        )
    )
    result = run("evaluate", fitted, folder, "--out", tmp_path / "ev", "--threshold", "1")
    assert_one_line_error(result, "unknown label 'rust'", 1)
    assert not (tmp_path / "ev").exists()


def test_unknown_backbone(tmp_path, dataset):
    result = run("fit", dataset, "--out", tmp_path / "m.safetensors", "--backbone", "vgg99")
    assert_one_line_error(result, "unknown backbone 'vgg99'", 2)
    missing = tmp_path / "missing.pth"
    result = run(
        "fit",
        dataset,
        "--out",
        tmp_path / "m.safetensors",
        "--backbone",
        "resnet18",
        "--weights",
        missing,
    )
    assert_one_line_error(result, "missing.pth", 1)
    assert not (tmp_path / "m.safetensors").exists()


def test_incompatible_model_and_data(tmp_path, dataset, fitted, calibrated):
    result = run(
        "evaluate",
        calibrated,
        f"{dataset}::variant=clean",
        "--out",
        tmp_path / "ev",
        "--image-size",
        "32",
        "32",
    )
    assert_one_line_error(result, "incompatible", 1)
    wide = tmp_path / "wide"
    write_png(wide / "a.png", np.zeros((64, 128, 3), np.uint8))
    result = run("evaluate", calibrated, wide, "--out", tmp_path / "ev")
    assert_one_line_error(result, "a.png: 128x64 is incompatible", 1)
    result = run("evaluate", fitted, f"{dataset}::variant=clean", "--out", tmp_path / "ev")
    assert_one_line_error(result, "no threshold", 1)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 40)
    result = run("evaluate", broken, dataset, "--out", tmp_path / "ev")
    assert_one_line_error(result, "broken.safetensors", 1)
    assert not (tmp_path / "ev").exists()


def test_bare_command_prints_the_help_exit_2():
    result = run()
    assert result.exit_code == 2
    assert result.output.startswith("Usage:") and "fit" in result.output
    assert run("--version").exit_code == 0


def test_bad_usage_is_one_line_exit_2(tmp_path, dataset):
    result = run("fit", dataset)
    assert_one_line_error(result, "--out", 2)
    result = run("fit", f"{dataset}::colour=red", "--out", tmp_path / "m.safetensors")
    assert_one_line_error(result, "bad DATA option", 1)
