"""Default feature pooling and map blur, importable without torch (the CLI shows them in --help).

The defaults are PatchCore's: on textures they score about 3 pixel-AUROC points above the paper's
choice (BENCHMARKS.md, accuracy). The paper chose kernel 2 and sigma 2 for its plate images, where
sigma 4 flagged too much in the over-exposed reflection; the demo and the experiments use those.
"""

POOL_KERNEL = 3
BLUR_SIGMA = 4.0
PAPER_POOL_KERNEL = 2
PAPER_BLUR_SIGMA = 2.0
