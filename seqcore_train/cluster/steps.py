"""The steps of a cluster plan, and the sequential executor that runs them one after another.

Each step is a plain function of (plan, OUT, what, device) that reads and writes only files under
OUT, skips itself when its output is already there (so a rerun resumes, and a retried task finishes
what a killed one began), writes atomically, and returns the path it wrote. Ray (ray_tasks.py)
runs these same functions as tasks; `run_serial` runs them here in the order of `step_order`. Both
executors therefore share the shard plan, the meld tree and the code of every step.

Nothing here imports Ray.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from seqcore_train.cluster.plan import (
    STAGES,
    ClusterPlan,
    ClusterPlanError,
    DataShard,
    EvalData,
    Layout,
    MeldNode,
    data_shards,
    meld_tree,
    root_model,
)
from seqcore_train.errors import SeqCoreError
from seqcore_train.experiment.runner import RENDER_SCRIPT
from shared_schemas import atomic_write_text, load_manifest, save_manifest

__all__ = [
    "check_plan_runs",
    "check_inputs",
    "render_shard",
    "merge_render",
    "fit_shard",
    "meld_node",
    "calibrate_root",
    "evaluate_model",
    "run_serial",
    "write_plan_copy",
]

Log = Callable[[str], None]


def _print(message: str) -> None:
    print(message, flush=True)


def _mark_attempt(layout: Layout, step: str) -> None:
    """One line per attempt of a step (pid, host, time): a retried task shows as a second line,
    and an operator (or the kill test) finds the worker running it."""
    log = layout.attempts(step)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()} {socket.gethostname()} {time.time():.3f}\n")


def _threads(plan: ClusterPlan) -> None:
    """The same torch thread count on every executor: the task's CPUs (Ray sets OMP likewise)."""
    import torch

    torch.set_num_threads(plan.cpus_per_task)


def _torch_device(device: str) -> str:
    # Ray gives a GPU task CUDA_VISIBLE_DEVICES with its own GPU only: it is cuda:0 inside.
    return "cuda" if device == "gpu" else "cpu"


def check_plan_runs(plan: ClusterPlan) -> None:
    """Checks that need the toolkit (not only the TOML): the backbone exists here."""
    from seqcore_train.model.features import BACKBONES  # the catalogue: no weights are loaded

    if plan.fit.backbone not in BACKBONES:
        raise ClusterPlanError(
            f"{plan.path}: fit.backbone: unknown backbone {plan.fit.backbone!r} "
            f"(have: {', '.join(sorted(BACKBONES))})"
        )


def check_inputs(plan: ClusterPlan, out: Path, stages: Sequence[str]) -> None:
    """Fail before any task starts when a stage needs what an earlier stage, not run now, makes."""
    layout = Layout(out)
    if "fit" in stages and "render" not in stages:
        needed = {d[1:].partition("::")[0] for d in plan.fit.data if d.startswith("@")}
        for name in sorted(needed):
            if not layout.render_marker(name).is_file():
                raise SeqCoreError(
                    f"{layout.rendered(name)}: not rendered (or not merged) yet; "
                    "run `seqcore-train cluster render` first"
                )
    if "meld" in stages and "fit" not in stages:
        for shard in data_shards(plan, layout):
            if not layout.fit_model(shard.index).is_file():
                raise SeqCoreError(
                    f"{layout.fit_model(shard.index)}: missing; run `seqcore-train cluster fit` first"
                )


def write_plan_copy(plan: ClusterPlan, out: Path) -> None:
    Path(out).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(out) / "plan.toml", plan.path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- render


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the render dies with the worker that started it, so a retried task does not find
    the shard's render lock still held by an orphan."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _render_py(arguments: Sequence[str], label: str, log: Log) -> None:
    """render.py in its own process (bpy never loads into a worker); its last line is the error."""
    command = [sys.executable, str(RENDER_SCRIPT), *arguments]
    last = "(no output)"
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        preexec_fn=_die_with_parent,
    ) as process:
        for line in process.stdout:
            line = line.rstrip()
            if line:
                last = line
            if line.startswith("["):  # per-sample progress: "[3/20] 000001_clean 5 s"
                log(f"  {label} {line}")
    if process.returncode != 0:
        raise SeqCoreError(f"render {label} failed: {last}")


def _shard_manifest(folder: Path, index: int, count: int) -> Path:
    name = "manifest.json" if count == 1 else f"manifest.shard-{index}-of-{count}.json"
    return folder / name


def _write_shard_data(layout: Layout, name: str, index: int, count: int) -> Path:
    """Fit data shard i: render shard i's samples as a manifest of its own, pointing at the
    rendered files (relative paths, so OUT may be mounted anywhere)."""
    folder = layout.rendered(name)
    manifest = load_manifest(_shard_manifest(folder, index, count), check_files=False)
    target = layout.shard_data(name, index, count)
    target.mkdir(parents=True, exist_ok=True)
    up = os.path.relpath(folder, target)

    def moved(relative: str | None) -> str | None:
        return None if relative is None else f"{up}/{relative}"

    manifest.samples = [
        dataclasses.replace(
            s,
            image=moved(s.image),
            semantic_mask=moved(s.semantic_mask),
            instance_mask=moved(s.instance_mask),
            valid_mask=moved(s.valid_mask),
        )
        for s in manifest.samples
    ]
    manifest.root = target
    return save_manifest(manifest, target / "manifest.json", check_files=False)


def render_shard(
    plan: ClusterPlan, out: Path, name: str, index: int, device: str = "cpu", log: Log = _print
) -> str:
    """Render shard `index` of set `name` into OUT/data/<name> and write its fit data shard."""
    layout = Layout(out)
    render = plan.render_set(name)
    done = layout.shard_data(name, index, render.shards) / "manifest.json"
    _check_marker(plan, layout, name)
    if done.is_file():
        return str(done)
    _mark_attempt(layout, f"render-{name}-{index}-of-{render.shards}")
    shard = f"{index}/{render.shards}"
    started = time.perf_counter()
    _render_py(
        ["--out", str(layout.rendered(name)), *render.args, "--shard", shard, "--device", device],
        f"{name} {shard}",
        log,
    )
    path = _write_shard_data(layout, name, index, render.shards)
    log(f"render {name} {shard}: done in {time.perf_counter() - started:.0f} s")
    return str(path)


def _check_marker(plan: ClusterPlan, layout: Layout, name: str) -> dict | None:
    marker = layout.render_marker(name)
    if not marker.is_file():
        return None
    done = json.loads(marker.read_text(encoding="utf-8"))
    render = plan.render_set(name)
    if done.get("args") != list(render.args) or done.get("shards") != render.shards:
        raise ClusterPlanError(
            f"{plan.path}: render.{name}: {layout.rendered(name)} was rendered with other "
            "settings; use a new --out or delete it"
        )
    return done


def merge_render(
    plan: ClusterPlan, out: Path, name: str, device: str = "cpu", *_after, log: Log = _print
) -> str:
    """Merge the set's shard manifests into manifest.json (render.py --merge), then the marker."""
    layout = Layout(out)
    if _check_marker(plan, layout, name) is not None:
        return str(layout.rendered(name))
    render = plan.render_set(name)
    _mark_attempt(layout, f"merge-{name}")
    if render.shards > 1:
        arguments = ["--out", str(layout.rendered(name)), *render.args]
        _render_py([*arguments, "--merge", "--shard", f"1/{render.shards}"], f"{name} merge", log)
    images = len(load_manifest(layout.rendered(name), check_files=False).samples)
    marker = {"args": list(render.args), "shards": render.shards, "images": images}
    atomic_write_text(layout.render_marker(name), json.dumps(marker, indent=1) + "\n")
    log(f"render {name}: {images} images in {layout.rendered(name)}")
    return str(layout.rendered(name))


# ---------------------------------------------------------------- fit, meld


def fit_shard(
    plan: ClusterPlan, out: Path, shard: DataShard, device: str = "cpu", *_after, log: Log = _print
) -> str:
    """The coreset of one data shard, OUT/fit/shard-<j>.safetensors (resumes a checkpoint)."""
    from seqcore_train import workflows
    from seqcore_train.model.patchcore import ModelConfig
    from seqcore_train.train_options import TrainOptions

    layout = Layout(out)
    target = layout.fit_model(shard.index)
    if target.is_file():
        return str(target)
    if shard.source is not None and not Path(shard.data.partition("::")[0]).is_dir():
        name, index, count = shard.source
        raise SeqCoreError(
            f"{shard.data}: render shard {index}/{count} of {name!r} is missing; "
            "run `seqcore-train cluster render` first"
        )
    _mark_attempt(layout, f"fit-{shard.index}")
    _threads(plan)
    target.parent.mkdir(parents=True, exist_ok=True)
    fit = plan.fit
    config = ModelConfig(
        backbone=fit.backbone,
        pool_kernel=fit.pool_kernel,
        coreset_size=fit.coreset_size,
        sampler=fit.sampler,
        blur_sigma=fit.blur_sigma,
    )
    options = workflows.DataOptions(
        data=(shard.data,), image_size=fit.image_size, batch_size=fit.batch_size
    )
    started = time.perf_counter()
    model = workflows.fit(
        target,
        config,
        options,
        TrainOptions(epochs=fit.epochs, seed=fit.seed),
        device=_torch_device(device),
        log=lambda message: None,  # per-epoch lines: one summary line below is enough
    )
    log(
        f"fit shard {shard.index}: {len(model.bank)} points in "
        f"{time.perf_counter() - started:.1f} s -> {target}"
    )
    return str(target)


def meld_node(
    plan: ClusterPlan, out: Path, node: MeldNode, device: str = "cpu", *_after, log: Log = _print
) -> str:
    """One node of the meld tree: its children's coresets melded to the plan's final size."""
    from seqcore_train import workflows

    if node.out.is_file():
        return str(node.out)
    missing = [str(c) for c in node.children if not c.is_file()]
    if missing:
        raise SeqCoreError(f"meld {node.out.name}: missing {', '.join(missing)}; fit first")
    _mark_attempt(Layout(out), f"meld-l{node.level}-n{node.index}")
    _threads(plan)
    node.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    workflows.meld(
        node.children,
        node.out,
        coreset_size=plan.final_size,
        epochs=plan.meld.epochs,
        seed=plan.meld.seed,
        device=_torch_device(device),
    )
    log(
        f"meld {node.out.name}: {len(node.children)} models in "
        f"{time.perf_counter() - started:.1f} s"
    )
    return str(node.out)


# ---------------------------------------------------------------- calibrate, evaluate


def _eval_options(plan: ClusterPlan, layout: Layout, what: EvalData):
    from seqcore_train import workflows

    return workflows.DataOptions(
        data=tuple(layout.data_argument(d) for d in what.data),
        split=what.split,
        image_size=plan.fit.image_size,
        batch_size=plan.fit.batch_size,
    )


def calibrate_root(
    plan: ClusterPlan, out: Path, device: str = "cpu", *_after, log: Log = _print
) -> str:
    """OUT/model.safetensors: the meld tree's root, calibrated when the plan has [calibrate]."""
    from seqcore_train import workflows

    layout = Layout(out)
    if layout.model.is_file():
        return str(layout.model)
    root = root_model(plan, layout)
    if not root.is_file():
        raise SeqCoreError(f"{root}: missing; run `seqcore-train cluster meld` first")
    _mark_attempt(layout, "calibrate")
    _threads(plan)
    if plan.calibrate is None:
        temporary = layout.model.with_name(f".{layout.model.name}.tmp")
        shutil.copyfile(root, temporary)
        os.replace(temporary, layout.model)
        log(f"model {layout.model} (not calibrated: the plan has no [calibrate])")
        return str(layout.model)
    options = _eval_options(plan, layout, plan.calibrate)
    # calibrate writes OUT/model.safetensors atomically, so its presence means "calibrated"
    threshold, f1 = workflows.calibrate(root, options, layout.model, _torch_device(device))
    log(f"calibrate: threshold {threshold:.6g} (pixel F1 {f1:.3f}) -> {layout.model}")
    return str(layout.model)


def evaluate_model(
    plan: ClusterPlan, out: Path, device: str = "cpu", *_after, log: Log = _print
) -> str:
    """OUT/eval/report.md for the calibrated model on the plan's [evaluate] data."""
    from seqcore_train import workflows

    layout = Layout(out)
    report = layout.evaluation / "report.json"
    if plan.evaluate is None or report.is_file():
        return str(layout.evaluation)
    if not layout.model.is_file():
        raise SeqCoreError(f"{layout.model}: missing; run `seqcore-train cluster run` first")
    _mark_attempt(layout, "evaluate")
    _threads(plan)
    result = workflows.evaluate(
        layout.model,
        _eval_options(plan, layout, plan.evaluate),
        layout.evaluation,
        min_component_size=plan.evaluate.min_component_size,
        name="cluster",
        device=_torch_device(device),
    )
    f1 = result["pixel"]["f1"]  # None when nothing was flagged and nothing was to be found
    f1 = "n/a" if f1 is None else f"{f1:.3f}"
    log(f"evaluate: pixel F1 {f1}, {result['images']} images -> {layout.evaluation}")
    return str(layout.evaluation)


# ---------------------------------------------------------------- the sequential executor


def stages_of(command: str) -> tuple[str, ...]:
    """The stages `seqcore-train cluster COMMAND` runs."""
    return STAGES if command == "run" else (command,)


def _renders_used(plan: ClusterPlan, stages: Sequence[str]) -> list[str]:
    """The rendered sets the stages need: all of them for `render` and `run`."""
    return [r.name for r in plan.renders] if "render" in stages else []


def run_serial(
    plan: ClusterPlan,
    out: Path,
    stages: Sequence[str] = STAGES,
    device: str = "cpu",
    log: Log = _print,
) -> Path:
    """Every step of the chosen stages here, one after another, in the order Ray may reorder
    only where steps do not depend on each other. Returns the last output."""
    layout = Layout(out)
    last = layout.out
    for name in _renders_used(plan, stages):
        count = plan.render_set(name).shards
        for index in range(1, count + 1):
            render_shard(plan, out, name, index, device, log=log)
        last = Path(merge_render(plan, out, name, device, log=log))
    shards = data_shards(plan, layout)
    if "fit" in stages:
        for shard in shards:
            last = Path(fit_shard(plan, out, shard, device, log=log))
    if "meld" in stages:
        leaves = [layout.fit_model(s.index) for s in shards]
        for level in meld_tree(leaves, plan.meld.k, layout):
            for node in level:
                last = Path(meld_node(plan, out, node, device, log=log))
    if "calibrate" in stages:
        last = Path(calibrate_root(plan, out, device, log=log))
    if "evaluate" in stages:
        last = Path(evaluate_model(plan, out, device, log=log))
    return last
