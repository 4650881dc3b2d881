"""An experiment plan (TOML): which data sets, which of the paper's training scenarios, which seeds.

The plan is parsed and checked completely before anything runs; every problem is one line naming
the plan file and the key (`PlanError`). What it resolves to is a tree of frozen dataclasses.

    [experiment]
    seeds = [0, 1, 2]              # every scenario runs once per seed (mean ± std in the report)
    scenarios = ["all"]            # or paper row labels, e.g. ["Real", "Synth", "Synth (ft)"]
    meld_sizes = [0.5, 2.0]        # extra melds at these multiples of the coreset size
    coreset_size = 1024
    epochs = 5
    backbone = "efficientnet_lite0"
    batch_size = 4
    device = "auto"

    [render]                       # given to every render of the plan
    preset = "cpu"                 # resolution preset (sensor | cpu), or resolution = [W, H]
    samples = 32

    [data.synth]                   # one table per data role (see ROLES); either rendered ...
    count = 24
    [data.real_test]               # ... or an existing folder: path = "..." (relative to the plan)
    preset = "target-test"

A rendered training set (`per_seed`, the default for the train roles) is rendered once per seed,
with render seed `seed + 1000 * experiment_seed`: the seeds' spread then includes the training
plates' draw. Validation and test sets are rendered once, so every seed is scored on the same images.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path

from seqcore_train.errors import SeqCoreError
from seqcore_train.toml_file import read_toml

__all__ = [
    "PlanError",
    "RenderSettings",
    "DataSet",
    "Scenario",
    "Plan",
    "ROLES",
    "PAPER_ROWS",
    "scenario_catalogue",
    "load_plan",
    "scenario_folder",
    "slug",
]

SEED_STRIDE = 1000  # render seed of a per-seed data set: seed + SEED_STRIDE * experiment seed

# render.py's --light names (the add-on's core/vocabulary.LIGHTS; a test holds the two equal)
HEX, HEX_ROT90, HEX_X2, RING = "hex", "hex_rot90", "hex_x2", "ring"
LIGHTS = (HEX, HEX_ROT90, HEX_X2, RING)

# Data roles: what each scenario trains, calibrates and tests on. "real_*" is the target domain
# (the stand-in for the paper's unpublished real images); the synth sets are paired clean/stained
# renders, one per light of the paper's domain randomisation (Appendix A).
ROLES: dict[str, dict] = {
    "synth": {"variant": "paired", "light": (HEX,), "per_seed": True, "split": "train"},
    "synth_rot90": {"variant": "paired", "light": (HEX_ROT90,), "per_seed": True,
                    "split": "train"},
    "synth_x2": {"variant": "paired", "light": (HEX_X2,), "per_seed": True, "split": "train"},
    "real_train": {"preset": "target-train", "per_seed": True, "split": "train"},
    "real_val": {"preset": "target-val", "per_seed": False, "split": "val"},
    "real_test": {"preset": "target-test", "per_seed": False, "split": "test"},
}  # fmt: skip
# Each light set has its own seed: the paper's three DR sets share the parameter ranges, but "the
# specific parameters generated are different, making each image unique" (Appendix A).
DEFAULT_SEEDS = {"synth": 100, "synth_rot90": 200, "synth_x2": 300, "real_train": 400,
                 "real_val": 500, "real_test": 600}  # fmt: skip

CONTENT_PRESETS = ("demo-val", "demo-test", "target-train", "target-val", "target-test")
RESOLUTION_PRESETS = ("sensor", "cpu")
GPU_BACKENDS = ("optix", "cuda", "hip", "oneapi", "metal")  # render.py's --gpu-backend names
VARIANTS = ("paired", "clean", "stained")
DOMAINS = ("synthetic", "target")
LIGHT_MODES = ("each", "random")
IMPURITIES = ("water_stain", "fingerprint", "sticker")

# Table II's rows in the paper's order (Table I uses five of them).
PAPER_ROWS = (
    "Real", "Synth", "Synth_DA", "Synth_DR", "Synth_DR+DA",
    "Synth_WS", "Synth_WS+DA", "Synth_WS+DR", "Synth_WS+DR+DA",
    "Synth (ft)", "Synth_DA (ft)", "Synth_DR (ft)", "Synth_DR+DA (ft)",
    "Synth_WS (ft)", "Synth_WS+DA (ft)", "Synth_WS+DR (ft)", "Synth_WS+DR+DA (ft)",
    "Melding", "Melding_WS",
)  # fmt: skip


class PlanError(SeqCoreError):
    """A plan that cannot run; the message names the plan file and the key."""


@dataclass(frozen=True)
class RenderSettings:
    """What every render of the plan gets: a resolution (preset or W H) and Cycles samples."""

    resolution_preset: str | None = None
    resolution: tuple[int, int] | None = None  # W, H
    samples: int = 32
    view_width_mm: float | None = None
    bit_depth: int = 8
    device: str = "cpu"
    gpu_backend: str | None = None  # render.py --gpu-backend (None: the first one with a GPU)
    gpu_ids: tuple[int, ...] | None = None  # render.py --gpu-ids (None: every GPU)

    def arguments(self) -> list[str]:
        args = ["--samples", str(self.samples)]
        if self.resolution_preset:
            args += ["--preset", self.resolution_preset]
        if self.resolution:
            args += ["--resolution", *map(str, self.resolution)]
        if self.view_width_mm is not None:
            args += ["--view-width-mm", str(self.view_width_mm)]
        if self.bit_depth != 8:
            args += ["--bit-depth", str(self.bit_depth)]
        if self.device != "cpu":
            args += ["--device", self.device]
        if self.gpu_backend is not None:
            args += ["--gpu-backend", self.gpu_backend]
        if self.gpu_ids is not None:
            args += ["--gpu-ids", ",".join(map(str, self.gpu_ids))]
        return args


@dataclass(frozen=True)
class DataSet:
    """One data role: an existing folder (`path`) or a render of render.py."""

    role: str
    split: str  # the split the workflows read from it
    path: Path | None = None
    count: int | None = None  # None: the preset's own count (or render.py's default)
    seed: int = 0
    preset: str | None = None
    domain: str | None = None
    variant: str | None = None
    light: tuple[str, ...] = ()
    light_mode: str | None = None
    impurities: tuple[str, ...] | None = None
    args: tuple[str, ...] = ()  # further render.py arguments, passed as they are
    per_seed: bool = False

    @property
    def rendered(self) -> bool:
        return self.path is None

    def folder(self, out: Path, seed: int) -> Path:
        """Where this set lives for experiment seed `seed`."""
        if self.path is not None:
            return self.path
        name = f"{self.role}-s{seed}" if self.per_seed else self.role
        return Path(out) / "data" / name

    def render_seed(self, seed: int) -> int:
        return self.seed + SEED_STRIDE * seed if self.per_seed else self.seed

    def render_arguments(self, seed: int) -> list[str]:
        """render.py's options for this set (without --out and the plan's render settings)."""
        args = ["--split", self.split, "--seed", str(self.render_seed(seed))]
        if self.preset:
            args += ["--preset", self.preset]
        if self.count is not None:
            args += ["--count", str(self.count)]
        if self.domain:
            args += ["--domain", self.domain]
        if self.variant:
            args += ["--variant", self.variant]
        for light in self.light:
            args += ["--light", light]
        if self.light_mode:
            args += ["--light-mode", self.light_mode]
        if self.impurities is not None:
            args += ["--impurities", ",".join(self.impurities)]
        return args + list(self.args)


@dataclass(frozen=True)
class Scenario:
    """One row of Table II: how its model is made.

    kind "fit": a coreset from `train` (data roles, concatenated) with `variant` of the paired
    synthetic renders and `augment` ("none", "border": the black-out alone, "full": DA);
    kind "finetune": `base`'s coreset continued on the target training set;
    kind "meld": the coresets of `parts` melded to `meld_factor` times the coreset size.
    """

    label: str
    kind: str
    train: tuple[str, ...] = ()
    variant: str | None = None
    augment: str = "none"
    base: str | None = None
    parts: tuple[str, ...] = ()
    meld_factor: float = 1.0

    @property
    def needs(self) -> tuple[str, ...]:
        """The scenarios whose models this one starts from."""
        return (self.base,) if self.base else self.parts


def slug(label: str) -> str:
    """A folder name for a row label: 'Synth_WS+DR (ft)' -> 'synth_ws-dr_ft'."""
    text = label.lower().replace(" (ft)", "_ft").replace("+", "-")
    for old, new in ((" (", "_x"), ("x)", ""), (")", ""), (" ", "_")):
        text = text.replace(old, new)
    return text


def _meld_label(base: str, factor: float) -> str:
    return base if factor == 1.0 else f"{base} ({factor:g}x)"


def scenario_catalogue(meld_sizes: tuple[float, ...] = ()) -> dict[str, Scenario]:
    """Every scenario the runner knows, by the paper's label (plus the extra meld sizes)."""
    rows: dict[str, Scenario] = {"Real": Scenario("Real", "fit", train=("real_train",))}
    for ws, variant in (("", "clean"), ("_WS", "stained")):
        for dr, da in ((False, False), (False, True), (True, False), (True, True)):
            suffix = "+".join(["DR"] * dr + ["DA"] * da)
            label = f"Synth{ws}" + ("+" if ws and suffix else "_" if suffix else "") + suffix
            train = ("synth", "synth_rot90", "synth_x2") if dr else ("synth",)
            rows[label] = Scenario(
                label, "fit", train=train, variant=variant, augment="full" if da else "border"
            )
    for label in [k for k in rows if k.startswith("Synth")]:
        rows[f"{label} (ft)"] = Scenario(
            f"{label} (ft)", "finetune", train=("real_train",), base=label
        )
    for ws in ("", "_WS"):
        parts = ("Real", f"Synth{ws}", f"Synth{ws}{'+' if ws else '_'}DR",
                 f"Synth{ws}{'+' if ws else '_'}DA")  # fmt: skip
        for factor in (1.0, *meld_sizes):
            label = _meld_label(f"Melding{ws}", factor)
            rows[label] = Scenario(label, "meld", parts=parts, meld_factor=factor)
    return rows


@dataclass(frozen=True)
class Plan:
    path: Path
    seeds: tuple[int, ...]
    scenarios: tuple[Scenario, ...]  # dependencies first
    data: dict[str, DataSet]
    render: RenderSettings
    coreset_size: int
    epochs: int
    backbone: str
    batch_size: int
    device: str
    meld_sizes: tuple[float, ...]

    def roles_needed(self) -> tuple[str, ...]:
        roles = {"real_val", "real_test"}
        for scenario in self.scenarios:
            roles.update(scenario.train)
        return tuple(r for r in ROLES if r in roles)


class _Reader:
    """Typed access to one TOML table; every error names the plan file and the dotted key."""

    def __init__(self, path: Path, table: dict, where: str):
        self.path, self.table, self.where = path, table, where

    def fail(self, key: str, problem: str) -> PlanError:
        dotted = f"{self.where}.{key}" if self.where else key
        return PlanError(f"{self.path}: {dotted}: {problem}")

    def check_keys(self, known) -> None:
        for key in self.table:
            if key not in known:
                hint = difflib.get_close_matches(key, list(known), n=1)
                raise self.fail(
                    key, "unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                )

    def get(self, key, kind, default=None, check=None, problem=""):
        if key not in self.table:
            return default
        value = self.table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(key, f"expected {kinds[0].__name__}, got {value!r}")
        if not isinstance(value, kinds):
            raise self.fail(key, f"expected {kinds[0].__name__}, got {value!r}")
        if check is not None and not check(value):
            raise self.fail(key, f"{problem}, got {value!r}")
        return value

    def choice(self, key, choices, default=None):
        value = self.get(key, str, default)
        if value is not None and value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def strings(self, key, choices=None, default=None) -> tuple[str, ...] | None:
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"expected a string or a list of strings, got {value!r}")
        for item in value:
            if choices is not None and item not in choices:
                raise self.fail(key, f"{item!r} is not one of {', '.join(choices)}")
        return tuple(value)


def _positive(value) -> bool:
    return value >= 1


def _read_render(path: Path, table: dict) -> RenderSettings:
    reader = _Reader(path, table, "render")
    reader.check_keys({"preset", "resolution", "samples", "view_width_mm", "bit_depth", "device",
                       "gpu_backend", "gpu_ids"})  # fmt: skip
    preset = reader.choice("preset", RESOLUTION_PRESETS)
    resolution = reader.get("resolution", list)
    if resolution is not None:
        if len(resolution) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 8 for v in resolution
        ):
            raise reader.fail("resolution", f"expected [W, H], each >= 8, got {resolution!r}")
        resolution = tuple(resolution)
    view = reader.get("view_width_mm", (float, int), check=lambda v: v > 0, problem="must be > 0")
    device = reader.choice("device", ("cpu", "gpu"), "cpu")
    backend = reader.choice("gpu_backend", GPU_BACKENDS)
    gpu_ids = reader.get("gpu_ids", list)
    if gpu_ids is not None:
        if not gpu_ids or not all(
            isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in gpu_ids
        ):
            raise reader.fail("gpu_ids", f"expected GPU numbers such as [0, 2], got {gpu_ids!r}")
        if len(set(gpu_ids)) != len(gpu_ids):
            raise reader.fail("gpu_ids", f"a GPU is listed twice in {gpu_ids!r}")
        gpu_ids = tuple(gpu_ids)
    if device == "cpu" and (backend is not None or gpu_ids is not None):
        key = "gpu_backend" if backend is not None else "gpu_ids"
        raise reader.fail(key, 'needs device = "gpu"')
    return RenderSettings(
        resolution_preset=preset,
        resolution=resolution,
        samples=reader.get("samples", int, 32, _positive, "must be >= 1"),
        view_width_mm=None if view is None else float(view),
        bit_depth=reader.get("bit_depth", int, 8, lambda v: v in (8, 16), "must be 8 or 16"),
        device=device,
        gpu_backend=backend,
        gpu_ids=gpu_ids,
    )


def _read_data(path: Path, role: str, table) -> DataSet:
    where = f"data.{role}"
    if not isinstance(table, dict):
        raise PlanError(f"{path}: {where}: expected a table, got {table!r}")
    reader = _Reader(path, table, where)
    defaults = ROLES[role]
    if "path" in table:
        reader.check_keys({"path"})
        folder = Path(reader.get("path", str)).expanduser()
        folder = folder if folder.is_absolute() else (path.parent / folder)
        if not folder.exists():
            raise reader.fail("path", f"{folder} does not exist")
        return DataSet(role=role, split=defaults["split"], path=folder.resolve())
    reader.check_keys({"count", "seed", "preset", "domain", "variant", "light", "light_mode",
                       "impurities", "args", "per_seed"})  # fmt: skip
    args = reader.strings("args", default=())
    for arg in args:
        if arg in ("--out", "--split", "--seed", "--merge", "--shard"):
            raise reader.fail("args", f"{arg} is set by the runner")
    return DataSet(
        role=role,
        split=defaults["split"],
        count=reader.get("count", int, None, _positive, "must be >= 1"),
        seed=reader.get("seed", int, DEFAULT_SEEDS[role]),
        preset=reader.choice("preset", CONTENT_PRESETS, defaults.get("preset")),
        domain=reader.choice("domain", DOMAINS),
        variant=reader.choice("variant", VARIANTS, defaults.get("variant")),
        light=reader.strings("light", LIGHTS, defaults.get("light", ())),
        light_mode=reader.choice("light_mode", LIGHT_MODES),
        impurities=reader.strings("impurities", IMPURITIES),
        args=args,
        per_seed=reader.get("per_seed", bool, defaults["per_seed"]),
    )


def _select(path: Path, names, catalogue: dict[str, Scenario]) -> tuple[Scenario, ...]:
    """The requested scenarios plus the ones they start from, dependencies first."""
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise PlanError(
            f"{path}: experiment.scenarios: expected a non-empty list of row labels, got {names!r}"
        )
    wanted: list[str] = []
    for name in names:
        if name == "all":
            wanted += list(catalogue)
        elif name not in catalogue:
            hint = difflib.get_close_matches(name, list(catalogue), n=1)
            raise PlanError(
                f"{path}: experiment.scenarios: unknown scenario {name!r}"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
                + "; known: all, " + ", ".join(catalogue)
            )  # fmt: skip
        else:
            wanted.append(name)
    ordered: list[str] = []

    def visit(label: str) -> None:
        for need in catalogue[label].needs:
            visit(need)
        if label not in ordered:
            ordered.append(label)

    for label in wanted:
        visit(label)
    return tuple(catalogue[label] for label in ordered)


def load_plan(path: str | Path) -> Plan:
    """Parse and check a plan file; raises PlanError (one line) on the first problem."""
    path = Path(path)
    raw = read_toml(path, PlanError)
    top = _Reader(path, raw, "")
    top.check_keys({"experiment", "render", "data"})
    for key in ("experiment", "data"):
        if not isinstance(raw.get(key), dict):
            raise PlanError(f"{path}: [{key}]: missing (or not a table)")
    experiment = _Reader(path, raw["experiment"], "experiment")
    experiment.check_keys({"seeds", "scenarios", "meld_sizes", "coreset_size", "epochs",
                           "backbone", "batch_size", "device"})  # fmt: skip
    seeds = experiment.get("seeds", list, [0])
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise experiment.fail("seeds", f"expected a non-empty list of integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise experiment.fail("seeds", f"repeated seeds in {seeds!r}")
    meld_sizes = experiment.get("meld_sizes", list, [])
    if not all(
        isinstance(f, int | float) and not isinstance(f, bool) and f > 0 and math.isfinite(f)
        for f in meld_sizes
    ):
        raise experiment.fail("meld_sizes", f"expected positive numbers, got {meld_sizes!r}")
    meld_sizes = tuple(float(f) for f in meld_sizes if float(f) != 1.0)
    catalogue = scenario_catalogue(meld_sizes)
    scenarios = _select(path, raw["experiment"].get("scenarios", ["all"]), catalogue)
    coreset_size = experiment.get("coreset_size", int, 1024, _positive, "must be >= 1")
    for scenario in scenarios:
        if scenario.kind == "meld" and round(coreset_size * scenario.meld_factor) < 1:
            raise experiment.fail("meld_sizes", f"{scenario.meld_factor:g} x {coreset_size} < 1")

    from seqcore_train.model.features import BACKBONES  # the catalogue only: no weights are loaded

    backbone = experiment.get("backbone", str, "efficientnet_lite0")
    if backbone not in BACKBONES:
        raise experiment.fail(
            "backbone", f"unknown backbone {backbone!r} (have: {', '.join(sorted(BACKBONES))})"
        )
    device = experiment.get("device", str, "auto")
    from seqcore_train.devices import resolve_device

    try:  # "cuda:1" on a machine with one GPU fails here, before anything runs
        resolve_device(device)
    except SeqCoreError as exc:
        raise experiment.fail("device", str(exc)) from None
    render = _read_render(path, raw.get("render", {}))
    data_table = raw["data"]
    for role in data_table:
        if role not in ROLES:
            hint = difflib.get_close_matches(role, list(ROLES), n=1)
            raise PlanError(
                f"{path}: data.{role}: unknown data role"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
                + f"; known: {', '.join(ROLES)}"
            )
    plan = Plan(
        path=path,
        seeds=tuple(seeds),
        scenarios=scenarios,
        data={},
        render=render,
        coreset_size=coreset_size,
        epochs=experiment.get("epochs", int, 5, _positive, "must be >= 1"),
        backbone=backbone,
        batch_size=experiment.get("batch_size", int, 4, _positive, "must be >= 1"),
        device=device,
        meld_sizes=meld_sizes,
    )
    given = {role: _read_data(path, role, table) for role, table in data_table.items()}
    for role in plan.roles_needed():
        if role not in given:
            user = next(
                (s.label for s in scenarios if role in s.train), "calibration and evaluation"
            )
            raise PlanError(f"{path}: data.{role}: missing; {user} needs it")
    object.__setattr__(plan, "data", {r: given[r] for r in plan.roles_needed()})
    return plan


def scenario_folder(out: Path, seed: int, label: str) -> Path:
    """Where a finished scenario's files live in an experiment's output folder."""
    return Path(out) / "runs" / f"s{seed}" / slug(label)
