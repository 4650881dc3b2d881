"""How much of each test scratch a model flags, by the scratch's angle to the brushing.

Reads a rendered test set's manifest (the scratch's Bezier control points, the plate's brushing
direction and, in the target domain, its turn) and an evaluation's per_image.json (per instance:
mask pixels and flagged pixels at the threshold), and prints one line per angle band: scratches,
their mean flagged share and the flagged share of their pixels together (what R_PX counts).
Run: .venv/bin/python bench/scratch_angle.py DATA/manifest.json EVAL/per_image.json
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import math
from pathlib import Path

EDGES = (15.0, 45.0)  # bands 0-15, 15-45 and 45-90 degrees


def scratch_angles(manifest: dict, per_image: dict) -> list[tuple[float, int, int]]:
    """(angle to the brushing in degrees, 0-90; mask pixels; flagged pixels) per scratch."""
    scored = {image["id"]: image["instances"] for image in per_image["images"]}
    rows = []
    for sample in manifest["samples"]:
        if sample["id"] not in scored:
            continue
        params = sample["params"]
        turn = (params.get("target") or {}).get("texture_factors", {}).get("direction_turn_deg", 0)
        brushing = params["texture"]["direction_deg"] + turn
        counts = scored[sample["id"]]  # [class, pixels, flagged] in the manifest's instance order
        if len(counts) != len(sample["instances"]):
            raise ValueError(f"sample {sample['id']}: per_image.json does not match the manifest")
        for instance, (cls, pixels, flagged) in zip(sample["instances"], counts, strict=True):
            if cls != "scratch" or not pixels:
                continue
            (x0, y0), *_, (x1, y1) = instance["params"]["control_points_mm"]
            angle = math.degrees(math.atan2(y1 - y0, x1 - x0)) - brushing
            rows.append((abs((angle + 90.0) % 180.0 - 90.0), pixels, flagged))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("per_image", type=Path)
    args = parser.parse_args()
    rows = scratch_angles(
        json.loads(args.manifest.read_text()), json.loads(args.per_image.read_text())
    )
    print("| angle to the brushing | scratches | mean flagged share | flagged pixels |")
    print("|---|---:|---:|---:|")
    bounds = (0.0, *EDGES, 90.0)
    for k, (low, high) in enumerate(itertools.pairwise(bounds)):
        band = [r for r in rows if bisect.bisect_right(EDGES, r[0]) == k]
        if not band:
            continue
        mean = 100 * sum(f / n for _, n, f in band) / len(band)
        pooled = 100 * sum(f for *_, f in band) / sum(n for _, n, _ in band)
        print(f"| {low:.0f}–{high:.0f}° | {len(band)} | {mean:.0f} % | {pooled:.0f} % |")


if __name__ == "__main__":
    main()
