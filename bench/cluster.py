"""Speed of `seqcore-train cluster` against the number of Ray workers (local cluster, this machine).

    .venv/bin/python bench/cluster.py                          # fit and run, 1 2 4 workers + serial
    .venv/bin/python bench/cluster.py --modes fit --workers 1 2 --shards 4

`fit`: `cluster fit` then `cluster meld` on generated images (smooth random texture plus grain,
PNG), one data shard per folder, so only the toolkit's work is timed. `run`:
`cluster run` of a small rendered plan (render shards through render.py, fit, meld, calibrate,
evaluate). Every configuration starts from an empty OUT, runs as its own CLI process and is timed
end to end, Ray's start-up included; `serial` is the same steps without Ray (`--serial`).
The machine's load (`os.getloadavg`) before each run is printed beside it: on a shared machine it
is part of the result. Results are printed as a Markdown table and written to bench/out/cluster.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RAY_START = (
    "import os; os.environ.setdefault('RAY_AUTH_MODE', 'disabled'); import ray; "
    "ray.init(num_cpus={workers}, include_dashboard=False, logging_level='WARNING'); "
    "ray.get(ray.remote(lambda: 0).remote()); ray.shutdown()"
)


def make_images(folder: Path, count: int, size: int, seed: int) -> None:
    """`count` RGB PNGs of size x size: low-frequency texture + per-pixel grain."""
    import imageio.v3 as iio
    from scipy.ndimage import zoom

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for k in range(count):
        coarse = rng.random((size // 32 + 2, size // 32 + 2, 3))
        smooth = zoom(coarse, (32, 32, 1), order=1)[:size, :size]
        image = 0.6 * smooth + 0.4 * rng.random((size, size, 3))
        iio.imwrite(folder / f"img_{k:04d}.png", (image * 255).astype(np.uint8))


def fit_plan(folder: Path, shards: int, images: int, size: int) -> Path:
    for shard in range(shards):
        make_images(folder / f"shard{shard}", images, size, seed=shard)
    data = ", ".join(f'"shard{s}"' for s in range(shards))
    plan = folder / "fit.toml"
    plan.write_text(
        textwrap.dedent(f"""
        [fit]
        data = [{data}]
        coreset_size = 512
        epochs = 1
        [meld]
        k = 2
        epochs = 1
        """),
        encoding="utf-8",
    )
    return plan


def run_plan(folder: Path, shards: int, images: int, size: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    width, height = size, round(size * 2050 / 2448)
    common = f'"--resolution", "{width}", "{height}", "--samples", "8", "--variant", "clean"'
    plan = folder / "run.toml"
    plan.write_text(
        textwrap.dedent(f"""
        [render.train]
        args = ["--count", "{shards * images}", {common}, "--split", "train"]
        shards = {shards}
        [render.val]
        args = ["--count", "2", {common}, "--split", "val", "--defects", "--seed", "2"]
        [render.test]
        args = ["--count", "4", {common}, "--split", "test", "--defects", "--seed", "3"]
        shards = 2
        [fit]
        data = ["@train"]
        coreset_size = 512
        [meld]
        k = 2
        [calibrate]
        data = ["@val"]
        [evaluate]
        data = ["@test"]
        """),
        encoding="utf-8",
    )
    return plan


# the steps' own summary lines: "fit shard 3: 512 points in 4.1 s", "meld l1-n0.safetensors: 2
# models in 0.3 s", "render train 2/8: done in 6 s"
TASK_LINE = re.compile(r"(?:fit shard \d+|meld \S+|render \S+ \d+/\d+):.* in ([\d.]+) s")


def timed(command: list[str]) -> tuple[float, float, int]:
    """(wall seconds, sum of the seconds the fit, meld and render steps report for themselves,
    how many such lines were seen: Ray forwards worker output asynchronously)."""
    started = time.perf_counter()
    env = {**os.environ, "TQDM_DISABLE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{result.stderr[-2000:]}")
    steps = [float(m) for m in TASK_LINE.findall(result.stdout + result.stderr)]
    return time.perf_counter() - started, sum(steps), len(steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", choices=["fit", "run"], default=["fit", "run"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--shards", type=int, default=8, help="data shards (fit tasks)")
    parser.add_argument("--images", type=int, default=2, help="images per shard")
    parser.add_argument("--size", type=int, default=256, help="image width in pixels")
    parser.add_argument("--no-serial", action="store_true", help="skip the --serial baseline")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "seqcore_train.cli", "cluster"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="seqcore-cluster-bench-") as tmp:
        tmp = Path(tmp)
        for mode in args.modes:
            make = fit_plan if mode == "fit" else run_plan
            plan = make(tmp / mode, args.shards, args.images, args.size)
            configs = ([("serial", None)] if not args.no_serial else []) + [
                ("ray", w) for w in args.workers
            ]
            for executor, workers in configs:
                out = tmp / f"out-{mode}-{executor}-{workers}"
                where = ["--serial"] if workers is None else ["--workers", str(workers)]
                load = os.getloadavg()[0]
                if mode == "fit":
                    fit = timed([*cli, "fit", str(plan), "--out", str(out), *where])
                    meld = timed([*cli, "meld", str(plan), "--out", str(out), *where])
                    seconds, steps, seen = (a + b for a, b in zip(fit, meld, strict=True))
                else:
                    seconds, steps, seen = timed(
                        [*cli, "run", str(plan), "--out", str(out), *where]
                    )
                row = {"mode": mode, "executor": executor, "workers": workers,
                       "seconds": round(seconds, 1), "step_seconds": round(steps, 1),
                       "step_lines": seen,
                       "load_before": round(load, 2),
                       "images": args.shards * args.images}  # fmt: skip
                rows.append(row)
                print(json.dumps(row), flush=True)
    for workers in args.workers:  # the fixed cost in every Ray row: start and stop a local cluster
        seconds, _, _ = timed([sys.executable, "-c", RAY_START.format(workers=workers)])
        rows.append({"mode": "start+stop", "executor": "ray", "workers": workers,
                     "seconds": round(seconds, 1), "step_seconds": 0.0, "step_lines": 0,
                     "load_before": round(os.getloadavg()[0], 2), "images": 0})  # fmt: skip
    base = {r["mode"]: r["seconds"] for r in rows if r["workers"] == 1}
    print(
        f"\n{os.cpu_count()} CPUs; {args.shards} shards x {args.images} images, width {args.size}\n"
    )
    print(
        "| mode | executor | workers | wall s | speed-up vs 1 worker | sum of step s | load before |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        speedup = f"{base[r['mode']] / r['seconds']:.2f}x" if r["mode"] in base else "-"
        print(f"| {r['mode']} | {r['executor']} | {r['workers'] or '-'} | {r['seconds']} | "
              f"{speedup} | {r['step_seconds']} | {r['load_before']} |")  # fmt: skip
    out = ROOT / "bench" / "out" / "cluster.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"cpus": os.cpu_count(), "args": vars(args), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
