"""GPU check (BENCHMARKS.md section `gpu`): CUDA results equal CPU results, then throughput per GPU.

    .venv/bin/python bench/gpu_check.py [--out bench/out/gpu_check.json] [--quick] [--no-ray]

Without a CUDA device it says so and exits 0 (nothing to check). With one it
  1. streams the same patches through SequentialCoreset on the CPU and on cuda:0 and compares banks,
  2. compares 1-NN distances, Lite0 features and full anomaly maps between CPU and GPU,
  3. measures fit (images/s, coreset updates) and inference (images/s by chunk size) on cuda:0 at
     2448x2050, the real sensor's resolution,
  4. per GPU, in one process per GPU that sees only its own GPU (CUDA_VISIBLE_DEVICES=i, as a Ray
     task with num_gpus=1 does): fit and predict images/s at 512², and render.py --device gpu images/s
     (Cycles, first image apart: it loads the kernels); each GPU alone, then all at once,
  5. the same worker as Ray tasks with num_gpus=1 on a local Ray cluster of all GPUs (the scheduling
     `seqcore-train cluster` uses), when Ray is installed (`pip install 'seqcore-train[ray]'`);
     without Ray, or with --no-ray, step 5 is reported as skipped and step 4 stands for it.
Comparisons switch TF32 off (full float32 on both sides); throughput uses the defaults.
--dry-run-on-cpu runs every step on the CPU (one "GPU", render.py --device cpu) to test this script.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from coreset import textures  # noqa: E402

from seqcore_train.model.coreset import SequentialCoreset  # noqa: E402
from seqcore_train.model.distances import exact_distances  # noqa: E402
from seqcore_train.model.patchcore import ModelConfig, SeqPatchCore  # noqa: E402
from seqcore_train.model.scoring import nn_distances  # noqa: E402

SENSOR = (2050, 2448)  # H, W
RENDER_PY = ROOT / "blender_addon" / "render.py"
DEVICE = ["cuda:0"]  # --dry-run-on-cpu swaps in "cpu" to test this script itself without a GPU


def _sync():
    if DEVICE[0].startswith("cuda"):
        torch.cuda.synchronize(DEVICE[0])


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
    if DEVICE[0].startswith("cuda"):
        out["gpu_peak_mib"] = torch.cuda.max_memory_allocated(DEVICE[0]) / 2**20
    return out


def dataclass_replace(config, **changes):
    import dataclasses

    return dataclasses.replace(config, **changes)


def _sensor_image(seed: int) -> torch.Tensor:
    tile = textures(1, seed=100 + seed, size=1024)[0]
    h, w = SENSOR
    return tile.repeat(1, 3, 3)[:, :h, :w].contiguous()


# -- 4./5. one worker per GPU -------------------------------------------------------------------
WORKLOAD = {  # (images, size) of fit/predict; (images, W, H, samples) of the render
    "quick": {"model": (8, 512), "render": (4, 640, 536, 32)},
    "full": {"model": (24, 512), "render": (8, 1224, 1025, 64)},
    "dry": {"model": (2, 128), "render": (2, 96, 80, 2)},  # the CPU stand-in: plumbing only
}


def _workload(device: str, quick: bool) -> dict:
    return WORKLOAD["dry" if device == "cpu" else "quick" if quick else "full"]


PARTS = ("equal", "sensor", "per-gpu", "ray")
_PROGRESS = re.compile(r"^\[\s*\d+/\d+\]\s+\S+\s+([0-9.]+) s$")


def measure_worker(device: str, quick: bool) -> dict:
    """What one GPU does alone: fit and predict images/s, render images/s. Runs in the process
    whose CUDA_VISIBLE_DEVICES names that GPU, so `device` is "cuda" (its only GPU) or "cpu"."""
    n, size = _workload(device, quick)["model"]
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    data = textures(n, seed=21, size=size)
    model = SeqPatchCore(ModelConfig(), device=device)
    model.features(data[:1])  # backbone built and warm
    sync()
    started = time.perf_counter()
    model.fit(lambda epoch: ((data[i : i + 1], None) for i in range(n)), epochs=1)
    sync()
    fit_s = time.perf_counter() - started
    model.predict(data[:1])
    sync()
    started = time.perf_counter()
    for i in range(n):
        model.predict(data[i : i + 1])
    sync()
    predict_s = time.perf_counter() - started
    out = {
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "gpus_seen": torch.cuda.device_count() if device == "cuda" else 0,
        "model_images": n,
        "model_size": size,
        "fit_images_per_s": n / fit_s,
        "predict_images_per_s": n / predict_s,
    }
    out.update(_render(device, quick))
    return out


def _render(device: str, quick: bool) -> dict:
    """render.py on this process's GPU; the first image (kernel loading) is reported apart."""
    count, width, height, samples = _workload(device, quick)["render"]
    with tempfile.TemporaryDirectory(prefix="gpu_check_render_") as work:
        command = [sys.executable, str(RENDER_PY), "--out", str(Path(work) / "ds")]
        command += ["--count", str(count), "--variant", "stained", "--resolution", str(width)]
        command += [str(height), "--samples", str(samples), "--seed", "3"]
        command += ["--device", "gpu", "--gpu-ids", "0"] if device == "cuda" else []
        started = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        wall = time.perf_counter() - started
    if proc.returncode != 0:
        return {"render_error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    seconds = [float(m.group(1)) for m in map(_PROGRESS.match, proc.stdout.splitlines()) if m]
    rest = seconds[1:] or seconds
    return {
        "render": f"{count} x {width}x{height}, {samples} samples",
        "render_first_image_s": seconds[0] if seconds else None,
        "render_images_per_s": len(rest) / sum(rest) if rest and sum(rest) > 0 else None,
        "render_wall_s": wall,
    }


def _worker_command(quick: bool, device: str) -> list[str]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", device]
    return command + (["--quick"] if quick else [])


def _last_json(text: str) -> dict:
    lines = [line for line in text.strip().splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {"error": "no result line"}


def _run_workers(visible: list[str], quick: bool, device: str) -> list[dict]:
    """One worker process per entry of `visible` (a CUDA_VISIBLE_DEVICES value), all at once."""
    procs = []
    for value in visible:
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": value}
        procs.append(
            subprocess.Popen(
                _worker_command(quick, device), env=env, stdout=subprocess.PIPE, text=True
            )
        )
    return [_last_json(p.communicate()[0]) for p in procs]


def _total(rows: list[dict], key: str) -> float | None:
    values = [r.get(key) for r in rows]
    return sum(values) if values and all(v is not None for v in values) else None


def per_gpu(gpus: int, quick: bool, dry: bool) -> dict:
    device = "cpu" if dry else "cuda"
    ids = [""] if dry else [str(i) for i in range(gpus)]  # dry: no GPU visible
    alone = [_run_workers([i], quick, device)[0] for i in (ids[:1] if quick else ids)]
    together = _run_workers(ids, quick, device) if len(ids) > 1 else alone
    keys = ("fit_images_per_s", "predict_images_per_s", "render_images_per_s")
    return {
        "alone": alone,
        "together": together,
        "together_total": {k: _total(together, k) for k in keys},
    }


def ray_per_gpu(gpus: int, quick: bool, dry: bool) -> dict:
    """The worker as Ray tasks with num_gpus=1 (Ray sets each task's CUDA_VISIBLE_DEVICES)."""
    try:
        import ray
    except ModuleNotFoundError:
        return {"skipped": "Ray is not installed (pip install 'seqcore-train[ray]')"}
    device = "cpu" if dry else "cuda"
    command = _worker_command(quick, device)

    def task():
        proc = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ))
        result = _last_json(proc.stdout)
        result["ray_gpu_ids"] = [str(i) for i in ray.get_gpu_ids()]
        return result

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    tasks = 1 if dry else gpus
    ray.init(
        num_cpus=max(1, tasks),
        num_gpus=0 if dry else gpus,
        include_dashboard=False,
        logging_level="WARNING",
    )
    try:
        remote = ray.remote(num_gpus=0 if dry else 1, num_cpus=1, max_retries=0)(task)
        started = time.perf_counter()
        rows = ray.get([remote.remote() for _ in range(tasks)])
        wall = time.perf_counter() - started
    finally:
        ray.shutdown()
    keys = ("fit_images_per_s", "predict_images_per_s", "render_images_per_s")
    distinct = len({tuple(r.get("ray_gpu_ids", ())) for r in rows}) == len(rows)
    return {
        "tasks": rows,
        "wall_s": wall,
        "total": {k: _total(rows, k) for k in keys},
        "one_gpu_per_task": dry or (distinct and all(r.get("gpus_seen") == 1 for r in rows)),
    }


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "gpu_check.json"))
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a short lease")
    parser.add_argument("--dry-run-on-cpu", action="store_true", help="run every step on the CPU")
    parser.add_argument("--no-ray", action="store_true", help="skip step 5 (Ray tasks)")
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        metavar="PART,...",
        help=f"run only these parts: {', '.join(PARTS)} (steps 1-2, 3, 4, 5; default all)",
    )
    parser.add_argument("--worker", choices=("cuda", "cpu"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"--only {unknown[0]}: unknown part (use {', '.join(PARTS)})")
    if args.no_ray and "ray" in parts:
        parts.remove("ray")
    if args.worker:  # one GPU's measurements, as a JSON line (steps 4 and 5)
        print(json.dumps(measure_worker(args.worker, args.quick)), flush=True)
        return 0
    gpus = (
        0
        if args.dry_run_on_cpu
        else (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    )
    if args.dry_run_on_cpu:
        DEVICE[0] = "cpu"
    elif gpus == 0:
        print("CUDA not available: GPU check skipped (nothing measured).")
        return 0
    names = [torch.cuda.get_device_name(i) for i in range(gpus)] or ["cpu (dry run)"]
    report = {"devices": names, "torch": torch.__version__}
    if "equal" in parts:
        report["equal"] = check_equal(args.quick)
    if "sensor" in parts:
        report["throughput"] = throughput(args.quick)
    if "per-gpu" in parts:
        report["per_gpu"] = per_gpu(gpus, args.quick, args.dry_run_on_cpu)
    if "ray" in parts:
        report["ray"] = ray_per_gpu(gpus, args.quick, args.dry_run_on_cpu)
    _write_atomic(Path(args.out), json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    failed = [name for name, r in report.get("equal", {}).items() if not r["ok"]]
    if "equal" in report:
        print("CPU/GPU agreement:", "OK" if not failed else f"FAILED in {', '.join(failed)}")
    per_gpu_rows = report.get("per_gpu", {})
    workers = per_gpu_rows.get("alone", []) + per_gpu_rows.get("together", [])
    workers += report.get("ray", {}).get("tasks", [])
    errors = [e for e in (r.get("render_error") or r.get("error") for r in workers) if e]
    if errors:
        print(f"a GPU worker failed: {errors[0]}")
    return 1 if failed or errors else 0


if __name__ == "__main__":
    sys.exit(main())
