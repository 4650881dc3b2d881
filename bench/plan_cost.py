"""What an experiment plan costs on this machine, before running it: the plan's work (the counts
`seqcore-train experiment --dry-run` lists) times unit costs measured here at the plan's settings.

    .venv/bin/python bench/plan_cost.py plans/paper.toml --cpu        # measure (≈ 35 min at sensor)
    .venv/bin/python bench/plan_cost.py plans/paper.toml --units bench/out/plan_cost.json

Units, each measured once in its own process at the plan's resolution, samples, coreset and backbone:
  render_synth_s   seconds for one synthetic image (a stained plate: a pair's halves cost alike),
                   render.py's own per-image seconds, so Blender's start-up is left out
  render_target_s  the same for one target-domain test plate
  epoch_image_s    seconds per image and epoch of `seqcore-train fit --augment` on the synthetic
                   image (the fit's own epoch lines; DA costs the most of the plan's augmentations)
  scored_image_s   seconds per image of `seqcore-train predict` (maps, metrics-sized work, files):
                   9 copies of the target plate minus 1, over 8, so the start-up cancels
Work (`seqcore_train.experiment.cost.plan_work`, what `--dry-run` estimates on reference units):
  renders          every data set's images, as render.py counts them
  image-epochs     per scenario and seed: the images it trains on (one side of the paired sets; fine-
                   tuning: the target training set) x epochs; melds count nothing (seconds each)
  images scored    per scenario and seed: the target validation and test images it is scored on
Start-ups and per-scenario costs (reports, figures: seconds each) are left out: they matter for a
tiny plan, not at the sensor size. Results go to bench/out/plan_cost.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from seqcore_train.experiment.cost import estimate, plan_work
from seqcore_train.experiment.plan import load_plan
from seqcore_train.experiment.runner import run_render
from seqcore_train.experiment.status import duration

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "seqcore_train.cli"]


def _run(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stderr[-2000:]}")
    return time.perf_counter() - started, done.stdout + done.stderr


def measure(plan, cpu: bool, folder: Path) -> dict:
    """One synthetic image, one target test plate, a fit, and predicts on one and nine plates."""
    render = dataclasses.replace(plan.render, device="cpu", gpu_backend=None, gpu_ids=None) \
        if cpu else plan.render  # fmt: skip
    device = "cpu" if cpu else plan.device
    units = {}
    for key, role in (("render_synth_s", "synth"), ("render_target_s", "real_test")):
        # one image each: a paired plate's stained half costs what its clean half does
        data = dataclasses.replace(plan.data[role], count=1, variant="stained")
        lines: list[str] = []

        def log(line: str, lines: list[str] = lines) -> None:
            print(line)
            lines.append(line)

        run_render(folder / role, data.render_arguments(0) + render.arguments(), role, log)
        # render.py's own seconds per image ("  synth [1/2] 000000_clean  643.0 s"): no start-up
        seconds = [float(s) for s in re.findall(r"\] \S+ +([\d.]+) s$", "\n".join(lines), re.M)]
        units[key] = sum(seconds) / len(seconds)
    data = [str(folder / "synth"), str(folder / "real_test")]
    model = folder / "model.safetensors"
    _, log = _run([*CLI, "fit", data[0], "--out", str(model), "--augment",
                   "--coreset-size", str(plan.coreset_size), "--epochs", "2", "--device", device,
                   "--backbone", plan.backbone])  # fmt: skip
    epoch_seconds = [float(s) for s in re.findall(r"epoch \d+: .*, ([\d.]+) s", log)]
    units["epoch_image_s"] = sum(epoch_seconds) / len(epoch_seconds)  # one image
    copies = folder / "copies"  # one image against nine: the difference is eight images' work
    copies.mkdir()
    image = next((folder / "real_test" / "images").glob("*.png"))
    for k in range(9):
        shutil.copyfile(image, copies / f"plate_{k}.png")
    argv = ["--threshold", "1", "--device", device]
    one, _ = _run([*CLI, "predict", str(model), str(copies / "plate_0.png"),
                   "--out", str(folder / "predict1"), *argv])  # fmt: skip
    nine, _ = _run([*CLI, "predict", str(model), str(copies), "--out", str(folder / "predict9"),
                    *argv])  # fmt: skip
    units["scored_image_s"] = max(nine - one, 0.0) / 8
    return units


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("plan", type=Path)
    parser.add_argument(
        "--cpu", action="store_true", help="measure on the CPU whatever the plan says"
    )
    parser.add_argument("--units", type=Path, help="reuse units from an earlier run's JSON")
    args = parser.parse_args()
    plan = load_plan(args.plan)
    amounts = plan_work(plan)
    if args.units:
        units = json.loads(args.units.read_text())["units"]
    else:
        with tempfile.TemporaryDirectory() as tmp:
            units = measure(plan, args.cpu, Path(tmp))
    parts = estimate(amounts, units)
    rows = [
        ("render, synthetic", amounts["render_synth"], "images", units["render_synth_s"]),
        ("render, target", amounts["render_target"], "images", units["render_target_s"]),
        ("fit / fine-tune", amounts["image_epochs"], "image-epochs", units["epoch_image_s"]),
        ("calibrate / evaluate", amounts["scored"], "images scored", units["scored_image_s"]),
    ]
    print(f"\n{args.plan} on this machine ({'CPU' if args.cpu else 'plan devices'})\n")
    print("| part | work | s per unit | estimate |\n|---|---|---|---|")
    total = parts["total"]
    for name, amount, unit, seconds in rows:
        print(f"| {name} | {amount} {unit} | {seconds:.2f} | {duration(amount * seconds)} |")
    print(f"| **total** | | | **{duration(total)}** ({total / 86400:.1f} days) |")
    out = ROOT / "bench" / "out" / "plan_cost.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"plan": str(args.plan), "cpu": args.cpu, "units": units,
                               "work": amounts, "seconds": total}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
