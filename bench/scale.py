"""Peak memory and speed of `seqcore-train fit` / `predict` against image size and image count (the
CLI, end to end, each command in its own process).

    .venv/bin/python bench/scale.py               # both axes: sizes 512^2 ... 2448x2050, counts 10 ... 1000
    .venv/bin/python bench/scale.py --sizes --counts 10 100 1000   # only the count axis (no sizes)
    .venv/bin/python bench/scale.py --sizes 2448x2050 --images 6 --tile-megapixels 0 2 --counts
    .venv/bin/python bench/scale.py --sizes 2448x2050 --counts --epochs 5   # fit as its defaults run

Images are generated (smooth random texture plus grain, PNG), not rendered, so any count and size is
quick to make. Peak RSS comes from wait4's rusage, each child's own high-water mark. Size axis:
`--images` images of each size. Count axis: `--counts` images of `--count-size` (small, so 1000 stay
feasible); memory must not grow with the count. `--tile-megapixels 0` means whole images, no tiling.
Prints a Markdown table (with the load average each row ran under) and writes bench/out/scale.json.
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


def cli(code: str | None) -> list[str]:
    """The seqcore-train command: the installed one, or the package in folder `code` (another
    version, e.g. `mkdir -p bench/out/v1 && git archive v1 seqcore_train shared_schemas | tar -x -C bench/out/v1`)."""
    if code is None:
        return CLI
    # -P: the working directory (maybe this checkout) must not come before `code` on sys.path
    return ["env", f"PYTHONPATH={Path(code).resolve()}", sys.executable, "-P", "-m",
            "seqcore_train.cli"]  # fmt: skip


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


def fit_and_predict(
    command: list[str],
    data: Path,
    work: Path,
    count: int,
    options: list[str],
    coreset: int,
    epochs: int = 1,
) -> dict:
    """Time and peak memory of one fit (`epochs` epochs) and one predict on `data`."""
    model = work / "model.safetensors"
    fit_s, fit_mib = run(command + ["fit", str(data), "--out", str(model), "--epochs", str(epochs),
                                "--coreset-size", str(coreset), "--no-resume", *options])  # fmt: skip
    load = os.getloadavg()[0]
    out = work / "predicted"
    pred_s, pred_mib = run(
        command
        + ["predict", str(model), str(data), "--out", str(out), "--threshold", "1", *options]
    )
    return {
        "images": count,
        "fit_s": round(fit_s, 1),
        "fit_peak_mib": round(fit_mib),
        "fit_images_per_s": round(count / fit_s, 3),
        "predict_s": round(pred_s, 1),
        "predict_peak_mib": round(pred_mib),
        "predict_images_per_s": round(count / pred_s, 3),
        "load": f"{load:.1f}/{os.getloadavg()[0]:.1f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", default=["512x512", "1024x1024", "2448x2050"])
    parser.add_argument("--images", type=int, default=4, help="images per size (size axis)")
    parser.add_argument(
        "--counts", type=int, nargs="*", default=[10, 100, 1000], help="image counts (count axis)"
    )
    parser.add_argument("--count-size", default="256x256", help="image size of the count axis")
    parser.add_argument("--tile-megapixels", type=float, nargs="+", default=[None])
    parser.add_argument("--batch-size", default=None, help="default: the CLI's (auto)")
    parser.add_argument("--coreset-size", type=int, default=2048)
    parser.add_argument(
        "--epochs",
        type=int,
        default=1,
        help="fit epochs (the CLI's default is 5: epochs after the first replay the patches)",
    )
    parser.add_argument(
        "--code",
        nargs="+",
        default=[None],
        metavar="DIR|installed",
        help="also run other versions of the package, side by side (folders holding seqcore_train)",
    )
    args = parser.parse_args()
    versions = [None if c in (None, "installed") else c for c in args.code]
    cases = [("size", text, args.images) for text in args.sizes]
    cases += [("count", args.count_size, n) for n in args.counts]
    rows = []
    with tempfile.TemporaryDirectory(prefix="seqcore-scale-") as tmp:
        for axis, text, count in cases:
            width, height = (int(v) for v in text.split("x"))
            data = Path(tmp) / f"{text}-{count}"
            make_images(data, count, (width, height))
            for code, tile in ((c, t) for c in versions for t in args.tile_megapixels):
                options = ["--device", "cpu"]
                if tile is not None:
                    options += ["--tile-megapixels", str(tile)]
                if args.batch_size is not None:
                    options += ["--batch-size", str(args.batch_size)]
                work = Path(tempfile.mkdtemp(dir=tmp))
                row = {"axis": axis, "code": code or "installed", "size": text}
                row["tile_megapixels"] = tile
                row.update(
                    fit_and_predict(
                        cli(code), data, work, count, options, args.coreset_size, args.epochs
                    )
                )
                print(row, flush=True)
                rows.append(row)
    tile_name = {None: "default", 0.0: "whole"}
    print(
        "\n| axis | code | size | images | tile MP | fit s | fit img/s | fit peak MiB | predict s "
        "| predict img/s | predict peak MiB | load (1 min) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        tile = tile_name.get(r["tile_megapixels"], r["tile_megapixels"])
        print(
            f"| {r['axis']} | {r['code']} | {r['size']} | {r['images']} | {tile} | {r['fit_s']} | "
            f"{r['fit_images_per_s']} | {r['fit_peak_mib']} | {r['predict_s']} | "
            f"{r['predict_images_per_s']} | {r['predict_peak_mib']} | {r['load']} |"
        )
    out = ROOT / "bench" / "out" / "scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
