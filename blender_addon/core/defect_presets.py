"""Deterministic validation/test compositions: which defects and impurities each plate gets.

A preset is a fixed cycle of plate plans, so a dataset of a given size holds a known mix of clean
images, defect images (some with impurities, some with an impurity right beside a defect: the
prediction-leakage case) and impurity-only images; the cycle lists every class, so every full cycle
contains each one. Shapes and positions are still drawn from the plate's seeded generator.

The target-* presets render the "target" domain (core.target_domain), the stand-in for the paper's
real photographs: target-train holds nominal plates only, clean, without defects or impurities;
target-val and target-test place defects and impurities exactly
as demo-val and demo-test do. Two cycles of the test preset hold each defect class six times.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .defect_params import InstanceSpec
from .defects import DefectSettings, place_instances
from .errors import SettingsError
from .vocabulary import DEFECT_CLASSES, IMPURITY_CLASSES, PRESETS

__all__ = [
    "PlatePlan",
    "PresetInfo",
    "class_counts",
    "plan_instances",
    "preset_info",
    "preset_plan",
]


@dataclass(frozen=True)
class PlatePlan:
    """What one plate shows: defect and impurity classes (one instance each), water stains or not."""

    classes: tuple = ()
    water_stain: bool = False
    placement: str = "random"

    @property
    def kind(self) -> str:
        """'defect', 'impurity' (impurities only) or 'clean'."""
        if any(c in DEFECT_CLASSES for c in self.classes):
            return "defect"
        return "impurity" if self.classes or self.water_stain else "clean"

    def to_dict(self) -> dict:
        return {"classes": list(self.classes), "water_stain": self.water_stain,
                "placement": self.placement}  # fmt: skip


@dataclass(frozen=True)
class PresetInfo:
    name: str
    split: str
    count: int  # default number of plates: two full cycles
    cycle: tuple  # PlatePlan per plate, repeated
    domain: str = "synthetic"  # the render domain the preset implies unless one is given


def _p(*classes: str, stain: bool = False, beside: bool = False) -> PlatePlan:
    return PlatePlan(tuple(classes), stain, "next_to_defect" if beside else "random")


_TEST_CYCLE = (
    _p(),
    _p("scratch"),
    _p("bump", stain=True),
    _p("dent", "fingerprint", beside=True),
    _p(stain=True),
    _p("scratch", "dent", "sticker"),
    _p("fingerprint"),
    _p("bump", "scratch", "sticker", stain=True, beside=True),
    _p("sticker", stain=True),
    _p("dent", "bump", "fingerprint", stain=True),
)
# The paper's validation set is one defective plate seen from both sides: defects on both sides,
# impurities on one. So every validation plate holds defects, and impurities lie on half of them.
_VAL_CYCLE = (
    _p("scratch", "bump"),
    _p("dent"),
    _p("scratch", "dent"),
    _p("bump", "fingerprint", stain=True),
    _p("scratch", "sticker"),
    _p("dent", "fingerprint", stain=True, beside=True),
)
# nominal training plates: clean, without impurities (the paper added impurities to defective
# samples only), so a model trained on them has never seen a stain
_NOMINAL_CYCLE = (_p(),) * 6
_PRESETS = {
    "demo-val": PresetInfo("demo-val", "val", 2 * len(_VAL_CYCLE), _VAL_CYCLE),
    "demo-test": PresetInfo("demo-test", "test", 2 * len(_TEST_CYCLE), _TEST_CYCLE),
    "target-train": PresetInfo(
        "target-train", "train", 2 * len(_NOMINAL_CYCLE), _NOMINAL_CYCLE, "target"
    ),
    "target-val": PresetInfo("target-val", "val", 2 * len(_VAL_CYCLE), _VAL_CYCLE, "target"),
    "target-test": PresetInfo("target-test", "test", 2 * len(_TEST_CYCLE), _TEST_CYCLE, "target"),
}


def preset_info(name: str) -> PresetInfo:
    if name not in _PRESETS:
        raise SettingsError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return _PRESETS[name]


def preset_plan(name: str, plate: int) -> PlatePlan:
    """The plan of plate `plate` (0-based) of preset `name`."""
    cycle = preset_info(name).cycle
    return cycle[plate % len(cycle)]


def class_counts(name: str, count: int | None = None) -> dict[str, int]:
    """Instances of each defect and impurity class over `count` plates (default: the preset's)."""
    info = preset_info(name)
    count = info.count if count is None else count
    counts = dict.fromkeys(DEFECT_CLASSES + IMPURITY_CLASSES, 0)
    for plate in range(count):
        for c in preset_plan(name, plate).classes:
            counts[c] += 1
    return counts


def plan_instances(
    seed_sequence, plan: PlatePlan, settings: DefectSettings, view_rect_mm, attempts: int = 16
) -> list[InstanceSpec]:
    """Instances of every class in `plan`, placed with `plan.placement`.

    A draw that cannot fit them all (rare: a crowded view) is redrawn from the next generator
    of `seed_sequence`, so a plan's classes are guaranteed, not lucky, and still reproducible.
    """
    known = DEFECT_CLASSES + IMPURITY_CLASSES
    unknown = [c for c in plan.classes if c not in known]
    if unknown:
        raise ValueError(f"plate plan: unknown classes {unknown}")
    wanted = sorted(plan.classes)
    settings = replace(settings, placement=plan.placement)
    for attempt in range(attempts):
        rng = np.random.default_rng([*np.atleast_1d(seed_sequence).tolist(), attempt])
        specs = place_instances(rng, list(plan.classes), settings, view_rect_mm)
        if sorted(s.class_name for s in specs) == wanted:
            return specs
    raise SettingsError(
        f"plate plan {list(plan.classes)} does not fit in the view {view_rect_mm}: "
        "reduce the defect sizes or widen the view"
    )
