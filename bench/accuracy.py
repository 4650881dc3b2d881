"""Accuracy side by side: SeqCore (sequential, greedy) vs anomalib's PatchCore, same backbone weights.

Methods, each fitted and evaluated per category in its own subprocess (peak RSS per method):

  seqcore          SeqCore's default settings (`seqcore-train fit` + evaluate: sequential coreset,
                   5 epochs, no augmentation), only the coreset size set, via workflows.fit
  seqcore-greedy   the same with sampler="greedy"
  anomalib         anomalib 2.7.0's PatchcoreModel on SeqCore's EfficientNet-Lite0 (blocks.4 +
                   blocks.10): its pooling/embedding, KCenterGreedy, 1-NN and AnomalyMapGenerator
                   (sigma 4); see bench/anomalib_patchcore.py

All get the same coreset size (10 % of the training patches, as anomalib's default ratio), the
same images through seqcore_train's data loader, and one metric implementation
(seqcore_train.evaluation.metrics.Evaluator: image AUROC on the map maximum, pixel AUROC, AUPRO to FPR 0.3).
Data: texture categories and a rendered SeqCore set, built by bench/texture_data.py.

Run from the repository root with the bench environment (`make bench-accuracy`):
    bench/out/venv/bin/python bench/accuracy.py            # full run, writes bench/out/accuracy.json
    bench/out/venv/bin/python bench/accuracy.py --quick    # smoke run: 2 small categories
The SeqCore workers run in the product environment (.venv), the anomalib worker in the bench one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from blender_addon.core.version import source_digest  # no bpy

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PRODUCT_PYTHON = ROOT / ".venv" / "bin" / "python"
RENDER_SCRIPT = ROOT / "blender_addon" / "render.py"
METHODS = ("seqcore", "seqcore-greedy", "anomalib")
BACKBONE, LAYERS = "efficientnet_lite0", ("blocks.4", "blocks.10")
TOLERANCE = 0.005  # targets: AUROCs >= anomalib's - 0.5 points
FIT_RATIO = 0.5  # target: fit time <= 0.5x anomalib's
BATCH_SIZE = 4  # every method, the same batches (the CLI's default, auto, is 1 on a CPU)
RENDER_TEST = 100  # demo-test plates of the rendered category (other counts get their own folders)
TEST_CROPS = 600  # texture test crops per category (see --test-crops, texture_data.TextureSpec)
TEXTURES_FULL = ("brick", "grass", "gravel", "tissue", "hubble")
# Every worker runs without glibc's per-thread cache (unless GLIBC_TUNABLES is set, even empty):
# with it, after the backbone has run, anomalib's KCenterGreedy never reuses the N x d temporary
# it frees per selected point, so the process grows by ~23 MB per point (out of memory at 23 k
# patches on 24 GiB). SeqCore's fit time and RSS are the same either way (measured).
GLIBC_TUNABLES = "glibc.malloc.tcache_count=0"


def log(message: str) -> None:
    print(message, flush=True)


# ================================================================================ data


def build_data(args) -> dict[str, Path]:
    """category -> MVTec-layout folder (textures and, unless skipped, the rendered set)."""
    from texture_data import TextureSpec, build_texture_category

    if args.quick:
        spec, root = (
            TextureSpec(train=12, test_good=6, test_perlin=4, test_cutpaste=4),
            "data-quick",
        )
    else:
        spec = TextureSpec.with_test_crops(args.test_crops, seed=args.data_seed)
        root = "data" if args.test_crops == TEST_CROPS else f"data-test{args.test_crops}"
        root += f"-s{args.data_seed}" if args.data_seed else ""
    root = OUT / root
    folders = {}
    for name in args.categories:
        if name == "rendered":
            suffix = "" if args.render_test == RENDER_TEST else f"-{args.render_test}"
            folders[name] = build_rendered(args, root / f"rendered{suffix}", suffix)
            continue
        started = time.perf_counter()
        folders[name] = build_texture_category(name, root / name, spec)
        log(
            f"[data] {name}: {spec.train} train, {spec.test_good} good + {spec.test_perlin} perlin + "
            f"{spec.test_cutpaste} cutpaste test crops of {spec.size}px "
            f"({time.perf_counter() - started:.1f} s)"
        )
    return folders


def render(out: Path, count: int, seed: int, args, *extra: str) -> Path:
    """Render with the project's renderer into `out` unless a finished render with these args, by
    this renderer, is there (a training set from an older renderer than its test set once cost the
    rendered category about 33 image-AUROC points)."""
    command = [
        str(PRODUCT_PYTHON), str(RENDER_SCRIPT), "--out", str(out), "--count", str(count),
        "--seed", str(seed), "--resolution", *map(str, args.resolution),
        "--samples", str(args.samples), *extra,
    ]  # fmt: skip
    stamp = out / "bench-render.json"
    key = {"args": command[2:], "renderer": source_digest()}
    if stamp.is_file() and json.loads(stamp.read_text()) == key:
        log(f"[render] {out.name}: {count} images cached")
        return out
    if out.exists():  # render.py keeps a folder's settings: start over
        shutil.rmtree(out)
    log(f"[render] {out.name}: {' '.join(command[2:])}")
    started = time.perf_counter()
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        tail = []
        for line in process.stdout:
            tail = (tail + [line.rstrip()])[-20:]
            if line.startswith("["):
                log(f"[render] {out.name} {line.rstrip()}")
    if process.returncode != 0:
        raise SystemExit(f"rendering {out} failed:\n" + "\n".join(tail))
    stamp.write_text(json.dumps(key))
    log(f"[render] {out.name}: done in {time.perf_counter() - started:.0f} s")
    return out


def build_rendered(args, folder: Path, suffix: str = "") -> Path:
    """Nominal training plates (stained, all impurity kinds) + the demo-test preset -> MVTec layout."""
    from texture_data import export_rendered

    renders = OUT / "render"
    # Another data seed draws other plates (seeds 11 / 12 for data seed 0, +100 per data seed),
    # another test count renders beside the default set; each in its own folder.
    shift, seeded = 100 * args.data_seed, f"-s{args.data_seed}" if args.data_seed else ""
    train = render(
        renders / f"train{seeded}", args.render_train, 11 + shift, args, "--split", "train",
        "--variant", "stained", "--impurities", "water_stain,fingerprint,sticker",
    )  # fmt: skip
    test = render(
        renders / f"test{suffix}{seeded}", args.render_test, 12 + shift, args,
        "--preset", "demo-test",
    )  # fmt: skip
    export_rendered(train, test, folder)
    counts = {p.name: len(list(p.glob("*.png"))) for p in sorted((folder / "test").iterdir())}
    log(
        f"[data] rendered: {len(list((folder / 'train' / 'good').glob('*.png')))} train, test {counts}"
    )
    return folder


def coreset_size(folder: Path, ratio: float) -> tuple[int, int]:
    """(training patches, coreset size = ratio of them) for SeqCore's default feature grid."""
    import numpy as np
    import torch
    from PIL import Image

    from seqcore_train.model.features import FeatureExtractor

    images = sorted((folder / "train" / "good").glob("*.png"))
    first = np.asarray(Image.open(images[0]).convert("RGB"), dtype=np.float32) / 255.0
    grid = FeatureExtractor(BACKBONE, LAYERS)(torch.from_numpy(first).permute(2, 0, 1)[None])
    patches = len(images) * grid.shape[-2] * grid.shape[-1]
    return patches, max(1, round(ratio * patches))


# ================================================================================ workers


def run_worker(method: str, folder: Path, size: int, args, crosscheck: bool, seed: int = 0) -> dict:
    """Fit + evaluate one method on one category in a fresh process; returns its result dict."""
    work = OUT / "work" / folder.name / run_name(method, seed)
    work.mkdir(parents=True, exist_ok=True)
    result = work / "result.json"
    result.unlink(missing_ok=True)
    python = sys.executable if method == "anomalib" else str(PRODUCT_PYTHON)
    command = [
        python, str(Path(__file__).resolve()), "worker", method, str(folder),
        "--coreset-size", str(size), "--work", str(work), "--threads", str(args.threads),
        "--seed", str(seed),
    ] + (["--crosscheck"] if crosscheck else [])  # fmt: skip
    env = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    env.setdefault("GLIBC_TUNABLES", GLIBC_TUNABLES)
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not result.is_file():
        raise SystemExit(
            f"{method} on {folder.name} failed (exit {done.returncode}; -9: killed, e.g. out of memory):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return json.loads(result.read_text())


def run_name(method: str, seed: int) -> str:
    """The method's name for seed 0 (the reference), METHOD-sK for seed K."""
    return method if seed == 0 else f"{method}-s{seed}"


def anomalib_runs(entry: dict) -> list[dict]:
    """anomalib's results on a category: seed 0 first, then any further KCenterGreedy seeds."""
    return [r for name, r in entry["methods"].items() if name.split("-s")[0] == "anomalib"]


def worker(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="accuracy.py worker")
    parser.add_argument("method", choices=METHODS)
    parser.add_argument("data", type=Path)
    parser.add_argument("--coreset-size", type=int, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crosscheck", action="store_true")
    args = parser.parse_args(argv)
    forbid_network()
    import random

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    fit = fit_anomalib if args.method == "anomalib" else fit_seqcore
    preload(args.method)  # imports are not fit time (anomalib's alone take ~10 s)
    started = time.perf_counter()
    predict, info, coverage = fit(args)
    fit_seconds = time.perf_counter() - started
    fit_peak = peak_rss_mib()
    metrics = evaluate(predict, args.data, args.crosscheck)
    info["coverage"] = coverage()  # after the fit's time and peak memory are taken
    result = {
        "method": args.method,
        "fit_s": round(fit_seconds, 2),
        "peak_rss_mib": round(fit_peak, 1),
        "peak_rss_mib_with_eval": round(peak_rss_mib(), 1),
        "coreset_size": args.coreset_size,
        "threads": torch.get_num_threads(),
        **info,
        **metrics,
    }
    (args.work / "result.json").write_text(json.dumps(result, indent=1))


def preload(method: str) -> None:
    import importlib

    modules = [
        "seqcore_train.workflows",
        "seqcore_train.model.patchcore",
        "seqcore_train.evaluation.metrics",
    ]
    if method == "anomalib":
        modules += ["anomalib.models.image.patchcore.torch_model", "anomalib_patchcore"]
    for name in modules:
        importlib.import_module(name)


def forbid_network() -> None:
    """Any connection attempt (a hub download) fails loudly: the benchmark must run offline."""
    import socket

    def refuse(*_args, **_kwargs):
        raise ConnectionRefusedError("accuracy bench: network access is forbidden at run time")

    socket.socket.connect = refuse
    socket.create_connection = refuse


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (VmHWM), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fit_seqcore(args):
    """`seqcore-train fit DATA --coreset-size N [--sampler greedy]` through workflows.fit."""
    from seqcore_train import workflows
    from seqcore_train.model.patchcore import ModelConfig, SeqPatchCore

    sampler = "greedy" if args.method == "seqcore-greedy" else "sequential"
    config = ModelConfig(coreset_size=args.coreset_size, sampler=sampler)
    options = workflows.DataOptions((str(args.data),), batch_size=BATCH_SIZE)
    path = args.work / "model.safetensors"
    epochs = []
    workflows.fit(path, config, options, device="cpu", resume=False, log=epochs.append)
    model = SeqPatchCore.load(path, device="cpu")
    captured = {}
    features = model.features

    def capture(images):  # predict's own features, kept for the score variants (no second pass)
        captured["features"] = features(images)
        return captured["features"]

    model.features = capture

    def predict(images, valid):
        maps, scores = model.predict(images, valid)  # largest cell distance, as PatchCore's
        feats = captured.pop("features")
        cells = feats.permute(0, 2, 3, 1).reshape(len(feats), -1, feats.shape[1])
        return maps, scores, score_variants(cells, model.bank)

    info = {
        "config": config.to_dict(),
        "epochs": len(model.metadata.get("epochs", [])),
        "log": epochs,
    }
    return predict, info, lambda: training_coverage(args.data, features, model.bank)


def score_variants(cells, bank) -> dict:
    """Image scores other than the method's own, from its cells (B, h*w, C) and bank (bench only)."""
    from image_scores import reweighted_scores

    return reweighted_scores(cells, bank, num_neighbors=9)


def training_coverage(data: Path, embed, bank) -> dict:
    """Distances of every training patch to its nearest bank point (k-center radius = max)."""
    import torch
    from image_scores import coverage

    from seqcore_train.data.batches import training_batches
    from seqcore_train.data.datasets import open_datasets

    dataset = open_datasets([str(data)], split="train")
    batches = training_batches(dataset, dataset.records, BATCH_SIZE, None, None, 0)
    patches = []
    with torch.no_grad():
        for images, _valid in batches(0):
            feats = embed(images)
            patches.append(feats.permute(0, 2, 3, 1).reshape(-1, feats.shape[1]))
    return coverage(torch.cat(patches), bank)


def fit_anomalib(args):
    """anomalib's PatchCore on SeqCore's backbone, fed by the same data loader."""
    import anomalib
    from anomalib_patchcore import build_patchcore, fit_patchcore, predict_patchcore

    from seqcore_train.data.batches import training_batches
    from seqcore_train.data.datasets import open_datasets
    from seqcore_train.model.features import FeatureExtractor

    extractor = FeatureExtractor(BACKBONE, LAYERS)
    model = build_patchcore(extractor)
    dataset = open_datasets([str(args.data)], split="train")
    batches = training_batches(dataset, dataset.records, BATCH_SIZE, None, None, args.seed)
    seconds = fit_patchcore(model, (images for images, _valid in batches(0)), args.coreset_size)

    captured = {}
    generate_embedding = model.generate_embedding

    def capture(features):  # anomalib's own embedding of the batch, kept for the score variants
        captured["embedding"] = generate_embedding(features)
        return captured["embedding"]

    model.generate_embedding = capture

    def predict(images, _valid):
        maps, scores = predict_patchcore(model, images)
        emb = captured.pop("embedding")
        cells = emb.permute(0, 2, 3, 1).reshape(len(emb), -1, emb.shape[1])
        return maps, scores, score_variants(cells, model.memory_bank)

    def embed(images):  # the training embedding, as fit_patchcore stored it
        pooled = {k: model.feature_pooler(v) for k, v in model.feature_extractor(images).items()}
        return generate_embedding(pooled)

    info = {
        "anomalib": anomalib.__version__,
        "features": "seqcore_train FeatureExtractor.stage_maps",
        "pool": repr(model.feature_pooler),
        "blur_sigma": 4,
        **seconds,
    }
    return predict, info, lambda: training_coverage(args.data, embed, model.memory_bank)


def evaluate(predict, data: Path, crosscheck: bool) -> dict:
    """Image AUROC, pixel AUROC and AUPRO of one method on the test split, by seqcore_train.evaluation.metrics."""
    import numpy as np

    from seqcore_train.data.batches import sample_batches, to_tensors
    from seqcore_train.data.datasets import open_datasets
    from seqcore_train.evaluation.metrics import Evaluator, roc_auc

    dataset = open_datasets([str(data)], split="test")
    dataset.check()
    evaluator = Evaluator(dataset.classes, None)
    is_defect = dataset.classes.kinds_lookup()
    map_max, pixels, ids = [], [], []
    variants: dict[str, list[float]] = {}
    for samples in sample_batches(dataset, dataset.records, BATCH_SIZE):
        images, valid = to_tensors(samples)
        maps, scores, extra = predict(images, valid)
        for name, values in extra.items():
            variants.setdefault(name, []).extend(float(v) for v in values)
        for i, (sample, amap) in enumerate(zip(samples, maps.numpy(), strict=True)):
            ids.append(str(sample.record.image.relative_to(data)))
            # Each method's own image score (anomalib's is its re-weighted one).
            evaluator.update(sample, amap, float(scores[i]))
            map_max.append(float(amap[sample.valid].max()))
            if crosscheck:
                truth = is_defect[sample.semantic]
                pixels.append((amap[sample.valid], truth[sample.valid]))
    report = evaluator.result()
    result = {
        "image_auroc": report["image"]["auroc"],
        "pixel_auroc": report["pixel"]["auroc"],
        "aupro": report["pixel"]["aupro"],
        "test_images": report["images"],
    }
    # Per-image scores, in the data set's order (the same for every method): paired bootstrap.
    result["image_scores"] = [float(v) for v in evaluator.image_scores]
    result["image_labels"] = [bool(v) for v in evaluator.image_labels]
    result["image_ids"] = ids  # pairing check: every method must list the same images
    # For reference: image AUROC with the map's maximum as every method's image score.
    result["image_auroc_map_max"] = roc_auc(np.array(map_max), np.array(evaluator.image_labels))
    # Other image scores on the same cells and bank (bench/image_scores.py): "max" = largest
    # cell distance, "reweighted" = the PatchCore paper's / anomalib's re-weighting, b = 9.
    variants["map_max"] = map_max
    result["image_score_variants"] = variants
    result["image_auroc_variants"] = {
        name: roc_auc(np.array(values), np.array(evaluator.image_labels))
        for name, values in variants.items()
        if name != "weight"
    }
    if crosscheck:
        result["crosscheck"] = sklearn_crosscheck(result, evaluator, pixels)
    return result


def sklearn_crosscheck(result: dict, evaluator, pixels) -> dict:
    """The same AUROCs by scikit-learn's roc_auc_score on the raw scores."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    scores = np.concatenate([s for s, _ in pixels])
    truth = np.concatenate([t for _, t in pixels])
    pixel = float(roc_auc_score(truth, scores))
    image = float(roc_auc_score(evaluator.image_labels, evaluator.image_scores))
    return {
        "sklearn_pixel_auroc": pixel,
        "sklearn_image_auroc": image,
        "pixel_diff": result["pixel_auroc"] - pixel,
        "image_diff": result["image_auroc"] - image,
    }


# ================================================================================ report


def markdown_table(results: dict) -> str:
    lines = [
        "| category | method | image AUROC | pixel AUROC | AUPRO | fit s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for category, entry in results.items():
        for method, r in entry["methods"].items():
            if r:
                lines.append(
                    f"| {category} | {method} | {_f(r['image_auroc'])} | {_f(r['pixel_auroc'])} | "
                    f"{_f(r['aupro'])} | {r['fit_s']:.1f} | {r['peak_rss_mib']:.0f} |"
                )
    return "\n".join(lines)


def _f(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def targets(entry: dict) -> dict:
    """Does SeqCore's default meet the targets against anomalib on this category?"""
    ours, runs = entry["methods"]["seqcore"], anomalib_runs(entry)
    theirs = runs[0]

    def mean(key: str) -> float:  # over anomalib's KCenterGreedy seeds (one unless asked)
        return sum(r[key] for r in runs) / len(runs)

    image_delta = round(ours["image_auroc"] - mean("image_auroc"), 6)
    pixel_delta = round(ours["pixel_auroc"] - mean("pixel_auroc"), 6)
    fit_ratio = ours["fit_s"] / theirs["fit_s"]
    checks = {
        "image_auroc": image_delta >= -TOLERANCE,
        "pixel_auroc": pixel_delta >= -TOLERANCE,
        "fit_time": fit_ratio <= FIT_RATIO,
    }
    return {
        **checks,
        "met": all(checks.values()),
        "image_delta": image_delta,
        "image_delta_ci95": paired_bootstrap_ci(ours, runs),
        "anomalib_seeds": len(runs),
        "anomalib_image_aurocs": [r["image_auroc"] for r in runs],
        "pixel_delta": pixel_delta,
        "fit_ratio": round(fit_ratio, 3),
    }


def paired_bootstrap_ci(ours: dict, theirs: list[dict], rounds: int = 2000) -> list[float] | None:
    """95 % interval of (our - their mean) image AUROC over test sets resampled with replacement.

    Every run scores the same images, so each round draws one set of images for all: the
    interval shows how much of a difference the test set's size alone can make (not how much
    another coreset would: see `--anomalib-seeds`).
    """
    import numpy as np

    from seqcore_train.evaluation.metrics import roc_auc

    if any("image_scores" not in r for r in [ours, *theirs]):
        return None
    if any(ours.get("image_ids") != r.get("image_ids") for r in theirs):
        raise SystemExit("paired bootstrap: the methods did not score the same test images")
    a = np.asarray(ours["image_scores"])
    bs = [np.asarray(r["image_scores"]) for r in theirs]
    labels = np.asarray(ours["image_labels"])
    rng = np.random.default_rng(0)
    deltas = []
    for _ in range(rounds):
        pick = rng.integers(0, len(labels), len(labels))
        x = roc_auc(a[pick], labels[pick])
        ys = [roc_auc(b[pick], labels[pick]) for b in bs]
        if x is not None and None not in ys:
            deltas.append(x - sum(ys) / len(ys))
    low, high = np.percentile(deltas, [2.5, 97.5])
    return [round(float(low), 4), round(float(high), 4)]


def target_line(category: str, t: dict) -> str:
    def mark(ok: bool) -> str:
        return "ok" if ok else "MISS"

    return (
        f"{category}: SeqCore default {'MEETS' if t['met'] else 'MISSES'} the targets: "
        f"image AUROC {t['image_delta']:+.3f} vs anomalib"
        f"{'' if t.get('anomalib_seeds', 1) == 1 else ' (mean of ' + str(t['anomalib_seeds']) + ' seeds)'}"
        f" ({mark(t['image_auroc'])}; 95 % CI "
        f"{_ci(t.get('image_delta_ci95'))}), "
        f"pixel AUROC {t['pixel_delta']:+.3f} ({mark(t['pixel_auroc'])}), "
        f"fit time {t['fit_ratio']:.2f}x ({mark(t['fit_time'])}, needs <= {FIT_RATIO}x)"
    )


def _ci(interval) -> str:
    return "n/a" if interval is None else f"{interval[0]:+.3f} to {interval[1]:+.3f}"


def environment() -> dict:
    import anomalib
    import torch

    return {
        "cpus": os.cpu_count(),
        "worker_glibc_tunables": os.environ.get("GLIBC_TUNABLES", GLIBC_TUNABLES),
        "load_average_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "anomalib": anomalib.__version__,
        "machine": platform.processor() or platform.machine(),
    }


# ================================================================================ main


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: brick and grass, few images"
    )
    parser.add_argument(
        "--categories",
        nargs="+",
        default=None,
        help=f"subset of {', '.join(TEXTURES_FULL)}, rendered (default: all; --quick: brick grass)",
    )
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument(
        "--test-crops",
        type=int,
        default=TEST_CROPS,
        help=f"texture test crops per category: 40 %% good, 30 %% of each anomaly kind "
        f"(default {TEST_CROPS}; training stays at 40 crops)",
    )
    parser.add_argument(
        "--anomalib-seeds",
        type=int,
        default=1,
        help="fit anomalib with this many seeds (KCenterGreedy's random start and projection) "
        "and check the targets against their mean (default 1: seed 0 only)",
    )
    parser.add_argument(
        "--data-seed",
        type=int,
        default=0,
        help="another copy of the benchmark: other crops of the same photographs and other "
        "rendered plates, in their own folders (default 0)",
    )
    parser.add_argument("--coreset-ratio", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--render-train", type=int, default=32, help="training plates to render")
    parser.add_argument(
        "--render-test", type=int, default=RENDER_TEST, help="demo-test plates to render"
    )
    parser.add_argument("--resolution", type=int, nargs=2, default=(256, 192), metavar=("W", "H"))
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel")
    parser.add_argument("--out", type=Path, default=None, help="results JSON")
    args = parser.parse_args(argv)
    if args.test_crops < 10:
        parser.error(f"--test-crops: need at least 10, got {args.test_crops}")
    if args.anomalib_seeds < 1:
        parser.error(f"--anomalib-seeds: need at least 1, got {args.anomalib_seeds}")
    if args.categories is None:
        args.categories = ["brick", "grass"] if args.quick else [*TEXTURES_FULL, "rendered"]
    if args.out is None:
        args.out = OUT / ("accuracy-quick.json" if args.quick else "accuracy.json")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    env = environment()
    log(f"[setup] {env['cpus']} CPUs, load {env['load_average_at_start'][0]:.2f}, torch "
        f"{env['torch']}, anomalib {env['anomalib']}, {args.threads} torch threads")  # fmt: skip
    folders = build_data(args)
    results: dict[str, dict] = {}
    steps = len(folders) * (
        len(args.methods) + ("anomalib" in args.methods) * (args.anomalib_seeds - 1)
    )
    step = 0
    for index, (category, folder) in enumerate(folders.items()):
        patches, size = coreset_size(folder, args.coreset_ratio)
        log(f"[coreset] {category}: {patches} training patches -> coreset size {size} "
            f"({args.coreset_ratio:.0%}) for every method")  # fmt: skip
        results[category] = {"data": str(folder.relative_to(ROOT)), "patches": patches,
                             "coreset_size": size, "methods": {}}  # fmt: skip
        runs = [(m, s) for m in args.methods
                for s in range(args.anomalib_seeds if m == "anomalib" else 1)]  # fmt: skip
        for method, seed in runs:
            step += 1
            t0 = time.perf_counter()
            r = run_worker(
                method, folder, size, args, crosscheck=index == 0 and seed == 0, seed=seed
            )
            name = run_name(method, seed)
            results[category]["methods"][name] = r
            log(f"[{step:2d}/{steps}] {category:8s} {name:14s} fit {r['fit_s']:6.1f} s  peak "
                f"{r['peak_rss_mib']:5.0f} MiB  image {_f(r['image_auroc'])}  pixel "
                f"{_f(r['pixel_auroc'])}  AUPRO {_f(r['aupro'])}  ({time.perf_counter() - t0:.0f} s)")  # fmt: skip
            if "crosscheck" in r:
                c = r["crosscheck"]
                log(f"        cross-check vs sklearn roc_auc_score: image {c['image_diff']:+.2e}, "
                    f"pixel {c['pixel_diff']:+.2e}")  # fmt: skip
        if {"seqcore", "anomalib"} <= set(results[category]["methods"]):
            results[category]["targets"] = targets(results[category])
    summary = {
        "environment": env,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "methods": {
            "seqcore": "seqcore_train workflows.fit, default ModelConfig except coreset_size",
            "seqcore-greedy": "the same with sampler='greedy'",
            "anomalib": "anomalib PatchcoreModel + KCenterGreedy + AnomalyMapGenerator(sigma=4) "
            "on seqcore_train's efficientnet_lite0 blocks.4+blocks.10",
        },
        "results": results,
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1) + "\n")
    print()
    print(markdown_table(results))
    print()
    for category, entry in results.items():
        if "targets" in entry:
            print(target_line(category, entry["targets"]))
    print(f"\nwrote {args.out} ({summary['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        worker(sys.argv[2:])
    else:
        sys.exit(main(sys.argv[1:]))
