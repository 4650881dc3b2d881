"""The README's figure of a user's part: clean render, stained render, stain mask, valid mask.

    python examples/scenes/build_bracket.py /tmp/bracket.blend
    python blender_addon/render.py --scene /tmp/bracket.blend --out /tmp/bracket_ds --count 1 \
        --camera "Camera Side" --resolution 320 240 --samples 32 --seed 2
    python examples/scenes/figure.py /tmp/bracket_ds docs/figures/user_scene.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from shared_schemas import load_manifest


def figure(dataset: Path, out: Path) -> Path:
    manifest = load_manifest(dataset)
    stained = next(s for s in manifest.samples if s.variant == "stained")
    clean = next(s for s in manifest.samples if s.pair == stained.pair and s is not stained)

    def read(name):
        return np.asarray(Image.open(dataset / name))

    stains = read(stained.semantic_mask) > 0
    valid = read(stained.valid_mask) > 0
    mask = np.where(stains[..., None], (70, 140, 255), np.where(valid[..., None], 60, 0))
    row = [read(clean.image), read(stained.image), mask.astype(np.uint8)]
    gap = np.full((row[0].shape[0], 4, 3), 255, np.uint8)
    Image.fromarray(np.concatenate([row[0], gap, row[1], gap, row[2]], axis=1)).save(out)
    return out


if __name__ == "__main__":
    print(figure(Path(sys.argv[1]), Path(sys.argv[2])))
