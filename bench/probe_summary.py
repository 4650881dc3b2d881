"""Summary of coverage_probe.py runs: mean image AUROC per coreset family, and how much it moves.

Families over the banks one probe built from the same patches: SeqCore sequential (5 passes in
the data's order and in shuffled image orders), SeqCore greedy (random starts) and anomalib
(KCenterGreedy seeds, its own embedding and re-weighted score). For each category and data seed:
the family's mean image AUROC, its spread (max - min over the family's banks), and two paired
bootstrap CI95s of (mean of a family's AUROCs - mean of anomalib's): over test images only, and
over test images and coresets (each round also redraws every family's banks with replacement, so
the luck of the coreset draw, which moves anomalib itself by up to 5 points, is in the interval).
Then per category the mean over data seeds and, last, over all categories and seeds, each with
the second kind of CI (the seeds' rounds averaged: independent data).

    .venv/bin/python bench/probe_summary.py bench/out/probe.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from auroc_study import auroc_matrix  # noqa: E402

FAMILIES = {
    "seqcore (sequential)": lambda name: name == "seq-5" or name.startswith("seq-5-order"),
    "seqcore greedy": lambda name: name.startswith("greedy-s"),
    "anomalib": lambda name: name == "anomalib" or name.startswith("anomalib-s"),
}


def family_scores(rows: dict) -> dict[str, np.ndarray]:
    out = {}
    for family, member in FAMILIES.items():
        names = sorted(n for n in rows if member(n) and "scores" in rows[n])
        out[family] = np.stack([np.asarray(rows[n]["scores"]) for n in names])
    return out


def mean_auroc(scores, labels, picks, boot_labels, rng) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean image AUROC over a family's banks on the full test set, and per bootstrap round: with
    the same banks, and with banks redrawn (with replacement) in every round."""
    full = np.mean([auroc_matrix(s[None], labels)[0] for s in scores])
    per_bank = np.stack([auroc_matrix(s[picks], boot_labels) for s in scores])  # (banks, rounds)
    rounds = per_bank.shape[1]
    drawn = rng.integers(0, len(scores), (len(scores), rounds))
    return float(full), per_bank.mean(axis=0), per_bank[drawn, np.arange(rounds)].mean(axis=0)


def _ci(deltas: np.ndarray) -> str:
    low, high = np.percentile(deltas, [2.5, 97.5])
    return f"{100 * low:+.1f} to {100 * high:+.1f}"


def main(argv: list[str]) -> int:
    rounds, rng = 2000, np.random.default_rng(0)
    print("| category | data seed | family | banks | mean image AUROC | spread | minus anomalib's mean "
          "| CI95 (test images) | CI95 (test images and coresets) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    pooled: dict[str, list[tuple[float, np.ndarray]]] = {}
    for line in Path(argv[0]).read_text().splitlines():
        run = json.loads(line)
        rows = run["rows"]
        labels = np.asarray(rows["anomalib"]["labels"], dtype=bool)
        fams = family_scores(rows)
        pos, neg = np.flatnonzero(labels), np.flatnonzero(~labels)
        picks = np.concatenate(
            [
                pos[rng.integers(0, len(pos), (rounds, len(pos)))],
                neg[rng.integers(0, len(neg), (rounds, len(neg)))],
            ],
            axis=1,
        )
        boot_labels = labels[picks[0]]

        ref, ref_boot, ref_drawn = mean_auroc(fams["anomalib"], labels, picks, boot_labels, rng)
        for family, scores in fams.items():
            aurocs = [auroc_matrix(s[None], labels)[0] for s in scores]
            mean, boot, drawn = mean_auroc(scores, labels, picks, boot_labels, rng)
            pooled.setdefault(f"{run['category']}|{family}", []).append(
                (mean - ref, drawn - ref_drawn)
            )
            print(f"| {run['category']} | {run['seed']} | {family} | {len(scores)} | {mean:.3f} | "
                  f"{100 * (max(aurocs) - min(aurocs)):.1f} | {100 * (mean - ref):+.1f} | "
                  f"{_ci(boot - ref_boot)} | {_ci(drawn - ref_drawn)} |")  # fmt: skip
    print("\nmean over data seeds of (family mean - anomalib mean), points, CI95 (test images and "
          "coresets):")  # fmt: skip
    overall: dict[str, list[tuple[float, np.ndarray]]] = {}
    for key, runs in pooled.items():
        category, family = key.split("|")
        overall.setdefault(family, []).extend(runs)
        deltas = [d for d, _ in runs]
        print(f"  {category:9s} {family:22s} {100 * np.mean(deltas):+.1f}  "
              f"[{_ci(np.mean([r for _, r in runs], axis=0))}]  "
              f"(per seed: {', '.join(f'{100 * d:+.1f}' for d in deltas)})")  # fmt: skip
    print("\nmean over every category and data seed:")
    for family, runs in overall.items():
        print(f"  {family:22s} {100 * np.mean([d for d, _ in runs]):+.1f}  "
              f"[{_ci(np.mean([r for _, r in runs], axis=0))}]  ({len(runs)} runs)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
