"""docs/figures/target_vs_synthetic.png: synthetic renders beside their target-domain twins.

The target domain (render.py --domain target) stands in for the paper's camera images: the same
plate and seed, photographed through a modelled lens and sensor, and with water stains of another
model than Algorithm 1 (residue films with darker, uneven rims, inner rings and a patchy interior).
Per row: the synthetic render with Algorithm-1 stains, its target twin, and the target's masks
(valid surface grey, its stains blue). One row per kind of view: at the plate's edge and inside it.
Run: .venv/bin/python bench/target_figure.py [--samples 16]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "figures" / "target_vs_synthetic.png"
RENDER = ROOT / "blender_addon" / "render.py"
PLATES = 8  # rendered per domain; the figure picks one edge view and one inside view


def _render(out: Path, domain: str, samples: int) -> dict:
    subprocess.run(
        [sys.executable, str(RENDER), "--out", str(out), "--count", str(PLATES), "--seed", "3",
         "--domain", domain, "--variant", "stained", "--impurities", "water_stain",
         "--resolution", "306", "256", "--view-width-mm", "20", "--samples", str(samples)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return json.loads((out / "manifest.json").read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import imageio.v3 as iio
    from figure_grid import save_image_grid

    with tempfile.TemporaryDirectory() as tmp:
        synthetic_dir, target_dir = Path(tmp) / "synthetic", Path(tmp) / "target"
        synthetic = _render(synthetic_dir, "synthetic", args.samples)["samples"]
        target = _render(target_dir, "target", args.samples)["samples"]
        edge = [s["params"]["target"]["edge"] is not None for s in target]
        picks = [edge.index(True), edge.index(False)]
        rows = []
        for k in picks:
            masks = target_dir / "masks"
            valid = iio.imread(masks / f"{target[k]['id']}_valid.png") > 0
            semantic = iio.imread(masks / f"{target[k]['id']}_semantic.png")
            overlay = np.where(valid, 110, 0).astype(np.uint8)[..., None].repeat(3, axis=-1)
            overlay[semantic == 4] = (60, 120, 255)
            rows.append((
                iio.imread(synthetic_dir / synthetic[k]["image"]),
                iio.imread(target_dir / target[k]["image"]),
                overlay,
                "view at the plate's edge" if edge[k] else "view inside the plate",
            ))  # fmt: skip

    titles = ("synthetic (Algorithm-1 stains)", "target twin (residue stains)",
              "target masks: valid grey, stains blue")  # fmt: skip
    grid = [
        [
            (image, f"{titles[c]}\n{label}" if c == 0 else titles[c])
            for c, image in enumerate(images)
        ]
        for *images, label in rows
    ]
    save_image_grid(grid, args.out, (12, 6.6))


if __name__ == "__main__":
    main()
