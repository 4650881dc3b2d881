"""GPU check (BENCHMARKS.md section `gpu`): CUDA results equal CPU results, then throughput.

    .venv/bin/python bench/gpu_check.py [--out bench/out/gpu_check.json] [--quick]

Without a CUDA device it says so and exits 0 (nothing to check). With one it
  1. streams the same patches through SequentialCoreset on the CPU and on the GPU and compares banks,
  2. compares 1-NN distances, Lite0 features and full anomaly maps between CPU and GPU,
  3. measures fit (images/s, coreset updates) and inference (images/s by chunk size) at 2448x2050,
     the real sensor's resolution.
Comparisons switch TF32 off (full float32 on both sides); throughput uses the defaults.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from coreset import textures  # noqa: E402

from seqcore_train.coreset import SequentialCoreset  # noqa: E402
from seqcore_train.distances import exact_distances  # noqa: E402
from seqcore_train.model import ModelConfig, SeqPatchCore  # noqa: E402
from seqcore_train.scoring import nn_distances  # noqa: E402

SENSOR = (2050, 2448)  # H, W
DEVICE = ["cuda"]  # --dry-run-on-cpu swaps in "cpu" to test this script itself without a GPU


def _sync():
    if DEVICE[0] == "cuda":
        torch.cuda.synchronize()


def _max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().cpu(), b.double().cpu()
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-12))


def check_equal(quick: bool) -> dict:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    results = {}
    # 1. Coreset: same patches, same order, both devices.
    model = SeqPatchCore(ModelConfig(), device="cpu")
    images = textures(2 if quick else 6, seed=11, size=512)
    patches = torch.cat([model.patches(images[i : i + 1]) for i in range(len(images))])
    size = 512 if quick else 2048
    banks = {}
    for device in ("cpu", DEVICE[0]):
        coreset = SequentialCoreset(size=size, chunk_size=2048, device=device)
        for _ in range(3):
            coreset.update(patches)
        banks[device] = (coreset.bank.cpu(), coreset.replacements)
    cpu_bank, gpu_bank = banks["cpu"][0], banks[DEVICE[0]][0]
    same_rows = int((exact_distances(gpu_bank, cpu_bank).min(dim=1).values == 0).sum())
    radius = [float(nn_distances(patches, b).max()) for b in (cpu_bank, gpu_bank)]
    results["coreset"] = {
        "patches": len(patches),
        "size": size,
        "identical": bool(torch.equal(cpu_bank, gpu_bank)),
        "shared_points": same_rows,
        "replacements_cpu": banks["cpu"][1],
        "replacements_cuda": banks[DEVICE[0]][1],
        "radius_cpu": radius[0],
        "radius_cuda": radius[1],
        "ok": bool(torch.equal(cpu_bank, gpu_bank))
        or abs(radius[0] - radius[1]) <= 0.01 * radius[0],
    }
    # 2. Distances.
    d_cpu = nn_distances(patches, cpu_bank)
    d_gpu = nn_distances(patches.to(DEVICE[0]), cpu_bank.to(DEVICE[0]))
    results["nn_distances"] = {"max_rel_diff": _max_rel(d_gpu, d_cpu)}
    results["nn_distances"]["ok"] = results["nn_distances"]["max_rel_diff"] < 1e-5
    # 3. Features and 4. anomaly maps.
    gpu_model = SeqPatchCore(ModelConfig(), device=DEVICE[0], bank=cpu_bank)
    cpu_model = SeqPatchCore(ModelConfig(), device="cpu", bank=cpu_bank)
    probe = textures(1, seed=12, size=512)
    probe[0, :, 200:260, 300:330] = 1.0
    f_rel = _max_rel(gpu_model.features(probe), cpu_model.features(probe))
    m_gpu, s_gpu = gpu_model.predict(probe)
    m_cpu, s_cpu = cpu_model.predict(probe)
    results["features"] = {"max_rel_diff": f_rel, "ok": f_rel < 1e-4}
    results["maps"] = {
        "max_rel_diff": _max_rel(m_gpu, m_cpu),
        "score_cpu": float(s_cpu[0]),
        "score_cuda": float(s_gpu[0]),
        "ok": _max_rel(m_gpu, m_cpu) < 1e-4,
    }
    torch.backends.cuda.matmul.allow_tf32 = False  # the library's default
    torch.backends.cudnn.allow_tf32 = True
    return results


def throughput(quick: bool) -> dict:
    h, w = SENSOR
    count = 4 if quick else 12
    data = torch.stack([_sensor_image(i) for i in range(count)])
    out = {"resolution": f"{w}x{h}"}
    model = SeqPatchCore(ModelConfig(), device=DEVICE[0])
    model.features(data[:1])
    _sync()

    def batches(epoch):
        for i in range(count):
            yield data[i : i + 1], None

    started = time.perf_counter()
    stats = model.fit(batches, epochs=2)
    _sync()
    took = time.perf_counter() - started
    out["fit"] = {
        "images_per_epoch": count,
        "epochs": len(stats),
        "patches_per_image": stats[0].patches // count,
        "seconds": took,
        "images_per_s": count * len(stats) / took,
        "epoch_seconds": [s.seconds for s in stats],
        "replacements": [s.replacements for s in stats],
    }
    rows = []
    for chunk in (2048, 8192, 32768):
        m = SeqPatchCore(
            dataclass_replace(model.config, chunk_size=chunk), device=DEVICE[0], bank=model.bank
        )
        m._extractor = model._extractor
        m.predict(data[:1])
        _sync()
        started = time.perf_counter()
        for i in range(count):
            m.predict(data[i : i + 1])
        _sync()
        rows.append({"chunk": chunk, "images_per_s": count / (time.perf_counter() - started)})
    out["inference"] = rows
    if DEVICE[0] == "cuda":
        out["gpu_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def dataclass_replace(config, **changes):
    import dataclasses

    return dataclasses.replace(config, **changes)


def _sensor_image(seed: int) -> torch.Tensor:
    tile = textures(1, seed=100 + seed, size=1024)[0]
    h, w = SENSOR
    return tile.repeat(1, 3, 3)[:, :h, :w].contiguous()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "gpu_check.json"))
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a short lease")
    parser.add_argument("--dry-run-on-cpu", action="store_true", help="run every step CPU vs CPU")
    args = parser.parse_args()
    if args.dry_run_on_cpu:
        DEVICE[0] = "cpu"
    elif not torch.cuda.is_available():
        print("CUDA not available: GPU check skipped (nothing measured).")
        return 0
    name = torch.cuda.get_device_name(0) if DEVICE[0] == "cuda" else "cpu (dry run)"
    report = {"device": name, "torch": torch.__version__}
    report["equal"] = check_equal(args.quick)
    report["throughput"] = throughput(args.quick)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    failed = [name for name, r in report["equal"].items() if not r["ok"]]
    print("CPU/GPU agreement:", "OK" if not failed else f"FAILED in {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
