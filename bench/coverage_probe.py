"""Image AUROC of coresets built from the same patches, with paired CIs (bench environment only).

For one texture category and data seed (training and test crops both follow the seed; seed 0 is
accuracy.py's data), or any MVTec-layout folder given with --data (the rendered set): every image
runs through the backbone once, and from the same stage outputs both SeqCore's patch features and
anomalib's embedding (its AvgPool2d(3, 1, 1) and bilinear `generate_embedding`) are formed.
Coresets of one size (10 % of the training patches):

  seq-E        SeqCore's `SequentialCoreset`, E passes over the patches in the product's order
               (image by image, row-major cells, the same order every pass; the default is 5)
  seq-conv     the same, passes until one makes no replacement (the paper's stopping rule)
  greedy       SeqCore's `greedy_kcenter` (`--sampler greedy`)
  anomalib     anomalib's `KCenterGreedy` on its own embedding, scored by its re-weighted score

Reported per bank: the last pass's replacements, d_m (smallest distance inside the bank), the
coverage of the training patches (distance to the nearest bank point: max = k-center radius), the
image AUROC with the product's image score (largest cell distance), and the paired, stratified
bootstrap CI95 of its difference to anomalib's image AUROC on the same test images.

    bench/out/venv/bin/python bench/coverage_probe.py grass --seed 0 --test-crops 600
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

from accuracy import GLIBC_TUNABLES

if "GLIBC_TUNABLES" not in os.environ:  # before torch: KCenterGreedy's growth (accuracy.py)
    os.execve(sys.executable, [sys.executable, *sys.argv],
              {**os.environ, "GLIBC_TUNABLES": GLIBC_TUNABLES})  # fmt: skip

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from auroc_study import auroc_matrix, paired_ci  # noqa: E402
from image_scores import coverage, nearest_bank_points, reweighted_scores  # noqa: E402
from texture_data import TextureSpec, build_texture_category  # noqa: E402

from seqcore_train.data.batches import sample_batches, to_tensors  # noqa: E402
from seqcore_train.data.datasets import open_datasets  # noqa: E402
from seqcore_train.model.coreset import SequentialCoreset, greedy_kcenter  # noqa: E402
from seqcore_train.model.features import FeatureExtractor  # noqa: E402

BATCH_SIZE = 4
OUT = HERE / "out"


def seqcore_embedding(extractor: FeatureExtractor, stages: dict, size) -> torch.Tensor:
    """FeatureExtractor.forward from already computed stage outputs (one backbone pass for both)."""
    return extractor.embed_stages(stages, size)


def cells(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1).reshape(len(x), -1, x.shape[1])


@torch.no_grad()
def embed_split(extractor, patchcore, data: Path, split: str) -> dict:
    dataset = open_datasets([str(data)], split=split)
    is_defect = dataset.classes.kinds_lookup()
    ours, theirs, ids, labels = [], [], [], []
    checked = False
    for samples in sample_batches(dataset, dataset.records, BATCH_SIZE):
        images, _valid = to_tensors(samples)
        stages = extractor.stage_maps(images)
        mine = seqcore_embedding(extractor, stages, images.shape[-2:])
        if not checked:  # the shortcut must give the product's features
            torch.testing.assert_close(mine, extractor(images), rtol=1e-5, atol=1e-5)
            checked = True
        ours.append(cells(mine))
        pooled = {k: patchcore.feature_pooler(v) for k, v in stages.items()}
        theirs.append(cells(patchcore.generate_embedding(pooled)))
        ids += [str(s.record.image.relative_to(data)) for s in samples]
        labels += [bool(is_defect[s.semantic].any()) for s in samples]
    return {"ours": torch.cat(ours), "theirs": torch.cat(theirs), "ids": ids, "labels": labels}


def image_max(test_cells: torch.Tensor, bank: torch.Tensor) -> np.ndarray:
    b, n, c = test_cells.shape
    dist, _ = nearest_bank_points(test_cells.reshape(-1, c), bank, 1)
    return dist.view(b, n).amax(dim=1).double().numpy()


def kcenter_anomalib(embedding: torch.Tensor, size: int, seed: int) -> torch.Tensor:
    """anomalib's KCenterGreedy down to exactly `size` points (as bench/anomalib_patchcore.py)."""
    from anomalib.models.components.sampling import KCenterGreedy

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    bank = KCenterGreedy(embedding, (size + 0.5) / len(embedding)).sample_coreset()
    assert len(bank) == size
    return bank


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("category")
    parser.add_argument("--seed", type=int, default=0, help="data seed (0 = accuracy.py's data)")
    parser.add_argument("--test-crops", type=int, default=600)
    parser.add_argument("--epochs", type=int, nargs="+", default=[5])
    parser.add_argument("--greedy-starts", type=int, default=3, help="greedy banks (random starts)")
    parser.add_argument(
        "--orders", type=int, default=2, help="seq-5 banks on shuffled image orders"
    )
    parser.add_argument("--anomalib-seeds", type=int, default=3, help="KCenterGreedy seeds")
    parser.add_argument("--max-epochs", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=None, help="append one JSON line here")
    parser.add_argument(
        "--data", type=Path, default=None,
        help="an MVTec-layout folder already built (e.g. bench/out/data/rendered) instead of "
        "building the texture CATEGORY; CATEGORY then only names the rows",
    )  # fmt: skip
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from anomalib_patchcore import build_patchcore

    started = time.perf_counter()
    if args.data is not None:
        data = args.data
    else:
        spec = TextureSpec.with_test_crops(args.test_crops, seed=args.seed)
        data = build_texture_category(
            args.category,
            OUT / "probe-data" / f"{args.category}-s{args.seed}-t{args.test_crops}",
            spec,
        )
    extractor = FeatureExtractor()
    patchcore = build_patchcore(extractor)
    train = embed_split(extractor, patchcore, data, "train")
    test = embed_split(extractor, patchcore, data, "test")
    patches = train["ours"].reshape(-1, train["ours"].shape[-1])
    size = round(0.1 * len(patches))
    labels = np.asarray(test["labels"])
    log = print
    log(f"[{args.category} seed {args.seed}] {len(patches)} training patches, {len(labels)} test "
        f"images ({(~labels).sum()} good), coreset {size} ({time.perf_counter() - started:.0f} s)")  # fmt: skip

    # anomalib: its KCenterGreedy on its embedding, its re-weighted score (the reference)
    theirs_train = train["theirs"].reshape(-1, train["theirs"].shape[-1])
    t0 = time.perf_counter()
    bank_a = kcenter_anomalib(theirs_train, size, 0)
    seconds = {"anomalib": time.perf_counter() - t0}
    reference = reweighted_scores(test["theirs"], bank_a, 9)["reweighted"]
    other_anomalib = {
        f"anomalib-s{k}": reweighted_scores(
            test["theirs"], kcenter_anomalib(theirs_train, size, k), 9
        )["reweighted"]
        for k in range(1, args.anomalib_seeds)
    }

    banks: dict[str, tuple[torch.Tensor, dict]] = {}
    coreset = SequentialCoreset(size)  # the product's default chunk
    t0 = time.perf_counter()
    for epoch in range(1, args.max_epochs + 1):
        before = coreset.replacements
        coreset.update(patches)
        replaced = coreset.replacements - before
        info = {"passes": epoch, "replaced": replaced, "d_m": coreset.d_m,
                "seconds": time.perf_counter() - t0}  # fmt: skip
        if epoch in args.epochs:
            banks[f"seq-{epoch}"] = (coreset.bank.clone(), info)
        if replaced == 0 and epoch > 1:
            break
    banks["seq-conv"] = (coreset.bank.clone(), info)
    per_image = train["ours"].shape[1]
    for k in range(1, args.orders + 1):  # the same images in another order, 5 passes
        order = torch.randperm(len(train["ours"]), generator=torch.Generator().manual_seed(k))
        shuffled = SequentialCoreset(size)  # the product's default chunk
        for _ in range(5):
            shuffled.update(train["ours"][order].reshape(-1, patches.shape[1]))
        banks[f"seq-5-order{k}"] = (shuffled.bank.clone(), {"passes": 5, "d_m": shuffled.d_m})
    assert per_image * len(train["ours"]) == len(patches)
    for k in range(args.greedy_starts):
        t0 = time.perf_counter()
        banks[f"greedy-s{k}"] = (
            greedy_kcenter(patches, size, torch.Generator().manual_seed(k)),
            {"seconds": time.perf_counter() - t0},
        )

    rows = {}
    a_auroc = float(auroc_matrix(reference[None], labels)[0])
    rows["anomalib"] = {
        "image_auroc": a_auroc,
        "coverage": coverage(theirs_train, bank_a),
        "seconds": seconds["anomalib"],
        "scores": reference.tolist(),
        "labels": labels.tolist(),
    }
    log(f"  anomalib: image AUROC {a_auroc:.3f}, radius {rows['anomalib']['coverage']['max']:.2f}")
    for name, scores in other_anomalib.items():
        auroc = float(auroc_matrix(scores[None], labels)[0])
        delta, low, high = paired_ci(scores, reference, labels, args.rounds)
        rows[name] = {"image_auroc": auroc, "delta": delta, "ci95": [low, high],
                      "scores": scores.tolist()}  # fmt: skip
        log(f"  {name:12s} image AUROC {auroc:.3f} {100 * delta:+5.1f} [{100 * low:+5.1f}, "
            f"{100 * high:+5.1f}] vs anomalib (seed 0)")  # fmt: skip
    for name, (bank, info) in banks.items():
        cov = coverage(patches, bank)
        ours = image_max(test["ours"], bank)
        auroc = float(auroc_matrix(ours[None], labels)[0])
        delta, low, high = paired_ci(ours, reference, labels, args.rounds)
        rows[name] = {**info, "coverage": cov, "image_auroc": auroc, "delta": delta,
                      "ci95": [low, high], "scores": ours.tolist()}  # fmt: skip
        log(f"  {name:12s} passes {info.get('passes', '-')!s:>3} last replaced "
            f"{info.get('replaced', '-')!s:>5} d_m {info.get('d_m', float('nan')):6.2f} radius "
            f"{cov['max']:6.2f} q99.9 {cov['q999']:6.2f} | image AUROC {auroc:.3f} "
            f"{100 * delta:+5.1f} [{100 * low:+5.1f}, {100 * high:+5.1f}] vs anomalib", flush=True)  # fmt: skip
    seq, greedy = np.asarray(rows["seq-5"]["scores"]), np.asarray(rows["greedy-s0"]["scores"])
    delta, low, high = paired_ci(seq, greedy, labels, args.rounds)
    rows["seq-5 minus greedy-s0"] = {"delta": delta, "ci95": [low, high]}
    log(f"  seq-5 minus greedy-s0: {100 * delta:+5.1f} [{100 * low:+5.1f}, {100 * high:+5.1f}]")
    if args.out:
        with args.out.open("a") as f:
            f.write(json.dumps({"category": args.category, "seed": args.seed,
                                "test_crops": args.test_crops, "rows": rows}) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
