"""Peak memory and speed of `seqcore-train fit` / `predict` against image size (the CLI, end to end).

    .venv/bin/python bench/scale.py                        # 512^2 ... 2448x2050, 4 images each
    .venv/bin/python bench/scale.py --sizes 2448x2050 --images 6 --tile-megapixels 0 2

Images are generated (smooth random texture plus grain, PNG), not rendered, so any count and size is
quick to make. Each command runs in its own process; its peak RSS comes from wait4's rusage, which
is that child's own high-water mark. `--tile-megapixels 0` means whole images (no tiling).
Results are printed as a Markdown table and written to bench/out/scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLI = [str(Path(sys.executable).with_name("seqcore-train"))]


def make_images(folder: Path, count: int, size: tuple[int, int], seed: int = 0) -> None:
    """`count` RGB PNGs of `size` (W, H): low-frequency texture + per-pixel grain."""
    import imageio.v3 as iio
    from scipy.ndimage import zoom

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    width, height = size
    for k in range(count):
        coarse = rng.random((height // 32 + 2, width // 32 + 2, 3))
        smooth = zoom(coarse, (32, 32, 1), order=1)[:height, :width]
        image = 0.6 * smooth + 0.4 * rng.random((height, width, 3))
        iio.imwrite(folder / f"img_{k:04d}.png", (image * 255).astype(np.uint8))


def run(command: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS MiB) of one command in its own process."""
    started = time.perf_counter()
    env = {**os.environ, "TQDM_DISABLE": "1"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{process.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["512x512", "1224x1025", "2448x2050"])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--tile-megapixels", type=float, nargs="+", default=[2.0])
    parser.add_argument("--coreset-size", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="seqcore-scale-") as tmp:
        for text in args.sizes:
            width, height = (int(v) for v in text.split("x"))
            data = Path(tmp) / text
            make_images(data, args.images, (width, height))
            for tile in args.tile_megapixels:
                model = Path(tmp) / f"{text}-{tile}.safetensors"
                common = ["--tile-megapixels", str(tile), "--device", "cpu"]
                fit_s, fit_mib = run(
                    CLI
                    + [
                        "fit",
                        str(data),
                        "--out",
                        str(model),
                        "--epochs",
                        "1",
                        "--coreset-size",
                        str(args.coreset_size),
                        *common,
                    ]  # fmt: skip
                )
                out = Path(tmp) / f"pred-{text}-{tile}"
                pred_s, pred_mib = run(
                    CLI
                    + [
                        "predict",
                        str(model),
                        str(data),
                        "--out",
                        str(out),
                        "--threshold",
                        "1",
                        *common,
                    ]
                )
                row = {
                    "size": text,
                    "images": args.images,
                    "tile_megapixels": tile,
                    "fit_s": round(fit_s, 1),
                    "fit_peak_mib": round(fit_mib),
                    "predict_s": round(pred_s, 1),
                    "predict_peak_mib": round(pred_mib),
                    "predict_images_per_s": round(args.images / pred_s, 3),
                }
                print(row, flush=True)
                rows.append(row)
    print("\n| size | images | tile MP | fit s | fit peak MiB | predict s | predict peak MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['size']} | {r['images']} | {r['tile_megapixels'] or 'whole'} | {r['fit_s']} | "
            f"{r['fit_peak_mib']} | {r['predict_s']} | {r['predict_peak_mib']} |"
        )
    out = ROOT / "bench" / "out" / "scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
