"""End-to-end throughput of `seqcore-train predict` and `fit` against the model alone, at 512^2.

    .venv/bin/python bench/throughput.py                      # 24 and 240 images, 2 threads
    .venv/bin/python bench/throughput.py --images 24 --no-fit --code bench/out/previous installed
    .venv/bin/python bench/throughput.py --images 24 --threshold 1   # every pixel flagged

"Model only" runs in this process on images decoded beforehand: `SeqPatchCore.predict` per batch,
and `SeqPatchCore.fit` (one epoch, the same sequential coreset) over the decoded batches, at batch
sizes 1 and 4; the faster of the two is the reference. "CLI" is the command in its own process,
timed from its start to its exit: interpreter and imports, reading the PNGs, the model, and every
file it writes (predict: two PNGs, a JPEG and a .npy per image). Ratio = CLI images/s over the model's
best images/s (target: >= 0.8 on 2 cores).

Per row:
  * end to end: images / seconds from start to exit. A CLI run starts with a fixed cost that no
    image count amortises away on a short run: the interpreter and `import torch` (timed alone,
    "import torch" row), and the rest of the imports ("imports" row: `import seqcore_train.cli,
    seqcore_train.workflows`, torch included);
  * steady: images per second once the pipeline runs. Model-only predict: (n - 1) images from the
    end of the first to the end of the last. CLI predict: the same, read off the files it writes
    (each image's maps/<name>.npy is written last; its modification time is when that image was
    done). Fit: n images over the epoch's own seconds (the model's `fit` call; the CLI's
    "epoch 1: ... s" log line), so start-up, backbone build and saving the model are outside it.
  * paired steady ratio: the median, over the repeats, of a run's steady rate over the steady rate
    of the model-only run just before it (the fastest model-only path). It follows this machine's
    drift in speed, which the ratio of two medians does not.
The CLI rows also give "start": seconds from launch to the first image's files.

The threshold for predict flags `--flagged` of the pixels (default 1 %, from the model-only maps),
as on mostly good parts; `--threshold 1` reproduces earlier runs, where every pixel was flagged
(the worst case for the overlay PNGs). The runs alternate (model, CLI, model, CLI, ...) so a change
of load hits both; the 1-minute load average of each row is printed with it (the machine has 2
cores: a load above 2 means other jobs took CPU). Results also go to bench/out/throughput.json.
`--code DIR` also times the CLI of another version of the package (a folder holding seqcore_train).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import ROOT, cli, make_images  # noqa: E402 - the bench's own helpers

from seqcore_train.heap import huge_pages_for_torch  # noqa: E402

# The model alone gets the allocator setting the CLI gives itself (huge pages for torch's large
# buffers, seqcore_train/heap.py); it must be made before torch loads. THP_MEM_ALLOC_ENABLE=0 in
# the environment turns it off for both.
huge_pages_for_torch()


def launch(command: list[str]) -> tuple[float, float, str]:
    """(wall-clock start as time.time(), seconds to exit, stdout + stderr) of a command in its own
    process."""
    env = {**os.environ, "TQDM_DISABLE": "1"}
    started_at = time.time()
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stderr[-2000:]}")
    return started_at, seconds, done.stdout + done.stderr


def decoded_batches(folder: Path, batch_size: int) -> list:
    from seqcore_train.data.batches import sample_batches, to_tensors
    from seqcore_train.data.datasets import open_datasets

    dataset = open_datasets([str(folder)])
    return [to_tensors(s) for s in sample_batches(dataset, dataset.records, batch_size)]


def model_predict(model_path: Path, batches: list) -> dict:
    """End to end and steady seconds of `SeqPatchCore.predict` over decoded batches."""
    from seqcore_train.model.patchcore import SeqPatchCore

    model = SeqPatchCore.load(model_path, device="cpu")
    model.predict(*batches[0])  # warm-up: backbone built, kernels chosen
    started = time.perf_counter()
    ends = []
    for images, valid in batches:
        model.predict(images, valid)
        ends.append(time.perf_counter())
    return {"seconds": ends[-1] - started, "steady": _steady(ends, batches)}


def _steady(ends: list[float], batches: list) -> float | None:
    """Images per second after the first batch: (images - first batch) / (last end - first end)."""
    if len(ends) < 2 or ends[-1] <= ends[0]:
        return None
    images = sum(len(b[0]) for b in batches[1:])
    return images / (ends[-1] - ends[0])


def model_fit(coreset_size: int, batches: list) -> dict:
    import torch

    from seqcore_train.model.patchcore import ModelConfig, SeqPatchCore

    model = SeqPatchCore(ModelConfig(coreset_size=coreset_size), device="cpu")
    model.features(batches[0][0][:1])  # warm-up outside the timing, as for predict
    started = time.perf_counter()
    (stats,) = model.fit(
        lambda _epoch: batches, epochs=1, generator=torch.Generator().manual_seed(0)
    )
    seconds = time.perf_counter() - started
    count = sum(len(b[0]) for b in batches)
    return {"seconds": seconds, "steady": count / stats.seconds}


def threshold_flagging(model_path: Path, batches: list, fraction: float) -> float:
    """The map value that `fraction` of the pixels of these images reach (model-only maps)."""
    import torch

    from seqcore_train.model.patchcore import SeqPatchCore

    model = SeqPatchCore.load(model_path, device="cpu")
    samples = [model.predict(*b)[0].flatten()[::97] for b in batches[:8]]  # a subsample is plenty
    return float(torch.quantile(torch.cat(samples).double(), 1.0 - fraction))


def cli_predict(command: list[str], model: Path, data: Path, out: Path, threshold: float) -> dict:
    argv = ["predict", str(model), str(data), "--out", str(out), "--threshold", f"{threshold:.6g}",
            "--device", "cpu"]  # fmt: skip
    started_at, seconds, _ = launch(command + argv)
    done = sorted(p.stat().st_mtime_ns / 1e9 for p in (out / "maps").glob("*.npy"))
    flagged = json.loads((out / "scores.json").read_text())["images"]
    steady = (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 else None
    return {
        "seconds": seconds,
        "steady": steady,
        "start": done[0] - started_at,
        "flagged": sum(r["anomalous_pixels"] for r in flagged) / len(flagged),
    }


_EPOCH = re.compile(r"epoch 1: (\d+) patches.*?([\d.]+) s\s*$", re.M)


def cli_fit(command: list[str], argv: list[str], count: int) -> dict:
    _, seconds, output = launch(command + argv)
    match = _EPOCH.search(output)
    return {"seconds": seconds, "steady": count / float(match.group(2)) if match else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[24, 240])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--coreset-size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each, alternating")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4],
                        help="model-only batch sizes (the fastest is the reference)")  # fmt: skip
    parser.add_argument("--no-fit", action="store_true", help="predict only (fit is slow)")
    parser.add_argument("--fit-images", type=int, nargs="*", default=None,
                        help="image counts to time fit at (default: the smallest of --images)")  # fmt: skip
    parser.add_argument("--flagged", type=float, default=0.01,
                        help="fraction of pixels predict's threshold flags (model-only maps)")  # fmt: skip
    parser.add_argument("--threshold", type=float, default=None, help="a fixed threshold instead")
    parser.add_argument("--code", nargs="+", default=["installed"], metavar="DIR|installed")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the CLI processes use as many
    fit_counts = [] if args.no_fit else (args.fit_images or [min(args.images)])
    rows: list[dict] = []
    startup: dict[str, list[float]] = {"import torch": [], "imports": []}
    with tempfile.TemporaryDirectory(prefix="seqcore-throughput-") as tmp:
        for _ in range(args.repeats):
            for name, code in (("import torch", "import torch"),
                               ("imports", "import seqcore_train.cli, seqcore_train.workflows")):  # fmt: skip
                startup[name].append(launch([sys.executable, "-c", code])[1])
        for n in args.images:
            rows += run_count(args, Path(tmp), n, n in fit_counts)
    report(args, rows, startup)


def run_count(args, tmp: Path, n: int, with_fit: bool) -> list[dict]:
    data = tmp / f"images-{n}"
    make_images(data, n, (args.size, args.size))
    model = tmp / f"model-{n}.safetensors"
    fit_args = ["fit", str(data), "--out", str(model), "--epochs", "1", "--no-resume",
                "--coreset-size", str(args.coreset_size), "--device", "cpu"]  # fmt: skip
    launch(cli(None) + fit_args)  # the model predict needs
    batches = {b: decoded_batches(data, b) for b in sorted({1, *args.batches})}
    threshold = args.threshold
    if threshold is None:
        threshold = threshold_flagging(model, batches[1], args.flagged)
    runs: dict[tuple[str, str], list[dict]] = {}

    def record(task: str, path: str, result: dict) -> None:
        result["load"] = os.getloadavg()[0]
        runs.setdefault((task, path), []).append(result)
        print(n, task, path, {k: round(v, 3) for k, v in result.items() if v is not None},
              flush=True)  # fmt: skip

    tasks = ["predict"] + (["fit"] if with_fit else [])
    for _ in range(args.repeats):
        for task in tasks:
            for b in args.batches:
                if task == "predict":
                    record(task, f"model only, batch {b}", model_predict(model, batches[b]))
                else:
                    record(task, f"model only, batch {b}", model_fit(args.coreset_size, batches[b]))  # fmt: skip
            for code in args.code:
                command = cli(None if code == "installed" else code)
                path = f"CLI ({code}), default batch"
                if task == "predict":
                    out = tmp / f"predicted-{n}"
                    record(task, path, cli_predict(command, model, data, out, threshold))
                else:
                    other = str(tmp / "refit.safetensors")
                    argv = [a if a != str(model) else other for a in fit_args]
                    record(task, path, cli_fit(command, argv, n))
    rows = []
    for (task, path), results in runs.items():
        row = {"images": n, "task": task, "path": path, "threshold": threshold, "runs": results}
        for key in ("seconds", "steady", "start", "flagged"):
            values = [r[key] for r in results if r.get(key) is not None]
            row[key] = statistics.median(values) if values else None
        row["load"] = [round(r["load"], 1) for r in results]
        row["paired"] = _paired_ratio(runs, task, results)
        rows.append(row)
    return rows


def _paired_ratio(runs: dict, task: str, results: list[dict]) -> float | None:
    """Median over the repeats of steady images/s against the fastest model-only path's run of the
    same repeat, which ran just before: this machine's speed drifts by +-20 % from minute to minute,
    and a ratio of neighbours follows the drift where a ratio of medians does not."""
    models = [r for (t, path), r in runs.items() if t == task and "model only" in path]
    best = max(models, key=lambda r: statistics.median(x["steady"] for x in r))
    pairs = [mine["steady"] / model["steady"] for mine, model in zip(results, best, strict=True)
             if mine.get("steady") and model.get("steady")]  # fmt: skip
    return statistics.median(pairs) if pairs else None


def report(args, rows: list[dict], startup: dict[str, list[float]]) -> None:
    torch_s = statistics.median(startup["import torch"])
    imports_s = statistics.median(startup["imports"])
    print(f"\n{args.size}x{args.size}, {args.threads} threads, median of {args.repeats}")
    print(f"import torch alone: {torch_s:.2f} s; interpreter + seqcore_train.cli + workflows "
          f"(torch included): {imports_s:.2f} s")  # fmt: skip
    print(
        "\n| images | command | path | s | images/s | ratio to model | steady images/s "
        "| steady ratio | paired steady ratio | start s | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in args.images:
        for task in ("predict", "fit"):
            mine = [r for r in rows if r["images"] == n and r["task"] == task]
            if not mine:
                continue
            models = [r for r in mine if "model only" in r["path"]]
            best = max(models, key=lambda r: n / r["seconds"])
            best_steady = max(r["steady"] for r in models if r["steady"])
            for r in mine:
                rate = n / r["seconds"]
                steady = r["steady"]
                cells = [
                    str(n), task, r["path"], f"{r['seconds']:.2f}", f"{rate:.2f}",
                    f"{rate / (n / best['seconds']):.2f}",
                    f"{steady:.2f}" if steady else "–",
                    f"{steady / best_steady:.2f}" if steady else "–",
                    f"{r['paired']:.2f}" if r.get("paired") else "–",
                    f"{r['start']:.2f}" if r.get("start") is not None else "",
                    ", ".join(f"{x:.1f}" for x in r["load"]),
                ]  # fmt: skip
                print("| " + " | ".join(cells) + " |")
    flagged = [r for r in rows if r.get("flagged") is not None]
    if flagged:
        r = flagged[0]
        share = r["flagged"] / args.size**2
        print(f"\npredict threshold {r['threshold']:.4g}: {100 * share:.1f} % of pixels flagged")
    out = ROOT / "bench" / "out" / "throughput.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"startup": startup, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
