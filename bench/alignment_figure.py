"""docs/figures/alignment.png: small squares on a plain image and where the anomaly map peaks.

A model is fitted on plain noisy grey images (EfficientNet-Lite0, its real weights, the defaults);
the test image holds bright 5 px squares at odd positions on a 200 x 270 image (not a multiple of
32). The figure shows the image, the map with a cross on each square's centre, and each square's
offset from the map's local peak. Run: .venv/bin/python bench/alignment_figure.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from figure_grid import save_figure
from matplotlib.figure import Figure

from seqcore_train.model.patchcore import ModelConfig, SeqPatchCore

SIZE = (200, 270)
SQUARES = [(30, 41), (57, 150), (101, 230), (133, 77), (170, 187)]
OUT = Path(__file__).resolve().parents[1] / "docs" / "figures" / "alignment.png"


def plain(rng, n):
    return torch.from_numpy((0.45 + 0.02 * rng.standard_normal((n, 3, *SIZE))).astype(np.float32))


def main() -> None:
    rng = np.random.default_rng(0)
    model = SeqPatchCore(ModelConfig(coreset_size=512), device="cpu")
    train = plain(rng, 4)
    model.fit(lambda epoch: [(train, None)], epochs=2)
    image = plain(rng, 1)
    for y, x in SQUARES:
        image[0, :, y - 2 : y + 3, x - 2 : x + 3] = 1.0
    amap = model.predict(image)[0][0].numpy()
    offsets = []
    for y, x in SQUARES:  # the map's peak within 12 px of each square
        window = amap[y - 12 : y + 13, x - 12 : x + 13]
        py, px = np.unravel_index(int(window.argmax()), window.shape)
        offsets.append((py - 12, px - 12))
    figure = Figure(figsize=(10, 3.6))
    left, right = figure.subplots(1, 2)
    left.imshow(image[0].permute(1, 2, 0).numpy(), vmin=0, vmax=1)
    left.set_title("test image: five 5 px squares")
    right.imshow(amap, cmap="inferno")
    right.scatter([x for _, x in SQUARES], [y for y, _ in SQUARES], marker="+", c="cyan", s=80)
    text = ", ".join(f"({dy:+d},{dx:+d})" for dy, dx in offsets)
    right.set_title(f"anomaly map, + = square centre\npeak offset (dy, dx) px: {text}", fontsize=9)
    save_figure(figure, OUT)
    print(f"peak offsets {offsets}")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
