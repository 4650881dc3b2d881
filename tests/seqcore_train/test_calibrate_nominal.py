"""`calibrate --nominal-only --false-alarm-rate R` end to end: the stored threshold flags as many of
the calibration images in `predict` as it says, `evaluate` and `predict` use it, bad input is one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seqcore_train.model.patchcore import SeqPatchCore

from .cli_runner import run

FAST = ["--coreset-size", "32", "--epochs", "1", "--chunk-size", "512", "--device", "cpu"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, manifest_writer):
    root = tmp_path_factory.mktemp("nominal")
    data = manifest_writer(
        root / "plates", np.random.default_rng(11), {"train": 6, "val": 2}, 48, ("clean", "stained")
    )
    model = root / "m.safetensors"
    result = run("fit", f"{data}::variant=clean", "--out", model, *FAST)
    assert result.exit_code == 0, result.output
    return data, model


def test_threshold_flags_what_it_says(tmp_path, fitted):
    data, model = fitted
    good = f"{data}::variant=stained"  # good images with water stains: impurities are nominal
    out = tmp_path / "cal.safetensors"
    args = ("--nominal-only", "--false-alarm-rate", "0.5", "--split", "train", "--device", "cpu")
    result = run("calibrate", model, good, "--out", out, *args)
    assert result.exit_code == 0, result.output
    assert "2 of 6 good images flagged" in result.output  # j = ceil(7 * 0.5) = 4: k = 2
    calibrated = SeqPatchCore.load(out, device="cpu")
    stored = calibrated.metadata["calibration"]
    assert stored["method"] == "nominal" and stored["false_alarm_rate"] == 0.5
    assert stored["images"] == 6 and stored["flagged"] == 2
    side = json.loads(out.with_suffix(".calibration.json").read_text())
    assert side["threshold"] == calibrated.threshold
    result = run(
        "predict", out, good, "--split", "train", "--out", tmp_path / "p", "--device", "cpu"
    )
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "p/scores.json").read_text())
    assert rows["threshold"] == calibrated.threshold
    assert sum(r["anomalous"] for r in rows["images"]) == 2


def test_too_few_images_is_a_note(tmp_path, fitted):
    data, model = fitted
    args = ("--nominal-only", "--false-alarm-rate", "0.01", "--split", "train", "--device", "cpu")
    result = run(
        "calibrate", model, f"{data}::variant=clean", "--out", tmp_path / "c.safetensors", *args
    )
    assert result.exit_code == 0, result.output
    assert (
        "6 images cannot resolve a rate of 0.01: that needs at least 99 (and 299" in result.output
    )


def test_images_with_defects_are_refused_by_name(tmp_path, fitted):
    data, model = fitted
    args = ("--nominal-only", "--false-alarm-rate", "0.1", "--device", "cpu")  # val has defects
    result = run("calibrate", model, data, "--out", tmp_path / "c.safetensors", *args)
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("seqcore-train: error: ") and str(data / "images") in line
    assert line.endswith("annotated defects; --nominal-only takes good images only")
    assert not (tmp_path / "c.safetensors").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--false-alarm-rate", "0.1"), "--nominal-only and --false-alarm-rate R go together"),
        (("--nominal-only",), "--nominal-only and --false-alarm-rate R go together"),
        (("--nominal-only", "--false-alarm-rate", "1"), "--false-alarm-rate"),
    ],
)
def test_bad_usage(fitted, args, message):
    data, model = fitted
    result = run("calibrate", model, data, *args)
    assert result.exit_code == 2 and message in result.output
