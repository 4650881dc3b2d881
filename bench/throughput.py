"""End-to-end throughput of `seqcore-train predict` and `fit` against the model alone, at 512^2.

    .venv/bin/python bench/throughput.py                      # 24 images, 2 threads
    .venv/bin/python bench/throughput.py --images 48 --code /tmp/previous installed

"Model only" runs in this process on images decoded beforehand: `SeqPatchCore.predict` per batch,
and `SeqPatchCore.fit` (one epoch, the same sequential coreset) over the decoded batches, at batch
sizes 1 and 4; the faster of the two is the reference. "CLI" is the command in its own process,
timed from its start to its exit: interpreter and imports, reading the PNGs, the model, and every
file it writes (predict: three PNGs and a .npy per image). Ratio = CLI images/s over the model's
best images/s (target: >= 0.8 on 2 cores). A CLI run starts with a fixed cost that no image count
amortises away on a short run: the interpreter and the imports, timed separately as `python -c
"import seqcore_train.cli, seqcore_train.workflows"` ("imports" row); the last column is the CLI's
ratio with that cost taken out. The runs alternate (model, CLI, model, CLI, ...) so a
change of load hits both; the load average of each row is printed with it.
`--code DIR` also times the CLI of another version of the package (a folder holding seqcore_train).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import cli, make_images  # noqa: E402 - the bench's own helpers


def timed_command(command: list[str]) -> float:
    env = {**os.environ, "TQDM_DISABLE": "1"}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stderr[-2000:]}")
    return seconds


def decoded_batches(folder: Path, batch_size: int) -> list:
    from seqcore_train.batches import sample_batches, to_tensors
    from seqcore_train.datasets import open_datasets

    dataset = open_datasets([str(folder)])
    return [to_tensors(s) for s in sample_batches(dataset, dataset.records, batch_size)]


def model_predict_seconds(model_path: Path, batches: list) -> float:
    from seqcore_train.model import SeqPatchCore

    model = SeqPatchCore.load(model_path, device="cpu")
    model.predict(*batches[0])  # warm-up: backbone built, kernels chosen
    started = time.perf_counter()
    for images, valid in batches:
        model.predict(images, valid)
    return time.perf_counter() - started


def model_fit_seconds(coreset_size: int, batches: list) -> float:
    import torch

    from seqcore_train.model import ModelConfig, SeqPatchCore

    model = SeqPatchCore(ModelConfig(coreset_size=coreset_size), device="cpu")
    model.features(batches[0][0][:1])  # warm-up outside the timing, as for predict
    started = time.perf_counter()
    model.fit(lambda _epoch: batches, epochs=1, generator=torch.Generator().manual_seed(0))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--coreset-size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each, alternating")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-fit", action="store_true", help="predict only (fit is slow)")
    parser.add_argument("--code", nargs="+", default=["installed"], metavar="DIR|installed")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the CLI processes use as many
    n = args.images
    with tempfile.TemporaryDirectory(prefix="seqcore-throughput-") as tmp:
        data = Path(tmp) / "images"
        make_images(data, n, (args.size, args.size))
        model = Path(tmp) / "model.safetensors"
        fit_args = ["fit", str(data), "--out", str(model), "--epochs", "1", "--no-resume",
                    "--coreset-size", str(args.coreset_size), "--device", "cpu"]  # fmt: skip
        timed_command(cli(None) + fit_args)  # the model predict needs
        batches = {b: decoded_batches(data, b) for b in (1, 4)}
        times: dict[str, list[float]] = {}
        loads: dict[str, list[float]] = {}

        def record(name: str, seconds: float) -> None:
            times.setdefault(name, []).append(seconds)
            loads.setdefault(name, []).append(os.getloadavg()[0])

        tasks = ["predict"] + ([] if args.no_fit else ["fit"])
        imports = [sys.executable, "-c", "import seqcore_train.cli, seqcore_train.workflows"]
        for _ in range(args.repeats):
            record("imports", timed_command(imports))
            for task in tasks:
                for b in (1, 4):
                    if task == "predict":
                        record(f"predict|model only, batch {b}", model_predict_seconds(model, batches[b]))  # fmt: skip
                    else:
                        record(f"fit|model only, batch {b}", model_fit_seconds(args.coreset_size, batches[b]))  # fmt: skip
                for code in args.code:
                    command = cli(None if code == "installed" else code)
                    name = f"{task}|CLI ({code}), default batch"
                    if task == "predict":
                        out = Path(tmp) / "predicted"
                        argv = ["predict", str(model), str(data), "--out", str(out),
                                "--threshold", "1", "--device", "cpu"]  # fmt: skip
                        record(name, timed_command(command + argv))
                    else:
                        other = Path(tmp) / "refit.safetensors"
                        argv = [a if a != str(model) else str(other) for a in fit_args]
                        record(name, timed_command(command + argv))

    print(
        f"\n{n} images of {args.size}x{args.size}, {args.threads} threads, median of {args.repeats}"
    )
    print("raw seconds:", {k: [round(x, 2) for x in v] for k, v in times.items()})
    startup = statistics.median(times["imports"])
    print(f"imports (interpreter + seqcore_train.cli + workflows): {startup:.2f} s")
    print("\n| command | path | s | images/s | ratio to model | ratio without imports | load |")
    print("|---|---|---|---|---|---|---|")
    for task in tasks:
        rates = {k: n / statistics.median(v) for k, v in times.items() if k.startswith(task)}
        best = max(r for k, r in rates.items() if "model only" in k)
        for key, rate in rates.items():
            seconds = statistics.median(times[key])
            load = ", ".join(f"{x:.1f}" for x in loads[key])
            net = ""
            if "CLI" in key:
                net = f"{n / (seconds - startup) / best:.2f}" if seconds > startup else "–"
            print(
                f"| {task} | {key.split('|')[1]} | {seconds:.2f} | {rate:.2f} | "
                f"{rate / best:.2f} | {net} | {load} |"
            )


if __name__ == "__main__":
    main()
