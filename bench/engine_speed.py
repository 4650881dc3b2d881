"""`seqcore-train predict` at 512^2 on the CPU with `--engine torch` against `--engine onnxruntime`.

    .venv/bin/python bench/engine_speed.py                 # 24 images, 3 runs of each, 2 threads

Both engines run the same model on the same images in one session, alternating (torch, onnxruntime,
torch, ...) so a change of load hits both. Per run: end to end (images over the seconds from launch
to exit: imports, the onnxruntime engine's in-memory export, reading, the model, every file written)
and steady (images per second once running, read off the times the raw maps were written, as
bench/throughput.py does). The threshold flags about 1 % of the pixels. Maps of the two engines are
compared too (largest relative difference). Results also go to bench/out/engine_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import ROOT, cli, make_images  # noqa: E402 - the bench's own helpers
from throughput import launch  # noqa: E402


def predict(model: Path, data: Path, out: Path, threshold: float, engine: str) -> dict:
    argv = ["predict", str(model), str(data), "--out", str(out), "--threshold", f"{threshold:.6g}",
            "--device", "cpu", "--engine", engine]  # fmt: skip
    started_at, seconds, _ = launch(cli(str(ROOT)) + argv)
    done = sorted(p.stat().st_mtime_ns / 1e9 for p in (out / "maps").glob("*.npy"))
    return {
        "engine": engine,
        "seconds": seconds,
        "images_per_s": len(done) / seconds,
        "steady": (len(done) - 1) / (done[-1] - done[0]),
        "start": done[0] - started_at,
        "load": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--coreset-size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    runs = []
    with tempfile.TemporaryDirectory(prefix="seqcore-engines-") as tmp:
        tmp = Path(tmp)
        data, model = tmp / "images", tmp / "model.safetensors"
        make_images(data, args.images, (args.size, args.size))
        launch(cli(str(ROOT)) + ["fit", str(data), "--out", str(model), "--epochs", "1", "--no-resume",
                            "--coreset-size", str(args.coreset_size), "--device", "cpu"])  # fmt: skip
        first = predict(model, data, tmp / "probe", 1.0, "torch")
        maps = {p.name: np.load(p) for p in (tmp / "probe/maps").glob("*.npy")}
        threshold = float(
            np.quantile(np.concatenate([m.ravel()[::97] for m in maps.values()]), 0.99)
        )
        del first
        for repeat in range(args.repeats):
            for engine in ("torch", "onnxruntime"):
                out = tmp / f"{engine}-{repeat}"
                runs.append(predict(model, data, out, threshold, engine))
                print(json.dumps(runs[-1]), flush=True)
        ort = {p.name: np.load(p) for p in (tmp / "onnxruntime-0/maps").glob("*.npy")}
        difference = max(
            float(np.max(np.abs(ort[k] - m) / np.abs(m).clip(1e-12))) for k, m in maps.items()
        )
    summary = {}
    for engine in ("torch", "onnxruntime"):
        mine = [r for r in runs if r["engine"] == engine]
        summary[engine] = {key: statistics.median(r[key] for r in mine)
                           for key in ("images_per_s", "steady", "seconds", "start")}  # fmt: skip
    ratio = summary["onnxruntime"]["images_per_s"] / summary["torch"]["images_per_s"]
    steady = summary["onnxruntime"]["steady"] / summary["torch"]["steady"]
    print(
        f"\n{args.images} images {args.size}^2, {args.threads} threads, medians of {args.repeats}:"
    )
    print(
        "| engine | end to end images/s | steady images/s | s | first image s |\n|---|---|---|---|---|"
    )
    for engine, row in summary.items():
        print(
            f"| {engine} | {row['images_per_s']:.2f} | {row['steady']:.2f} | {row['seconds']:.1f} | {row['start']:.1f} |"
        )
    print(f"ratio onnxruntime / torch: end to end {ratio:.2f}, steady {steady:.2f}; "
          f"largest relative map difference {difference:.2e}")  # fmt: skip
    out = ROOT / "bench/out/engine_speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "runs": runs, "summary": summary,
                               "ratio": ratio, "steady_ratio": steady,
                               "max_relative_difference": difference}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
