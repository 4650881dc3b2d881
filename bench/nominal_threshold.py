"""The nominal-only threshold (`calibrate --nominal-only`) against the F1-max one (`calibrate`) on renders.

    .venv/bin/python bench/nominal_threshold.py --train T --good G --val V --test X --heldout H...

T: nominal images to fit on; G: other nominal images, the only calibration data the nominal-only
threshold gets; V: validation images with defects (the F1-max threshold's data); X: test images;
H: more nominal images, never seen, where false alarms are counted besides X's defect-free images.
Per threshold: the share of nominal images flagged (any valid pixel at or above the threshold), the
share of defect images flagged, and the share of defect instances hit (a pixel of the instance at or
above it). Prints a Markdown table; results also go to bench/out/nominal_threshold.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from seqcore_train import workflows  # noqa: E402
from seqcore_train.model.patchcore import ModelConfig, SeqPatchCore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def image_facts(model_path: Path, data: list[str], split: str | None) -> list[dict]:
    """Per image: defect or not, its map maximum over valid pixels, each defect instance's maximum."""
    options = workflows.DataOptions(tuple(data), split=split)
    model = SeqPatchCore.load(model_path, device="cpu")
    dataset = options.open(split)
    size = workflows.model_image_size(model, None, dataset, str(model_path))
    is_defect = dataset.classes.kinds_lookup()
    facts = []
    for sample, amap, _ in workflows.scored(model, dataset, size, "auto", "score"):
        defect = is_defect[sample.semantic] & sample.valid
        instances = [
            float(amap[(sample.instance == i) & defect].max())
            for i in np.unique(sample.instance[defect])
            if i
        ]
        valid_max = float(amap[sample.valid].max())
        facts.append({"defect": bool(defect.any()), "max": valid_max, "instances": instances})
    return facts


def rates(facts: list[dict], threshold: float) -> dict:
    nominal = [f["max"] >= threshold for f in facts if not f["defect"]]
    defect = [f["max"] >= threshold for f in facts if f["defect"]]
    hits = [m >= threshold for f in facts for m in f["instances"]]
    return {
        "false_alarms": f"{sum(nominal)}/{len(nominal)}",
        "image_recall": sum(defect) / len(defect) if defect else None,
        "instance_recall": sum(hits) / len(hits) if hits else None,
        "instances": len(hits),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("train", "good", "val", "test"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--heldout", nargs="*", default=[])
    parser.add_argument("--rates", type=float, nargs="+", default=[0.05, 0.1])
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="seqcore-nominal-") as tmp:
        model = Path(tmp) / "model.safetensors"
        train = workflows.DataOptions((args.train,))
        training = workflows.TrainOptions(epochs=args.epochs)
        workflows.fit(model, ModelConfig(), train, training, device="cpu", log=lambda _m: None)
        thresholds = {}
        f1_model = Path(tmp) / "f1.safetensors"
        threshold, f1 = workflows.calibrate(
            model, workflows.DataOptions((args.val,)), f1_model, "cpu"
        )
        thresholds["F1-max on val (defects)"] = {"threshold": threshold, "val_pixel_f1": f1}
        for rate in args.rates:
            good = workflows.DataOptions((args.good,), split="train")
            found = workflows.calibrate_nominal(
                model, good, rate, Path(tmp) / "n.safetensors", "cpu"
            )
            thresholds[f"nominal-only, R = {rate:g}"] = found
        test = image_facts(model, [args.test], "test")
        heldout = image_facts(model, args.heldout, "train") if args.heldout else []
    rows = []
    for name, found in thresholds.items():
        row = {"threshold_name": name, "threshold": found["threshold"]}
        row["test"] = rates(test, found["threshold"])
        row["heldout"] = rates(heldout, found["threshold"]) if heldout else None
        if "upper_95" in found:
            row["expected_rate"], row["upper_95"] = found["expected_rate"], found["upper_95"]
            row["calibration_images"] = found["images"]
        rows.append(row)
    print(
        "| threshold | value | held-out good images flagged | test images without defects "
        "flagged | defect images flagged | defect instances hit |"
    )
    print("|---|---|---|---|---|---|")
    for row in rows:
        promise = ""
        if "upper_95" in row:
            promise = f" (expected {row['expected_rate']:.1%}, ≤ {row['upper_95']:.1%} at 95 %)"
        held = row["heldout"]["false_alarms"] if row["heldout"] else "–"
        test_rates = row["test"]
        print(
            f"| {row['threshold_name']} | {row['threshold']:.4g} | {held}{promise} | "
            f"{test_rates['false_alarms']} | {test_rates['image_recall']:.1%} | "
            f"{test_rates['instance_recall']:.1%} of {test_rates['instances']} |"
        )
    out = ROOT / "bench/out/nominal_threshold.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
