"""What an experiment plan costs before it runs: its work times unit costs.

Work: the images to render (synthetic and target), the image-epochs of every fit and fine-tune
(melds count nothing: seconds each) and the images scored (every scenario calibrates on the
validation set and is evaluated on the test set). Units: seconds per image rendered, per image and
epoch trained, per image scored. `REFERENCE_UNITS` are what the medium plan's run took on the
idle 2-core reference machine at the `cpu` preset (612×512 px, 16 samples, coreset 1024;
BENCHMARKS.md, "plans/medium.toml"): renders as render.py timed them, training and scoring as the
plan's mix of scenarios averaged out (most fits run without augmentation, and their second epoch
replays the first one's features). Other sizes scale them by pixels (and renders by samples too),
which holds to a few tens of percent. `bench/plan_cost.py` measures the units on the machine at
hand instead.
"""

from __future__ import annotations

from pathlib import Path

from seqcore_train.experiment.plan import Plan
from seqcore_train.experiment.status import duration, planned_images, render_jobs, scenario_jobs

__all__ = ["REFERENCE_UNITS", "plan_work", "reference_units", "estimate", "estimate_line"]

# the medium plan's run on the idle 2-core machine: `cpu` preset, 16 samples, coreset 1024
REFERENCE_UNITS = {
    "pixels": 612 * 512,
    "samples": 16,
    "render_synth_s": 6.7,  # one synthetic image (either half of a pair)
    "render_target_s": 6.0,  # one target-domain plate
    "epoch_image_s": 0.10,  # one image in one epoch, over the plan's mix of fits and fine-tunes
    "scored_image_s": 0.11,  # one image calibrated on or evaluated (maps, metrics, figures)
}
_PRESET_PIXELS = {"cpu": 612 * 512, "sensor": 2448 * 2050}


def plan_work(plan: Plan, out: Path | None = None) -> dict[str, int]:
    """Renders (synthetic / target images), image-epochs and images scored that are left to do
    in `out` (None: the whole plan, as if nothing were done)."""
    images = {role: planned_images(data) for role, data in plan.data.items()}
    if None in images.values():
        raise ValueError("a data set leaves its count to a preset: give every set a count")
    renders = {"synth": 0, "target": 0}
    folder = Path(out) if out is not None else Path("/nonexistent/seqcore-plan-cost")
    for job in render_jobs(plan, folder):
        if job.state == "to render":
            renders["target" if job.name.startswith("real") else "synth"] += job.images

    def trained_on(scenario) -> int:  # one side of a paired set
        return sum(
            images[r] // 2 if plan.data[r].variant == "paired" else images[r]
            for r in scenario.train
        )

    by_label = {s.label: s for s in plan.scenarios}
    left = [by_label[j.label] for j in scenario_jobs(plan, folder) if j.state != "finished"]
    scored = images["real_val"] + images["real_test"]
    return {
        "render_synth": renders["synth"],
        "render_target": renders["target"],
        "image_epochs": sum(trained_on(s) * plan.epochs for s in left if s.kind != "meld"),
        "scored": scored * len(left),
    }


def reference_units(plan: Plan) -> dict[str, float] | None:
    """REFERENCE_UNITS scaled to the plan's image size and samples; None when the plan's size is
    unknown here or it runs on a GPU (the CPU units say nothing about it)."""
    if plan.device not in ("cpu", "auto") or plan.render.device != "cpu":
        return None
    if plan.render.resolution:
        pixels = plan.render.resolution[0] * plan.render.resolution[1]
    else:
        pixels = _PRESET_PIXELS.get(plan.render.resolution_preset or "")
    if pixels is None:
        return None
    scale = pixels / REFERENCE_UNITS["pixels"]
    samples = (plan.render.samples or REFERENCE_UNITS["samples"]) / REFERENCE_UNITS["samples"]
    return {
        "render_synth_s": REFERENCE_UNITS["render_synth_s"] * scale * samples,
        "render_target_s": REFERENCE_UNITS["render_target_s"] * scale * samples,
        "epoch_image_s": REFERENCE_UNITS["epoch_image_s"] * scale,
        "scored_image_s": REFERENCE_UNITS["scored_image_s"] * scale,
    }


def estimate(work: dict[str, int], units: dict[str, float]) -> dict[str, float]:
    """Seconds per part (renders, training, scoring) and their total."""
    parts = {
        "renders": work["render_synth"] * units["render_synth_s"]
        + work["render_target"] * units["render_target_s"],
        "training": work["image_epochs"] * units["epoch_image_s"],
        "scoring": work["scored"] * units["scored_image_s"],
    }
    parts["total"] = sum(parts.values())
    return parts


def estimate_line(plan: Plan, out: Path) -> str:
    """The dry run's estimate of the work left, on the reference machine's units."""
    units = reference_units(plan)
    if units is None:
        return (
            "estimate: none here for this plan (a GPU or custom size): bench/plan_cost.py measures"
        )
    try:
        parts = estimate(plan_work(plan, out), units)
    except ValueError as exc:
        return f"estimate: none ({exc})"
    detail = ", ".join(
        f"{name} {duration(parts[name])}" for name in ("renders", "training", "scoring")
    )
    return (
        f"estimate on an idle 2-core CPU: about {duration(parts['total'])} ({detail}), plus a few "
        "minutes of start-ups and reports; bench/plan_cost.py measures this machine's own units"
    )
