"""Run an experiment plan: render its data sets, then every scenario for every seed; resumable.

Layout of the output folder:

    DIR/plan.toml                      the plan as last run
    DIR/data/<role>[-s<seed>]/         rendered data sets (+ <name>.render.json once complete)
    DIR/runs/s<seed>/<row>/            one finished scenario: model.safetensors, eval/, done.json
    DIR/runs/s<seed>/.work/<row>/      a scenario in progress (step markers, fit checkpoint)
    DIR/report.md, report.json, figures/

Resuming: a render whose marker records the same render.py arguments is skipped (render.py itself
resumes a half-finished set plate by plate); a scenario is moved from .work/ to its final folder
with one rename when it has finished, so a finished scenario is skipped and its files are never
written again, while an interrupted one continues from its last finished step (and a fit from its
last epoch's checkpoint). A finished scenario or data set made with other settings is an error, not
silently mixed into the tables.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from seqcore_train import workflows
from seqcore_train.data.augment import border_only, paper_augmentation
from seqcore_train.errors import SeqCoreError
from seqcore_train.evaluation.report import write_json
from seqcore_train.experiment.plan import DataSet, Plan, PlanError, Scenario, scenario_folder
from seqcore_train.experiment.status import Progress, render_jobs, render_marker
from seqcore_train.model.patchcore import ModelConfig
from seqcore_train.model_defaults import PAPER_BLUR_SIGMA, PAPER_POOL_KERNEL
from seqcore_train.train_options import TrainOptions
from shared_schemas import MANIFEST_NAME, atomic_write_text, renderer_of

__all__ = [
    "RENDER_SCRIPT",
    "run_render",
    "check_render_support",
    "check_one_renderer",
    "run_experiment",
]

RENDER_SCRIPT = Path(__file__).resolve().parents[2] / "blender_addon" / "render.py"
Log = Callable[[str], None]


def _print(message: str) -> None:
    print(message, flush=True)


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_render(out: Path, arguments: list[str], label: str, log: Log = _print) -> dict:
    """Render one data set with render.py in a subprocess of this interpreter (the project's own
    bpy); its progress lines are passed on, its last line is the error. Returns the wall and CPU
    seconds (CPU time of all threads: the cost of the render on a machine not shared)."""
    command = [sys.executable, str(RENDER_SCRIPT), "--out", str(out), *arguments]
    started = time.perf_counter()
    cpu = _cpu_seconds(resource.RUSAGE_CHILDREN)
    log(f"render {label}: {' '.join(command[2:])}")
    last = "(no output)"
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        for line in process.stdout:
            line = line.rstrip()
            if line:
                last = line
            if line.startswith("["):  # render.py's per-sample progress: "[3/20] 000001_clean 5 s"
                log(f"  {label} {line}")
    if process.returncode != 0:
        raise SeqCoreError(f"rendering {out} failed: {last}")
    seconds = time.perf_counter() - started
    log(f"render {label}: done in {seconds:.0f} s")
    return {"seconds": round(seconds, 1),
            "cpu_seconds": round(_cpu_seconds(resource.RUSAGE_CHILDREN) - cpu, 1)}  # fmt: skip


def check_render_support(plan: Plan) -> None:
    """Fail before anything runs when render.py lacks an option or value the plan uses."""
    result = subprocess.run(
        [sys.executable, str(RENDER_SCRIPT), "--help"], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SeqCoreError(f"{RENDER_SCRIPT} --help failed: {result.stderr.strip()[-300:]}")
    help_text = " ".join(result.stdout.split())
    uses = [("render", plan.render.arguments())] + [
        (f"data.{d.role}", d.render_arguments(0)) for d in plan.data.values() if d.rendered
    ]
    for where, arguments in uses:
        for i, arg in enumerate(arguments):
            if arg.startswith("--") and arg not in help_text:
                raise PlanError(f"{plan.path}: {where}: {RENDER_SCRIPT.name} has no option {arg}")
            # argparse lists an option's choices in the usage line: "[--preset {a,b}]"
            choices = re.search(re.escape(arg) + r" \{([^}]*)\}", help_text)
            value = arguments[i + 1] if i + 1 < len(arguments) else ""
            if choices and value not in choices.group(1).split(","):
                raise PlanError(
                    f"{plan.path}: {where}: {RENDER_SCRIPT.name} does not know {arg} {value} "
                    f"(it knows {choices.group(1)})"
                )


def _ensure_rendered(
    plan: Plan, data: DataSet, seed: int, out: Path, log: Log
) -> tuple[dict, bool]:
    """The set's render record, and whether it was rendered now (False: earlier, or a folder)."""
    folder = data.folder(out, seed)
    if not data.rendered:
        return {"folder": str(folder), "rendered": False}, False
    arguments = data.render_arguments(seed) + plan.render.arguments()
    marker = render_marker(folder)
    if marker.is_file():
        done = json.loads(marker.read_text(encoding="utf-8"))
        if done.get("arguments") != arguments:
            raise PlanError(
                f"{plan.path}: data.{data.role}: {folder} was rendered with other settings "
                f"({' '.join(done.get('arguments', []))}); use a new --out or delete it"
            )
        log(f"render {folder.name}: rendered earlier, skipped")
        return done, False
    times = run_render(folder, arguments, folder.name, log)
    images = len(json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["samples"])
    done = {"folder": str(folder), "rendered": True, "arguments": arguments, "images": images,
            **times}  # fmt: skip
    write_json(marker, done)
    return done, True


def check_one_renderer(folders: list[Path]) -> None:
    """Rendered sets of one experiment must come from one renderer (add-on source and Blender
    version, as render.py records them): a set rendered after an upgrade, e.g. for a new seed,
    looks different from the test set it is scored on, and the tables would measure that."""
    makers: dict[str, Path] = {}
    for folder in folders:
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
        makers.setdefault(renderer_of(manifest.get("generator") or {}), folder)
    if len(makers) > 1:
        (first, a), (second, b) = list(makers.items())[:2]
        raise PlanError(
            f"{a} and {b} were rendered by different renderers ({first}; {second}); render "
            "every set again with one (a new --out), or delete the older sets"
        )


def _fraction(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"  # None: undefined, e.g. nothing flagged


def _relative(folder: Path, out: Path) -> str:
    folder, out = Path(folder), Path(out)
    return str(folder.relative_to(out)) if folder.is_relative_to(out) else str(folder)


def _scenario_settings(plan: Plan, scenario: Scenario, seed: int, out: Path) -> dict:
    """What decides a scenario's result: compared when resuming, kept in done.json."""
    roles = set(scenario.train) | {"real_val", "real_test"}
    return {
        "label": scenario.label,
        "kind": scenario.kind,
        "seed": seed,
        "coreset_size": plan.coreset_size,
        "epochs": plan.epochs,
        "backbone": plan.backbone,
        "augment": scenario.augment,
        "variant": scenario.variant,
        "base": scenario.base,
        "parts": list(scenario.parts),
        "meld_factor": scenario.meld_factor,
        "data": {  # rendered sets relative to DIR: a moved DIR still resumes
            role: [_relative(plan.data[role].folder(out, seed), out)]
            + (
                plan.data[role].render_arguments(seed) + plan.render.arguments()
                if plan.data[role].rendered
                else []
            )
            for role in sorted(roles)
        },  # fmt: skip
    }


def _data_options(plan: Plan, out: Path, seed: int, roles, variant: str | None = None):
    specs = []
    for role in roles:
        folder = str(plan.data[role].folder(out, seed))
        specs.append(f"{folder}::variant={variant}" if variant else folder)
    return workflows.DataOptions(
        data=tuple(specs), split=plan.data[roles[0]].split, batch_size=plan.batch_size
    )


def _train_model(plan: Plan, scenario: Scenario, seed: int, out: Path, model: Path, log: Log):
    if scenario.kind == "meld":
        parts = [scenario_folder(out, seed, p) / "model.safetensors" for p in scenario.parts]
        size = max(1, round(plan.coreset_size * scenario.meld_factor))
        workflows.meld(parts, model, coreset_size=size, epochs=plan.epochs, seed=seed,
                       device=plan.device)  # fmt: skip
        return
    augment = {"none": None, "border": border_only(), "full": paper_augmentation()}
    training = TrainOptions(epochs=plan.epochs, augment=augment[scenario.augment], seed=seed)
    options = _data_options(plan, out, seed, scenario.train, scenario.variant)
    if scenario.kind == "finetune":
        base = scenario_folder(out, seed, scenario.base) / "model.safetensors"
        workflows.finetune(base, model, options, training, device=plan.device, log=log)
    else:
        config = ModelConfig(
            backbone=plan.backbone,
            coreset_size=plan.coreset_size,
            pool_kernel=PAPER_POOL_KERNEL,  # the paper's settings for its plates
            blur_sigma=PAPER_BLUR_SIGMA,
        )
        workflows.fit(model, config, options, training, device=plan.device, log=log)


def _point_to_final(work: Path, final: Path) -> None:
    """Rewrite the work folder's path to the final one in its text outputs (reports, settings)."""
    for path in [*work.glob("*.json"), *work.glob("eval/*.json"), *work.glob("eval/*.md")]:
        text = path.read_text(encoding="utf-8")
        if str(work) in text:
            atomic_write_text(path, text.replace(str(work), str(final)))


def _run_scenario(plan: Plan, scenario: Scenario, seed: int, out: Path, log: Log) -> str:
    """Run (or skip, or continue) one scenario; returns 'skipped' or 'ran'."""
    final = scenario_folder(out, seed, scenario.label)
    settings = _scenario_settings(plan, scenario, seed, out)
    name = f"[s{seed}] {scenario.label}"
    if final.exists():
        done = final / "done.json"
        recorded = json.loads(done.read_text(encoding="utf-8")) if done.is_file() else {}
        if recorded.get("settings") != settings:
            raise PlanError(
                f"{plan.path}: {final} was made with other settings than the plan's "
                f"{scenario.label}; use a new --out or delete it"
            )
        log(f"{name}: finished earlier, skipped")
        return "skipped"
    work = final.parent / ".work" / final.name
    work_settings = work / "settings.json"
    if work.exists() and (
        not work_settings.is_file()
        or json.loads(work_settings.read_text(encoding="utf-8")) != settings
    ):
        shutil.rmtree(work)  # an unfinished run of other settings: nothing to keep
    work.mkdir(parents=True, exist_ok=True)
    write_json(work_settings, settings)
    model = work / "model.safetensors"

    def step(key: str, action: Callable[[], dict]) -> dict:
        marker = work / f"{key}.done.json"
        if marker.is_file():
            log(f"{name}: {key} done earlier")
            return json.loads(marker.read_text(encoding="utf-8"))
        started, cpu = time.perf_counter(), _cpu_seconds(resource.RUSAGE_SELF)
        result = action() or {}
        result["seconds"] = round(time.perf_counter() - started, 2)
        result["cpu_seconds"] = round(_cpu_seconds(resource.RUSAGE_SELF) - cpu, 2)
        write_json(marker, result)
        return result

    log(f"{name}: {scenario.kind}")
    times = {"train": step("train", lambda: _train_model(plan, scenario, seed, out, model, log))}

    def calibrate() -> dict:
        threshold, f1 = workflows.calibrate(
            model, _data_options(plan, out, seed, ("real_val",)), device=plan.device
        )
        log(f"{name}: threshold {threshold:.4g} (validation pixel F1 {f1:.3f})")
        return {"threshold": threshold, "f1": f1}

    times["calibrate"] = step("calibrate", calibrate)

    def evaluate() -> dict:
        report = workflows.evaluate(
            model, _data_options(plan, out, seed, ("real_test",)), work / "eval",
            name=scenario.label, device=plan.device,
        )  # fmt: skip
        _point_to_final(work, final)  # the reports name the model where it will live
        pixel = report["pixel"]
        log(f"{name}: " + ", ".join(f"{key} {_fraction(pixel.get(key))}"
                                    for key in ("precision", "recall", "f1")))  # fmt: skip
        return {}

    times["evaluate"] = step("evaluate", evaluate)
    seconds = {
        key: {k: t[k] for k in ("seconds", "cpu_seconds") if k in t} for key, t in times.items()
    }
    write_json(work / "done.json", {"settings": settings, "seconds": seconds})
    os.replace(work, final)  # one rename: the scenario is finished, complete, or not at all
    return "ran"


def run_experiment(plan: Plan, out: Path, log: Log = _print, report: bool = True) -> dict:
    """Run every seed of the plan (renders, then scenarios); returns a summary of what ran."""
    out = Path(out)
    jobs = render_jobs(plan, out)
    if any(job.state == "to render" for job in jobs):
        check_render_support(plan)
    pending = [job.images for job in jobs if job.state == "to render"]
    progress = Progress(
        scenarios=len(plan.seeds) * len(plan.scenarios),
        images_to_render=None if None in pending else sum(pending),
    )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "plan.toml", plan.path.read_text(encoding="utf-8"))
    summary: dict = {"renders": {}, "scenarios": {}}
    rendered: list[Path] = []
    for seed in plan.seeds:
        for data in plan.data.values():
            done, ran = _ensure_rendered(plan, data, seed, out, log)
            summary["renders"][Path(done["folder"]).name] = done
            if data.rendered:
                rendered.append(data.folder(out, seed))
            if ran:
                progress.rendered(done["images"], done["seconds"])
                log(progress.line())
        check_one_renderer(rendered)
        for scenario in plan.scenarios:
            started = time.perf_counter()
            result = _run_scenario(plan, scenario, seed, out, log)
            summary["scenarios"][f"s{seed}/{scenario.label}"] = result
            if result == "ran":
                progress.scenario_done(time.perf_counter() - started)
                log(progress.line())
            else:
                progress.scenario_done()
        if report:
            from seqcore_train.experiment.report import write_report

            write_report(plan, out)
    return summary
