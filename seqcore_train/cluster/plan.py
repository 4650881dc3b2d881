"""Cluster plans (no Ray, no torch): the TOML file, the shard plan, the meld tree, the file layout.

A cluster plan says what `seqcore-train cluster` renders, fits, melds, calibrates and evaluates:

    [cluster]                  cpus_per_task = 1, retries = 3
    [render.<name>]            args = [render.py options], shards = N
    [fit]                      data = ["@train", "PATH"], coreset_size, epochs, backbone, ...
    [meld]                     k = 2, coreset_size (the final size), epochs, seed
    [calibrate] / [evaluate]   data = ["@val"] / ["@test"]

`@name` is a rendered set (`OUT/data/<name>`); in [fit] it stands for one data shard per render
shard of that set, any other DATA entry is one data shard of its own. Everything the executors run
is derived here, in one fixed order, so Ray and the sequential executor run the very same steps:
render shard i of every set, one fit per data shard, then the meld tree level by level (node m of a
level melds children m*k .. m*k+k-1 of the level below; a lone child is carried up unchanged).

Layout of OUT (shared storage on a cluster: every node reads and writes these paths):

    OUT/plan.toml                          the plan as last run
    OUT/data/<name>/                       a rendered set: images, shard manifests, manifest.json
    OUT/data/<name>.render.json            marker: rendered with these arguments, merged
    OUT/shards/<name>-<i>-of-<n>/          fit data shard: a manifest of render shard i's samples
    OUT/fit/shard-<j>.safetensors          coreset of data shard j (+ .settings.json)
    OUT/meld/l<level>-n<node>.safetensors  one node of the meld tree
    OUT/model.safetensors                  the root, calibrated
    OUT/eval/                              report.md, report.json, figures
    OUT/.running/<step>.log                one line per attempt (pid, host): retries show here
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Sequence
from pathlib import Path

from seqcore_train.errors import SeqCoreError
from seqcore_train.model_defaults import BLUR_SIGMA, POOL_KERNEL
from seqcore_train.toml_file import read_toml

__all__ = [
    "ClusterPlanError",
    "ClusterPlan",
    "RenderSet",
    "FitSettings",
    "MeldSettings",
    "DataShard",
    "MeldNode",
    "Layout",
    "load_cluster_plan",
    "data_shards",
    "meld_tree",
    "STAGES",
]

STAGES = ("render", "fit", "meld", "calibrate", "evaluate")
# render.py options the executors set themselves (per shard, per --device)
_RUNNER_OPTIONS = ("--out", "--shard", "--merge", "--device")


class ClusterPlanError(SeqCoreError):
    """A cluster plan that cannot run; the message names the file and the key."""


@dataclasses.dataclass(frozen=True)
class RenderSet:
    name: str
    args: tuple[str, ...]  # render.py options, without --out/--shard/--device
    shards: int


@dataclasses.dataclass(frozen=True)
class FitSettings:
    data: tuple[str, ...]
    coreset_size: int = 1024
    epochs: int = 1
    backbone: str = "efficientnet_lite0"
    pool_kernel: int = POOL_KERNEL
    blur_sigma: float = BLUR_SIGMA
    sampler: str = "sequential"
    batch_size: int | str = "auto"  # "auto": the toolkit's choice for the device and image size
    image_size: tuple[int, int] | None = None  # (H, W)
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class MeldSettings:
    k: int = 2
    coreset_size: int | None = None  # None: fit.coreset_size
    epochs: int = 1
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class EvalData:
    data: tuple[str, ...]
    split: str | None = None
    min_component_size: int = 1


@dataclasses.dataclass(frozen=True)
class ClusterPlan:
    path: Path
    renders: tuple[RenderSet, ...]
    fit: FitSettings
    meld: MeldSettings
    calibrate: EvalData | None
    evaluate: EvalData | None
    cpus_per_task: int = 1
    retries: int = 3

    def render_set(self, name: str) -> RenderSet:
        return next(r for r in self.renders if r.name == name)

    @property
    def final_size(self) -> int:
        return self.meld.coreset_size or self.fit.coreset_size


@dataclasses.dataclass(frozen=True)
class DataShard:
    """One fit task's data: a rendered set's shard (`source` = (name, i, n)) or a DATA path."""

    index: int  # 0-based, the position in the meld tree's leaves
    data: str  # the DATA argument the fit reads (a sub-manifest folder for rendered shards)
    source: tuple[str, int, int] | None = None


@dataclasses.dataclass(frozen=True)
class MeldNode:
    level: int  # 1 = melds fit outputs
    index: int
    children: tuple[Path, ...]
    out: Path


class Layout:
    """Where each step of a plan writes in OUT; the one place that names files."""

    def __init__(self, out: Path):
        self.out = Path(out)

    def rendered(self, name: str) -> Path:
        return self.out / "data" / name

    def render_marker(self, name: str) -> Path:
        return self.out / "data" / f"{name}.render.json"

    def shard_data(self, name: str, index: int, count: int) -> Path:
        return self.out / "shards" / f"{name}-{index}-of-{count}"

    def fit_model(self, shard: int) -> Path:
        return self.out / "fit" / f"shard-{shard}.safetensors"

    def meld_model(self, level: int, index: int) -> Path:
        return self.out / "meld" / f"l{level}-n{index}.safetensors"

    @property
    def model(self) -> Path:
        return self.out / "model.safetensors"

    @property
    def evaluation(self) -> Path:
        return self.out / "eval"

    def attempts(self, step: str) -> Path:
        return self.out / ".running" / f"{step}.log"

    def data_argument(self, entry: str) -> str:
        """A plan DATA entry as a path: `@name[::filters]` -> OUT/data/name[::filters]."""
        if not entry.startswith("@"):
            return entry
        name, sep, filters = entry[1:].partition("::")
        return str(self.rendered(name)) + (f"::{filters}" if sep else "")


def data_shards(plan: ClusterPlan, layout: Layout) -> list[DataShard]:
    """The fit tasks' data, in meld-tree leaf order: the plan's [fit] data entries, rendered sets
    expanded into their render shards."""
    shards: list[DataShard] = []
    for entry in plan.fit.data:
        if not entry.startswith("@"):
            shards.append(DataShard(len(shards), entry))
            continue
        name, sep, filters = entry[1:].partition("::")
        count = plan.render_set(name).shards
        for i in range(1, count + 1):
            folder = str(layout.shard_data(name, i, count)) + (f"::{filters}" if sep else "")
            shards.append(DataShard(len(shards), folder, (name, i, count)))
    return shards


def meld_tree(leaves: Sequence[Path], k: int, layout: Layout) -> list[list[MeldNode]]:
    """The k-ary reduction of `leaves` to one model, as levels of nodes (empty for one leaf).

    Node m of a level melds children m*k .. m*k+k-1 in order; a group of one child is not melded
    again but carried up as it is, so every model is melded once per level it takes part in.
    """
    if k < 2:
        raise ValueError("meld arity k must be >= 2")
    levels: list[list[MeldNode]] = []
    current = list(leaves)
    level = 0
    while len(current) > 1:
        level += 1
        nodes, nxt = [], []
        for m in range(0, len(current), k):
            group = tuple(current[m : m + k])
            if len(group) == 1:
                nxt.append(group[0])
                continue
            node = MeldNode(level, len(nodes), group, layout.meld_model(level, len(nodes)))
            nodes.append(node)
            nxt.append(node.out)
        levels.append(nodes)
        current = nxt
    return levels


def root_model(plan: ClusterPlan, layout: Layout) -> Path:
    """The model the meld tree ends in (the one fit output when there is a single shard)."""
    leaves = [layout.fit_model(s.index) for s in data_shards(plan, layout)]
    levels = meld_tree(leaves, plan.meld.k, layout)
    return levels[-1][-1].out if levels else leaves[0]


# ---------------------------------------------------------------- reading the TOML


class _Table:
    """One TOML table of the plan; every problem is one line naming the file and the key."""

    def __init__(self, path: Path, raw, where: str):
        self.path, self.where = path, where
        if not isinstance(raw, dict):
            raise self.fail(None, "expected a table")
        self.raw = raw

    def fail(self, key: str | None, problem: str) -> ClusterPlanError:
        if key is None:
            return ClusterPlanError(f"{self.path}: [{self.where}]: {problem}")
        name = f"{self.where}.{key}" if self.where else key
        return ClusterPlanError(f"{self.path}: {name}: {problem}")

    def check_keys(self, known: Sequence[str]) -> None:
        for key in self.raw:
            if key not in known:
                hint = difflib.get_close_matches(key, list(known), n=1)
                raise self.fail(
                    key,
                    "unknown key"
                    + (f" (did you mean {hint[0]!r}?)" if hint else "")
                    + f"; known: {', '.join(known)}",
                )

    def integer(self, key: str, default: int | None, minimum: int = 1) -> int | None:
        value = self.raw.get(key, default)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self.fail(key, f"expected an integer >= {minimum}, got {value!r}")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.raw.get(key, default)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise self.fail(key, f"expected a number >= 0, got {value!r}")
        return float(value)

    def text(self, key: str, default: str | None, choices: Sequence[str] | None = None):
        value = self.raw.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"expected a string, got {value!r}")
        if choices and value not in choices:
            raise self.fail(key, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def strings(self, key: str, required: bool = True) -> tuple[str, ...]:
        value = self.raw.get(key)
        if value is None and not required:
            return ()
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v for v in value)
        ):
            raise self.fail(key, f"expected a non-empty list of strings, got {value!r}")
        return tuple(value)


def _batch_size(table: _Table) -> int | str:
    value = table.raw.get("batch_size", "auto")
    if value == "auto":
        return "auto"
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise table.fail("batch_size", f'expected an integer >= 1 or "auto", got {value!r}')
    return value


def _read_renders(path: Path, raw) -> tuple[RenderSet, ...]:
    table = _Table(path, raw, "render")
    sets = []
    for name, body in table.raw.items():
        if not name.replace("_", "").replace("-", "").isalnum():
            raise table.fail(name, "set names may hold letters, digits, '-' and '_' only")
        one = _Table(path, body, f"render.{name}")
        one.check_keys(("args", "shards"))
        args = one.strings("args", required=False)
        for arg in args:
            option = arg.split("=", 1)[0]
            if option in _RUNNER_OPTIONS:
                raise one.fail("args", f"{option} is set by `seqcore-train cluster`; remove it")
        sets.append(RenderSet(name, args, one.integer("shards", 1)))
    return tuple(sets)


def _read_data(table: _Table, key: str, renders: Sequence[RenderSet], base: Path) -> tuple:
    """DATA entries: `@name` must be a rendered set, paths must exist (relative to the plan)."""
    entries = []
    names = [r.name for r in renders]
    for entry in table.strings(key):
        if entry.startswith("@"):
            name = entry[1:].partition("::")[0]
            if name not in names:
                raise table.fail(
                    key,
                    f"{entry!r}: no [render.{name}] in the plan"
                    + (f" (have: {', '.join(names)})" if names else ""),
                )
            entries.append(entry)
            continue
        location, sep, filters = entry.partition("::")
        resolved = (base / location).resolve()
        if not resolved.exists():
            raise table.fail(key, f"{entry!r}: no such file or folder ({resolved})")
        entries.append(str(resolved) + (f"::{filters}" if sep else ""))
    return tuple(entries)


def _read_eval(path: Path, raw, where: str, renders, base: Path) -> EvalData | None:
    if raw is None:
        return None
    table = _Table(path, raw, where)
    keys = ("data", "split") + (("min_component_size",) if where == "evaluate" else ())
    table.check_keys(keys)
    return EvalData(
        data=_read_data(table, "data", renders, base),
        split=table.text("split", None, ("train", "val", "test")),
        min_component_size=table.integer("min_component_size", 1),
    )


def load_cluster_plan(path: str | os.PathLike) -> ClusterPlan:
    """Parse and check a cluster plan; raises ClusterPlanError (one line) on the first problem."""
    path = Path(path)
    raw = read_toml(path, ClusterPlanError)
    base = path.resolve().parent
    top = _Table(path, raw, "")
    top.check_keys(("cluster", "render", "fit", "meld", "calibrate", "evaluate"))
    if "fit" not in raw:
        raise ClusterPlanError(f"{path}: [fit]: missing; a plan needs the data to fit")
    cluster = _Table(path, raw.get("cluster", {}), "cluster")
    cluster.check_keys(("cpus_per_task", "retries"))
    renders = _read_renders(path, raw.get("render", {}))

    fit = _Table(path, raw["fit"], "fit")
    fit.check_keys(("data", "coreset_size", "epochs", "backbone", "pool_kernel", "blur_sigma",
                    "sampler", "batch_size", "image_size", "seed"))  # fmt: skip
    image_size = fit.raw.get("image_size")
    if image_size is not None:
        if (
            not isinstance(image_size, list)
            or len(image_size) != 2
            or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 8 for v in image_size
            )
        ):
            raise fit.fail("image_size", f"expected [width, height], each >= 8, got {image_size!r}")
        image_size = (image_size[1], image_size[0])
    fit_settings = FitSettings(
        data=_read_data(fit, "data", renders, base),
        coreset_size=fit.integer("coreset_size", 1024),
        epochs=fit.integer("epochs", 1),
        backbone=fit.text("backbone", "efficientnet_lite0"),
        pool_kernel=fit.integer("pool_kernel", POOL_KERNEL),
        blur_sigma=fit.number("blur_sigma", BLUR_SIGMA),
        sampler=fit.text("sampler", "sequential", ("sequential", "greedy")),
        batch_size=_batch_size(fit),
        image_size=image_size,
        seed=fit.integer("seed", 0, minimum=0),
    )
    meld = _Table(path, raw.get("meld", {}), "meld")
    meld.check_keys(("k", "coreset_size", "epochs", "seed"))
    meld_settings = MeldSettings(
        k=meld.integer("k", 2, minimum=2),
        coreset_size=meld.integer("coreset_size", None),
        epochs=meld.integer("epochs", 1),
        seed=meld.integer("seed", 0, minimum=0),
    )
    plan = ClusterPlan(
        path=path,
        renders=renders,
        fit=fit_settings,
        meld=meld_settings,
        calibrate=_read_eval(path, raw.get("calibrate"), "calibrate", renders, base),
        evaluate=_read_eval(path, raw.get("evaluate"), "evaluate", renders, base),
        cpus_per_task=cluster.integer("cpus_per_task", 1),
        retries=cluster.integer("retries", 3, minimum=0),
    )
    if plan.evaluate is not None and plan.calibrate is None:
        raise ClusterPlanError(
            f"{path}: [evaluate]: needs [calibrate] (the threshold comes from it)"
        )
    return plan
