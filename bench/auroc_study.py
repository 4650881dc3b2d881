"""Image-AUROC differences against anomalib with paired bootstrap intervals, from accuracy.py's JSON.

Every method in an accuracy run scores the same test images (checked by their paths), so the
difference of two image AUROCs is estimated on one resampled test set per round: the interval
shows what the test set's size alone can make of it. Resampling is stratified (good and anomalous
images are drawn separately, so every round has the run's class counts).

    .venv/bin/python bench/auroc_study.py bench/out/accuracy-test600.json [--rounds 2000]

Rows: each method with its own image score and with the variants its worker recorded
(bench/image_scores.py): "max" = largest cell distance (SeqCore's score), "reweighted" = the
PatchCore paper's / anomalib's re-weighting (b = 9), "map_max" = the blurred map's maximum. The
reference is anomalib with its own (re-weighted) score. Coverage: distances of the training
patches to their nearest bank point (max = k-center radius).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REFERENCE = ("anomalib", "own")


def auroc_matrix(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of `scores` (R, N) against one label vector (ties count half)."""
    pos, neg = scores[:, labels], scores[:, ~labels]
    # Mann-Whitney by sorting the negatives once per row: rank of each positive among negatives.
    neg_sorted = np.sort(neg, axis=1)
    below = np.stack(
        [np.searchsorted(row, p, side="left") for row, p in zip(neg_sorted, pos, strict=True)]
    )
    upto = np.stack(
        [np.searchsorted(row, p, side="right") for row, p in zip(neg_sorted, pos, strict=True)]
    )
    return (below + 0.5 * (upto - below)).sum(axis=1) / (pos.shape[1] * neg.shape[1])


def paired_ci(
    a: np.ndarray, b: np.ndarray, labels: np.ndarray, rounds: int, seed: int = 0
) -> tuple[float, float, float]:
    """(AUROC(a) - AUROC(b), 2.5 %, 97.5 % of the stratified paired bootstrap)."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(labels), np.flatnonzero(~labels)
    picks = np.concatenate(
        [
            pos[rng.integers(0, len(pos), (rounds, len(pos)))],
            neg[rng.integers(0, len(neg), (rounds, len(neg)))],
        ],
        axis=1,
    )
    boot_labels = labels[picks[0]]  # the same class layout in every round
    deltas = auroc_matrix(a[picks], boot_labels) - auroc_matrix(b[picks], boot_labels)
    delta = auroc_matrix(a[None], labels)[0] - auroc_matrix(b[None], labels)[0]
    low, high = np.percentile(deltas, [2.5, 97.5])
    return float(delta), float(low), float(high)


def score_rows(entry: dict) -> dict[tuple[str, str], np.ndarray]:
    rows = {}
    for method, r in entry["methods"].items():
        rows[(method, "own")] = np.asarray(r["image_scores"])
        for name, values in r.get("image_score_variants", {}).items():
            if name != "weight":
                rows[(method, name)] = np.asarray(values)
    return rows


def study(entry: dict, rounds: int) -> list[dict]:
    methods = entry["methods"]
    ids = {m: r.get("image_ids") for m, r in methods.items()}
    if len({json.dumps(v) for v in ids.values()}) != 1 or None in ids.values():
        raise SystemExit("the methods did not score the same test images (image_ids differ)")
    labels = np.asarray(next(iter(methods.values()))["image_labels"], dtype=bool)
    rows = score_rows(entry)
    reference = rows[REFERENCE]
    out = []
    for (method, variant), scores in rows.items():
        auroc = float(auroc_matrix(scores[None], labels)[0])
        delta, low, high = paired_ci(scores, reference, labels, rounds)
        out.append(
            {
                "method": method,
                "score": variant,
                "auroc": auroc,
                "delta": delta,
                "ci95": [low, high],
            }
        )
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, nargs="+", help="accuracy.py JSON files")
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=None, help="write the table as JSON too")
    args = parser.parse_args(argv)
    report = {}
    for path in args.results:
        data = json.loads(path.read_text())
        for category, entry in data["results"].items():
            if not {"anomalib"} <= set(entry["methods"]):
                continue
            key = f"{path.stem}:{category}"
            rows = study(entry, args.rounds)
            labels = entry["methods"]["anomalib"]["image_labels"]
            print(
                f"\n{key}: {len(labels) - sum(labels)} good + {sum(labels)} anomalous test images"
            )
            print("| method | image score | image AUROC | minus anomalib's | paired CI95 |")
            print("|---|---|---|---|---|")
            for r in rows:
                print(
                    f"| {r['method']} | {r['score']} | {r['auroc']:.3f} | {100 * r['delta']:+.1f} | "
                    f"{100 * r['ci95'][0]:+.1f} to {100 * r['ci95'][1]:+.1f} |"
                )
            coverage = {m: r["coverage"] for m, r in entry["methods"].items() if "coverage" in r}
            for m, c in coverage.items():
                print(
                    f"  coverage {m:15s} max {c['max']:.2f}  q99.9 {c['q999']:.2f}  "
                    f"q99 {c['q99']:.2f}  q50 {c['q50']:.2f}"
                )
            report[key] = {"rows": rows, "coverage": coverage}
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
