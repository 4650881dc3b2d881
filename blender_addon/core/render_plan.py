"""The render plan of a dataset (no bpy): sample ids, pairs, shards, manifest entries, resume, merge.

A dataset is fully determined by its `DatasetSettings`: plate k always gets the same spec, whichever
shard renders it and however often the run was interrupted. Shards split by plate so both members of
a pair land in one shard; each shard keeps its own manifest file in the output folder, and the last
shard to finish merges them into `manifest.json`.

With `light_mode="each"` every plate is rendered under every listed light, with the same texture,
stains, defects and sampling seed: under light L exactly as a dataset with `--light L` alone renders
it. The light's name ends the sample id (before the pair's `_clean`/`_stained`), so the paper's
domain-randomised set is one dataset: the original set, the set under hex_rot90 and under hex_x2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from .._schemas import schemas
from .errors import RenderSetupError
from .look import look_record
from .sample_spec import DatasetSettings, SampleSpec, sample_plate_specs

__all__ = [
    "PlannedSample",
    "Shard",
    "check_compatible",
    "generator_info",
    "manifest_sample",
    "merge_shards",
    "plan_ids",
    "plan_samples",
    "preview_sample",
    "shard_manifest_path",
]


@dataclass(frozen=True)
class Shard:
    index: int = 1  # 1-based
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            index, count = (int(v) for v in text.split("/"))
        except ValueError:
            raise RenderSetupError(f"--shard needs I/N with integers, got {text!r}") from None
        if not 1 <= index <= count:
            raise RenderSetupError(f"--shard {text}: need 1 <= I <= N")
        return cls(index, count)

    def owns(self, plate: int) -> bool:
        return plate % self.count == self.index - 1


@dataclass(frozen=True)
class PlannedSample:
    sample_id: str
    plate: int
    view: int
    variant: str
    pair: str | None
    spec: SampleSpec


def _plate_views(settings: DatasetSettings, plate: int) -> list[tuple[int, str, SampleSpec]]:
    """(view, id suffix, spec) of a plate: its drawn light, or (light mode "each") every light.

    Under "each", light L's specs are exactly those of the same dataset rendered with `--light L`
    alone, so the set is the concatenation of the single-light sets (the paper's DR set).
    """
    if settings.light_mode != "each":
        return [(v, "", s) for v, s in enumerate(sample_plate_specs(settings, plate, True))]
    per_light = [
        (f"_{light}", sample_plate_specs(replace(settings, lights=(light,)), plate, True))
        for light in settings.lights
    ]
    views = len(per_light[0][1])
    return [(v, suffix, specs[v]) for v in range(views) for suffix, specs in per_light]


def plan_samples(
    settings: DatasetSettings, shard: Shard | None = None, views=_plate_views
) -> list[PlannedSample]:
    """Every sample this shard renders, in order; paired plates give clean then stained.

    `views(settings, plate)` gives a plate's (view, id suffix, spec); a user's scene
    (`core.scene_spec`) passes its own, with its cameras as the views.
    """
    shard = shard or Shard()
    planned = []
    multi_view = tuple(settings.grid) != (1, 1)
    for plate in range(settings.count):
        if not shard.owns(plate):
            continue
        for view, suffix, spec in views(settings, plate):
            base = f"{plate:06d}" + (f"_v{view:02d}" if multi_view else "") + suffix
            if settings.variant == "paired":
                planned.append(
                    PlannedSample(f"{base}_clean", plate, view, "clean", base, spec.without_stain())
                )
                planned.append(PlannedSample(f"{base}_stained", plate, view, "stained", base, spec))
            elif settings.variant == "clean":
                planned.append(
                    PlannedSample(base, plate, view, "clean", None, spec.without_stain())
                )
            else:  # "stained": plates a preset (or --impurities) leaves without stains say clean
                variant = "stained" if spec.stain is not None else "clean"
                planned.append(PlannedSample(base, plate, view, variant, None, spec))
    return planned


def preview_sample(settings: DatasetSettings) -> PlannedSample:
    """Plate 0's first view as the dataset renders it (its stained member when paired)."""
    first = [p for p in plan_samples(replace(settings, count=1)) if p.view == 0]
    return first[-1]


def shard_manifest_path(out: Path, shard: Shard) -> Path:
    if shard.count == 1:
        return Path(out) / schemas.MANIFEST_NAME
    return Path(out) / f"manifest.shard-{shard.index}-of-{shard.count}.json"


def generator_info(
    settings: DatasetSettings, tool_version: str, blender: str, shard: Shard, source: str
) -> dict:
    return {
        "tool": "seqcore blender_addon/render.py",
        "version": tool_version,
        "source": source,  # core.version.source_digest(): which code rendered the images
        "blender": blender,
        "look": look_record(),  # core.look: the calibrated scene constants
        "settings": settings.to_dict(),
        "shard": [shard.index, shard.count],
    }


def manifest_sample(
    planned: PlannedSample, split: str, instances, with_valid: bool, bit_depth: int = 8
) -> object:
    """The manifest entry; `instances` are (id, class, params) triples from `core.masks`."""
    sid = planned.sample_id
    params = planned.spec.to_params()
    params["plate"], params["view"] = planned.plate, planned.view
    if bit_depth != 8:
        params["bit_depth"] = bit_depth
    return schemas.Sample(
        id=sid,
        split=split,
        image=f"images/{sid}.png",
        semantic_mask=f"masks/{sid}_semantic.png",
        instance_mask=f"masks/{sid}_instance.png",
        valid_mask=f"masks/{sid}_valid.png" if with_valid else None,
        instances=[schemas.Instance(i, c, p) for i, c, p in instances],
        pair=planned.pair,
        variant=planned.variant,
        light=planned.spec.light,
        params=params,
    )


def _settings_of(manifest) -> dict:
    return dict(manifest.generator.get("settings") or {})


def check_compatible(existing, settings: DatasetSettings, path: Path, generator: dict) -> None:
    """Resuming into a folder rendered with other settings, or by other code (another add-on
    source or Blender version: the images would look different), would mix two datasets: refuse."""
    theirs = _settings_of(existing)
    ours = json.loads(json.dumps(settings.to_dict()))
    if "scene" in theirs and "scene" in ours:  # a user's scene: its content decides, not its path
        before, now = theirs.pop("scene") or {}, ours.pop("scene")
        if before.get("sha256") != now["sha256"]:
            raise RenderSetupError(
                f"{path}: holds a dataset rendered from another version of {now['path']} "
                f"(sha256 {str(before.get('sha256'))[:12]}..., now {now['sha256'][:12]}...); "
                "use another --out"
            )
    if theirs and theirs != ours:
        diff = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        raise RenderSetupError(
            f"{path}: holds a dataset rendered with other settings ({', '.join(diff)}); "
            "use another --out or the same options"
        )
    theirs, ours = schemas.renderer_of(existing.generator), schemas.renderer_of(generator)
    if existing.generator and theirs != ours:
        raise RenderSetupError(
            f"{path}: holds samples rendered by another renderer ({theirs}; this is {ours}); "
            "use another --out"
        )


def merge_shards(out: Path, count: int, name: str | None = None):
    """Merge the shard manifests in `out` into manifest.json once all `count` are complete.

    Returns the merged manifest, or None while a shard is missing or unfinished.
    """
    manifests = []
    for index in range(1, count + 1):
        path = shard_manifest_path(out, Shard(index, count))
        if not path.exists():
            return None
        try:
            manifest = schemas.load_manifest(path, check_files=False)
        except schemas.ManifestError as exc:
            raise RenderSetupError(str(exc)) from None
        settings = _settings_of(manifest)
        expected = len(plan_ids(settings, Shard(index, count)))
        if len(manifest.samples) < expected:
            return None
        manifests.append(manifest)
    makers = {schemas.renderer_of(m.generator) for m in manifests}
    if len(makers) > 1:  # shards rendered on machines with different code
        raise RenderSetupError(
            f"{out}: its shards were rendered by different renderers ({'; '.join(sorted(makers))})"
            "; render them again with one version"
        )
    try:
        merged = schemas.merge_manifests(manifests, name)
    except schemas.ManifestError as exc:
        raise RenderSetupError(str(exc)) from None
    merged.generator.pop("shard", None)
    merged.root = Path(out)
    schemas.save_manifest(merged, Path(out) / schemas.MANIFEST_NAME)
    return merged


def plan_ids(settings: dict, shard: Shard) -> list[str]:
    """Sample ids a shard should hold, from the settings stored in its manifest (no spec sampling)."""
    grid = tuple(settings.get("grid", (1, 1)))
    views = grid[0] * grid[1]
    each = settings.get("light_mode") == "each"
    suffixes = [f"_{light}" for light in settings.get("lights", ())] if each else [""]
    ids = []
    for plate in range(int(settings["count"])):
        if not shard.owns(plate):
            continue
        for view in range(views):
            for suffix in suffixes:
                base = f"{plate:06d}" + (f"_v{view:02d}" if grid != (1, 1) else "") + suffix
                if settings["variant"] == "paired":
                    ids += [f"{base}_clean", f"{base}_stained"]
                else:
                    ids.append(base)
    return ids
