"""Appendix A's three fields, measured: share of plate pixels below 60, at 150-250 and at 255, per light.

Renders PLATES plates per light (synthetic, paired variant's stained half, with defects and water
stains) and the same plates in the target domain, with render.py at the cpu preset's view (20 mm;
the camera's distance follows the view, so the shares hold at any view width), and prints one
table row per light and domain. Background pixels (valid mask 0) do not count.
Run: .venv/bin/python bench/field_shares.py [--plates 6] [--resolution 306 256] [--samples 16]
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
RENDER = ROOT / "blender_addon" / "render.py"
LIGHTS = ("hex", "hex_rot90", "hex_x2", "ring")


def image_shares(image: np.ndarray, valid: np.ndarray | None = None) -> tuple[float, float, float]:
    """(below 60, 150-250, 255) shares of an 8-bit RGB image's valid pixels (grey level: the
    channels' mean; clipped: every channel at 255)."""
    valid = np.ones(image.shape[:2], bool) if valid is None else valid
    grey = image.astype(np.float64).mean(axis=-1)[valid]
    clipped = (image.min(axis=-1) >= 255)[valid]
    return (
        float(np.mean(grey < 60)),
        float(np.mean((grey >= 150) & (grey <= 250))),
        float(np.mean(clipped)),
    )


def shares(folder: Path) -> tuple[float, float, float]:
    """Mean over a dataset's images of `image_shares`, background (valid 0) left out."""
    import imageio.v3 as iio

    manifest = json.loads((folder / "manifest.json").read_text())
    rows = []
    for sample in manifest["samples"]:
        image = iio.imread(folder / sample["image"])
        valid_path = folder / "masks" / f"{sample['id']}_valid.png"
        valid = iio.imread(valid_path) > 0 if valid_path.exists() else None
        rows.append(image_shares(image, valid))
    return tuple(float(v) for v in np.mean(rows, axis=0))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plates", type=int, default=6)
    parser.add_argument("--resolution", type=int, nargs=2, default=(306, 256))
    parser.add_argument("--samples", type=int, default=16)
    args = parser.parse_args(argv)
    print(f"{args.plates} plates per light, {args.resolution[0]}x{args.resolution[1]}, 20 mm view, "
          f"{args.samples} samples")  # fmt: skip
    print("| light | domain | below 60 | 150-250 | 255 |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for light in LIGHTS:
            for domain in ("synthetic", "target"):
                out = Path(tmp) / f"{light}-{domain}"
                subprocess.run(
                    [sys.executable, str(RENDER), "--out", str(out), "--count", str(args.plates),
                     "--light", light, "--domain", domain, "--variant", "stained", "--defects",
                     "1-2", "--impurities", "water_stain", "--view-width-mm", "20",
                     "--resolution", *map(str, args.resolution), "--samples", str(args.samples)],
                    check=True, stdout=subprocess.DEVNULL,
                )  # fmt: skip
                dark, bright, clipped = shares(out)
                print(f"| {light} | {domain} | {dark:.1%} | {bright:.1%} | {clipped:.1%} |")


if __name__ == "__main__":
    main()
