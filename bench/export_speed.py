"""Inference speed of exported detectors (ONNX in onnxruntime, TorchScript) vs the eager model.

    .venv/bin/python bench/export_speed.py                      # 256x256 and 512x512, batch 1
    .venv/bin/python bench/export_speed.py --sizes 256 --batch 4 --threads 2

A model is fitted on procedural brushed-metal textures (bench/coreset.py's), one epoch, coreset
2048 points, at each size, then exported with `seqcore_train.export.model`. Each runtime scores the
same batch `--repeats` times after two warm-up runs; the table gives the median milliseconds per
image and the largest relative difference of its maps from the eager model's (a check, not a
speed). All runtimes get the same thread count. Timings never go into tests.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from coreset import textures  # noqa: E402

from seqcore_train.export.model import export_model  # noqa: E402
from seqcore_train.model.patchcore import ModelConfig, SeqPatchCore  # noqa: E402


def _median_ms(run, repeats: int, images: int) -> float:
    for _ in range(2):
        run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times) / images


def _fit(size: int, coreset: int, folder: Path) -> Path:
    model = SeqPatchCore(ModelConfig(coreset_size=coreset), device="cpu")
    train = textures(8, seed=1, size=size)
    model.fit(lambda _epoch: [(train[i : i + 4], None) for i in (0, 4)], epochs=1)
    model.image_size = (size, size)
    model.threshold = 1.0
    path = folder / f"model_{size}.safetensors"
    model.save(path)
    return path


def bench(size: int, batch: int, coreset: int, repeats: int, folder: Path) -> list[tuple]:
    import onnxruntime

    path = _fit(size, coreset, folder)
    model = SeqPatchCore.load(path, device="cpu")
    images = textures(batch, seed=2, size=size)
    reference, _ = model.predict(images)
    rows = []

    def row(name: str, run, maps) -> None:
        error = float(((maps - reference).abs() / reference.abs().clamp(min=1e-6)).max())
        rows.append((size, batch, name, _median_ms(run, repeats, batch), error))

    row("eager (SeqPatchCore.predict)", lambda: model.predict(images), reference)
    export_model(path, folder / "model.pt", "torchscript")
    scripted = torch.jit.load(str(folder / "model.pt"))
    with torch.no_grad():
        row("TorchScript (torch.jit)", lambda: scripted(images), scripted(images)[0])
    export_model(path, folder / "model.onnx", "onnx")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
    )
    feed = {"images": images.numpy()}
    onnx_maps = torch.from_numpy(session.run(None, feed)[0])
    row(f"ONNX (onnxruntime {onnxruntime.__version__})", lambda: session.run(None, feed), onnx_maps)
    return rows


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--coreset", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"CPU {_cpu_name()}, {args.threads} threads, load average {os.getloadavg()[0]:.1f}, "
        f"torch {torch.__version__}, coreset {args.coreset}, {args.repeats} repeats"
    )
    print("| image | batch | runtime | ms / image | max rel. map difference vs eager |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as work:
        for size in args.sizes:
            for size_, batch, name, ms, error in bench(
                size, args.batch, args.coreset, args.repeats, Path(work)
            ):
                print(f"| {size_}² | {batch} | {name} | {ms:.1f} | {error:.1e} |")


if __name__ == "__main__":
    main()
