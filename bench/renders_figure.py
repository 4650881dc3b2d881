"""docs/figures/renders.png: what `make demo` renders, from its data folder.

Top: one training plate rendered clean and with water stains (Algorithm 1, same Cycles seed) and the
stains' mask. Bottom: a target-domain test plate with a scratch, a bump, a sticker and water stains
(residue films), its semantic mask (red scratch, yellow bump, green dent, white sticker, magenta
fingerprint, blue water stain) and its instance mask.
Run after `make demo`: .venv/bin/python bench/renders_figure.py [--data demo_out/data]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "figures" / "renders.png"
COLOURS = {1: (230, 40, 40), 2: (240, 210, 0), 3: (40, 200, 60), 4: (60, 120, 255),
           5: (220, 60, 220), 6: (255, 255, 255)}  # fmt: skip


def _semantic_rgb(semantic: np.ndarray) -> np.ndarray:
    out = np.zeros((*semantic.shape, 3), np.uint8)
    for class_id, colour in COLOURS.items():
        out[semantic == class_id] = colour
    return out


def _instance_rgb(instance: np.ndarray) -> np.ndarray:
    palette = np.random.default_rng(0).integers(60, 256, size=(int(instance.max()) + 1, 3))
    palette[0] = 0
    return palette[instance].astype(np.uint8)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "demo_out" / "data")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    import imageio.v3 as iio
    from figure_grid import save_image_grid

    train = json.loads((args.data / "train" / "manifest.json").read_text())["samples"]
    stained = next(
        s for s in train
        if s["id"].endswith("_stained") and any(i["class"] == "water_stain" for i in s["instances"])
    )  # fmt: skip
    clean = next(s for s in train if s["id"] == stained["id"].replace("_stained", "_clean"))
    test = json.loads((args.data / "test" / "manifest.json").read_text())["samples"]
    wanted = {"scratch", "bump", "sticker", "water_stain"}
    plate = next(s for s in test if wanted <= {i["class"] for i in s["instances"]})

    def read(folder: str, relative: str) -> np.ndarray:
        return iio.imread(args.data / folder / relative)

    stain_mask = read("train", stained["semantic_mask"]) == 4
    rows = [
        [(read("train", clean["image"]), "clean render"),
         (read("train", stained["image"]), "its water-stained pair (Algorithm 1)"),
         (np.where(stain_mask, 255, 0).astype(np.uint8), "stain mask")],
        [(read("test", plate["image"]), "target-domain test plate"),
         (_semantic_rgb(read("test", plate["semantic_mask"])), "semantic mask"),
         (_instance_rgb(read("test", plate["instance_mask"])), "instance mask")],
    ]  # fmt: skip
    save_image_grid(rows, args.out, (12, 6.8))
    print(f"train {stained['id']}, test {plate['id']}")


if __name__ == "__main__":
    main()
