"""Default coreset size, screening chunk, feature pooling, map blur and tile size, importable without
torch (the CLI shows them in --help).

The defaults are PatchCore's: on textures they score about 3 pixel-AUROC points above the paper's
choice (BENCHMARKS.md, accuracy). The paper chose kernel 2 and sigma 2 for its plate images, where
sigma 4 flagged too much in the over-exposed reflection; the demo and the experiments use those.
"""

CORESET_SIZE = 2048
CHUNK_SIZE = 512  # patches screened per matrix product; CPUs like small chunks, GPUs 2048 or more
POOL_KERNEL = 3
BLUR_SIGMA = 4.0
PAPER_POOL_KERNEL = 2
PAPER_BLUR_SIGMA = 2.0

# A batch of more pixels than this goes through the backbone one image and one tile at a time, with
# the same features (tiling.py); Lite0 holds about 320 bytes of activations per pixel, so a pass
# stays near 0.65 GB. A 2448 x 2050 sensor image becomes three strips; 512^2 batches are untouched.
TILE_PIXELS = 2_000_000
