"""Coreset and inference benchmarks (BENCHMARKS.md section `coreset`).

    .venv/bin/python bench/coreset.py all            # every table below (about 15 min on 2 cores)
    .venv/bin/python bench/coreset.py memory --images 10 50 100 200
    .venv/bin/python bench/coreset.py throughput|coverage|inference

Training images are procedural brushed-metal textures (stripes, noise, a light gradient and a
random hot spot), 512x512, generated per batch from a seed so the data set itself takes no memory.
Peak memory is the peak resident set size of a fresh process that runs one fit epoch.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seqcore_train.model.coreset import SequentialCoreset, greedy_kcenter  # noqa: E402
from seqcore_train.model.distances import approx_sq_distances, exact_distances, sq_norms  # noqa: E402
from seqcore_train.model.patchcore import ModelConfig, SeqPatchCore  # noqa: E402
from seqcore_train.model.scoring import anomaly_maps, nn_distances  # noqa: E402


def textures(count: int, seed: int, size: int = 512) -> torch.Tensor:
    """Brushed-metal-like RGB images in [0, 1], (count, 3, size, size)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.linspace(0, 1, size)[:, None]
    x = torch.linspace(0, 1, size)[None, :]
    out = torch.empty(count, 3, size, size)
    for i in range(count):
        freq, angle, phase = 150 + 100 * torch.rand(3, generator=g)
        angle = (angle - 200) / 2000
        grooves = 0.06 * torch.sin(freq * (y + angle * x) + phase)
        grain = 0.04 * torch.randn(size, size, generator=g)
        cy, cx = torch.rand(2, generator=g)
        spot = 0.35 * torch.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 0.02)
        grey = (0.45 + 0.1 * x + grooves + grain + spot).clamp(0, 1)
        tint = 1 + 0.03 * torch.randn(3, 1, 1, generator=g)
        out[i] = (grey[None] * tint).clamp(0, 1)
    return out


def batches_of(count: int, seed: int, batch: int = 4, size: int = 512):
    def epoch_batches(epoch: int):
        for start in range(0, count, batch):
            n = min(batch, count - start)
            yield textures(n, seed * 100003 + epoch * 1009 + start, size), None

    return epoch_batches


THREADS = [1]


def torch_threads() -> None:
    # One thread by default: on a shared 2-core machine OpenMP's second thread mostly waits, and
    # the coreset's many small sequential steps then cost milliseconds each instead of microseconds.
    torch.set_num_threads(THREADS[0])


# -- memory --------------------------------------------------------------------------------------
def fit_once(images: int, sampler: str, size: int) -> dict:
    torch_threads()
    model = SeqPatchCore(ModelConfig(coreset_size=size, sampler=sampler), device="cpu")
    started = time.perf_counter()
    stats = model.fit(batches_of(images, seed=1), epochs=1)
    return {
        "images": images,
        "sampler": sampler,
        "patches": stats[0].patches,
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def memory(image_counts: list[int], samplers: list[str], size: int) -> list[dict]:
    rows = []
    for sampler in samplers:
        for n in image_counts:
            cmd = [
                sys.executable,
                __file__,
                "_fit_once",
                str(n),
                sampler,
                str(size),
                str(THREADS[0]),
            ]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    print("\n| sampler | images (512²) | patches | peak RSS MiB | fit s |\n|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['sampler']} | {r['images']} | {r['patches']} | {r['peak_rss_mib']} | {r['seconds']} |"
        )
    for sampler in samplers:
        peaks = [r["peak_rss_mib"] for r in rows if r["sampler"] == sampler]
        print(f"{sampler}: peak max/min = {max(peaks) / min(peaks):.3f}")
    return rows


# -- features shared by throughput and coverage --------------------------------------------------
def training_patches(images: int) -> torch.Tensor:
    model = SeqPatchCore(ModelConfig(), device="cpu")
    parts = [model.patches(x) for x, _ in batches_of(images, seed=2)(0)]
    return torch.cat(parts)


def distance_only_seconds(patches: torch.Tensor, bank: torch.Tensor, chunk: int) -> float:
    """What one epoch costs if it only computed each chunk's distances to the bank and their minima."""
    bank_sq = sq_norms(bank)
    started = time.perf_counter()
    for lo in range(0, len(patches), chunk):
        x = patches[lo : lo + chunk]
        approx_sq_distances(x, bank, sq_norms(x), bank_sq).min(dim=1)
    return time.perf_counter() - started


def throughput(images: int, size: int, chunk: int, epochs: int) -> None:
    torch_threads()
    patches = training_patches(images)
    print(f"{len(patches)} patches of {patches.shape[1]} features from {images} images")
    coreset = SequentialCoreset(size=size, chunk_size=chunk)
    g = torch.Generator().manual_seed(0)
    print(
        "\n| epoch | replacements | d_m | update s | distances-only s | overhead ratio | patches/s |"
    )
    print("|---|---|---|---|---|---|---|")
    for epoch in range(epochs):
        order = patches if epoch == 0 else patches[torch.randperm(len(patches), generator=g)]
        before = coreset.replacements
        started = time.perf_counter()
        coreset.update(order)
        took = time.perf_counter() - started
        base = distance_only_seconds(order, coreset.bank, chunk)
        print(
            f"| {epoch} | {coreset.replacements - before} | {coreset.d_m:.3f} | {took:.2f} | "
            f"{base:.2f} | {took / base:.2f} | {len(order) / took:,.0f} |",
            flush=True,
        )


def coverage(images: int, size: int, sample: int, epochs: int) -> None:
    torch_threads()
    patches = training_patches(images)
    g = torch.Generator().manual_seed(0)
    coreset = SequentialCoreset(size=size)
    for epoch in range(epochs):
        order = patches if epoch == 0 else patches[torch.randperm(len(patches), generator=g)]
        if coreset.update(order) == 0:
            break
    started = time.perf_counter()
    greedy = greedy_kcenter(patches, size, generator=torch.Generator().manual_seed(0))
    greedy_s = time.perf_counter() - started
    probe = patches[torch.randperm(len(patches), generator=g)[:sample]]
    rows = []
    for name, bank in (("sequential", coreset.bank), ("greedy k-center", greedy)):
        d = nn_distances(probe, bank)
        inner = exact_distances(bank, bank)
        inner.fill_diagonal_(float("inf"))
        rows.append((name, float(d.max()), float(d.mean()), float(inner.min())))
    print(f"{len(patches)} patches from {images} images, |M| = {size}, probe {sample} patches")
    print(f"sequential epochs run: {epoch + 1}; greedy took {greedy_s:.1f} s")
    print(
        "\n| coreset | coverage radius (max NN) | mean NN | min pair distance |\n|---|---|---|---|"
    )
    for name, radius, mean, d_min in rows:
        print(f"| {name} | {radius:.3f} | {mean:.3f} | {d_min:.3f} |")
    print(f"radius ratio sequential / greedy = {rows[0][1] / rows[1][1]:.3f}")


def inference(sizes: list[int], chunks: list[int], coreset_size: int, images: int) -> None:
    torch_threads()
    model = SeqPatchCore(ModelConfig(coreset_size=coreset_size), device="cpu")
    model.fit(batches_of(10, seed=4), epochs=1)  # a real bank: one epoch over 10 images
    bank = model.bank
    print(
        f"|M| = {len(bank)} (fitted on 10 images), efficientnet_lite0, batch 1, {images} per cell"
    )
    print(
        "\n| image | chunk | features s/img | scoring s/img | total images/s |\n|---|---|---|---|---|"
    )
    for size in sizes:
        data = textures(images, 7, size)
        model.features(data[:1])  # warm up
        started = time.perf_counter()
        feats = [model.features(data[i : i + 1]) for i in range(images)]
        feat_s = (time.perf_counter() - started) / images
        axes = model.extractor.cell_axes((size, size))
        for chunk in chunks:
            anomaly_maps(feats[0], bank, (size, size), axes, 2.0, chunk)
            started = time.perf_counter()
            for f in feats:
                anomaly_maps(f, bank, (size, size), axes, 2.0, chunk)
            score_s = (time.perf_counter() - started) / images
            print(
                f"| {size}² | {chunk} | {feat_s:.3f} | {score_s:.3f} | {1 / (feat_s + score_s):.2f} |",
                flush=True,
            )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_fit_once":
        THREADS[0] = int(sys.argv[5])
        print(json.dumps(fit_once(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["all", "memory", "throughput", "coverage", "inference"])
    parser.add_argument("--images", type=int, nargs="+", default=[10, 50, 100, 200])
    parser.add_argument("--samplers", nargs="+", default=["sequential", "greedy"])
    parser.add_argument("--coreset-size", type=int, default=2048)
    parser.add_argument("--chunk-size", type=int, default=2048)
    parser.add_argument(
        "--feature-images", type=int, default=40, help="images for throughput/coverage"
    )
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--probe", type=int, default=20000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--chunks", type=int, nargs="+", default=[256, 1024, 2048, 8192])
    parser.add_argument("--inference-images", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    a = parser.parse_args()
    THREADS[0] = a.threads
    print(f"torch {torch.__version__}, {a.threads} thread(s), command: {' '.join(sys.argv)}")
    if a.what in ("all", "memory"):
        memory(a.images, a.samplers, a.coreset_size)
    if a.what in ("all", "throughput"):
        throughput(a.feature_images, a.coreset_size, a.chunk_size, a.epochs)
    if a.what in ("all", "coverage"):
        coverage(a.feature_images, a.coreset_size, a.probe, a.epochs)
    if a.what in ("all", "inference"):
        inference(a.sizes, a.chunks, a.coreset_size, a.inference_images)


if __name__ == "__main__":
    main()
