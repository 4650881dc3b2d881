"""What an experiment plan has left to do in an output folder, and how long the rest should take.

`seqcore-train experiment --dry-run` prints `describe(...)`; the runner keeps a `Progress` and logs
its line after every render and scenario. The estimate of the time left extrapolates this run's own
rates (seconds per rendered image, seconds per scenario), so it means something only once one of
each has run, and it assumes the rest looks like what ran: later scenarios that train on more
images (DR, fine-tuning) take longer than the mean.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from seqcore_train.experiment.plan import DataSet, Plan, scenario_folder

__all__ = [
    "RenderJob",
    "ScenarioJob",
    "render_marker",
    "planned_images",
    "render_jobs",
    "scenario_jobs",
    "Progress",
    "describe",
    "duration",
]


def render_marker(folder: Path) -> Path:
    """The file that records a finished render of `folder` (its render.py arguments, images, time)."""
    return folder.with_name(folder.name + ".render.json")


def planned_images(data: DataSet) -> int | None:
    """Images render.py writes for this set, counted as it counts them: plates x views (--grid) x
    lights (light mode "each") x 2 when paired. None when the count is left to a preset."""
    if data.count is None:
        return None
    views = 1
    if "--grid" in data.args:
        at = data.args.index("--grid")
        views = int(data.args[at + 1]) * int(data.args[at + 2])
    lights = len(data.light) if data.light_mode == "each" and data.light else 1
    # render.py's default variant is paired; a content preset makes it stained
    variant = data.variant or ("stained" if data.preset else "paired")
    return data.count * views * lights * (2 if variant == "paired" else 1)


@dataclass(frozen=True)
class RenderJob:
    name: str  # the folder's name, e.g. synth-s0
    folder: Path
    images: int | None  # None: the preset's count, known once rendered
    state: str  # "rendered", "to render" or "existing folder"


@dataclass(frozen=True)
class ScenarioJob:
    seed: int
    label: str
    kind: str
    source: str  # what it starts from: data roles (fit, finetune's added data) or melded rows
    state: str  # "finished", "to run", or "in progress (train, calibrate done)"


def render_jobs(plan: Plan, out: Path) -> list[RenderJob]:
    """Every data set of the plan, once, in the runner's order (seed by seed)."""
    jobs: dict[Path, RenderJob] = {}
    for seed in plan.seeds:
        for data in plan.data.values():
            folder = data.folder(out, seed)
            if folder in jobs:
                continue
            marker = render_marker(folder)
            if not data.rendered:
                state, images = "existing folder", None
            elif marker.is_file():
                state = "rendered"
                images = json.loads(marker.read_text(encoding="utf-8")).get("images")
            else:
                state, images = "to render", planned_images(data)
            jobs[folder] = RenderJob(folder.name, folder, images, state)
    return list(jobs.values())


def scenario_jobs(plan: Plan, out: Path) -> list[ScenarioJob]:
    """Every scenario of every seed, in the runner's order, with what an earlier run finished."""
    jobs = []
    for seed in plan.seeds:
        for scenario in plan.scenarios:
            final = scenario_folder(out, seed, scenario.label)
            work = final.parent / ".work" / final.name
            steps = [k for k in ("train", "calibrate", "evaluate")
                     if (work / f"{k}.done.json").is_file()]  # fmt: skip
            if final.exists():
                state = "finished"
            elif steps:
                state = f"in progress ({', '.join(steps)} done)"
            else:
                state = "to run"
            source = " + ".join((*scenario.needs, *scenario.train))  # rows, then data roles
            jobs.append(ScenarioJob(seed, scenario.label, scenario.kind, source, state))
    return jobs


def duration(seconds: float) -> str:
    """'45 s', '12 min', '3 h 05 min'."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:  # from 59.5 min on, the hour: 1 h 00 min
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


@dataclass
class Progress:
    """Counts of finished work and this run's rates; `line()` says where the run stands."""

    scenarios: int  # scenario runs in the plan (seeds x scenarios)
    images_to_render: int | None  # images still to render at the start (None: some unknown)
    scenarios_done: int = 0  # finished earlier or in this run
    clock: Callable[[], float] = time.perf_counter
    _started: float = field(init=False)
    _ran: list[float] = field(init=False, default_factory=list)  # seconds of each scenario run
    _rendered: int = field(init=False, default=0)
    _render_seconds: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._started = self.clock()

    def rendered(self, images: int, seconds: float) -> None:
        self._rendered += images
        self._render_seconds += seconds

    def scenario_done(self, seconds: float | None = None) -> None:
        """One more scenario finished; `seconds` when it ran here (None: finished earlier)."""
        self.scenarios_done += 1
        if seconds is not None:
            self._ran.append(seconds)

    def seconds_left(self) -> float | None:
        """This run's rates times the work left; None until every rate needed has been seen."""
        left = 0.0
        scenarios_left = self.scenarios - self.scenarios_done
        if scenarios_left:
            if not self._ran:
                return None
            left += scenarios_left * sum(self._ran) / len(self._ran)
        if self.images_to_render is None:
            return None
        images_left = max(self.images_to_render - self._rendered, 0)
        if images_left:
            if not self._rendered:
                return None
            left += images_left * self._render_seconds / self._rendered
        return left

    def line(self) -> str:
        text = f"progress: {self.scenarios_done}/{self.scenarios} scenarios"
        if self.images_to_render:
            text += f", {self._rendered}/{self.images_to_render} images rendered"
        text += f", {duration(self.clock() - self._started)} elapsed"
        left = self.seconds_left()
        return text + (f", about {duration(left)} left" if left else "")  # None: not known yet


def describe(plan: Plan, out: Path) -> list[str]:
    """The dry run's listing: every render and scenario with its state, then the totals."""
    renders, scenarios = render_jobs(plan, out), scenario_jobs(plan, out)
    size = plan.render.resolution_preset or (
        "x".join(map(str, plan.render.resolution)) if plan.render.resolution else "default"
    )
    lines = [f"plan {plan.path} -> {out}",
             f"renders ({size} resolution, {plan.render.samples} samples, {plan.render.device}):"]  # fmt: skip
    for job in renders:
        images = "preset's count" if job.images is None else f"{job.images} images"
        lines.append(f"  {job.name:<16} {images:>14}  {job.state}")
    epochs = f"{plan.epochs} epoch" + ("s" if plan.epochs != 1 else "")
    lines.append(f"scenarios (coreset {plan.coreset_size}, {epochs}, device {plan.device}):")
    for job in scenarios:
        lines.append(f"  s{job.seed} {job.label:<22} {job.kind:<8} {job.source:<44} {job.state}")
    pending = [j for j in renders if j.state == "to render"]
    images = [j.images for j in pending]
    count = "an unknown number of" if None in images else str(sum(images))
    runs = sum(j.state != "finished" for j in scenarios)
    lines.append(
        f"to do: {len(pending)} renders ({count} images), {runs} of {len(scenarios)} scenarios"
    )
    return lines
