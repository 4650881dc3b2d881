"""`seqcore-train`: fit, finetune, meld, calibrate, predict, evaluate.

Only option parsing lives here; the work is in workflows.py. Every error a user can cause
(SeqCoreError, a bad option) ends as one line on stderr and a non-zero exit: 1 for bad data or
model files, 2 for bad usage.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from seqcore_train.errors import SeqCoreError
from seqcore_train.heap import huge_pages_for_torch
from seqcore_train.model_defaults import (
    BLUR_SIGMA,
    CHUNK_SIZE,
    CORESET_SIZE,
    POOL_KERNEL,
    TILE_PIXELS,
)

__all__ = ["cli", "main"]

DATA_HELP = (
    "DATA: a manifest dataset, a plain image folder, an MVTec AD category or a LabelMe folder; "
    "PATH::variant=clean|stained,light=NAME filters a manifest; several DATA concatenate."
)


class _OneLineErrors(click.Group):
    """A group whose errors print as one line: `seqcore-train: error: ...`."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        huge_pages_for_torch()  # before torch loads (see heap.py)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
        except click.exceptions.Abort:
            click.echo("seqcore-train: aborted", err=True)
            sys.exit(1)
        except click.UsageError as exc:
            click.echo(f"seqcore-train: error: {exc.format_message()}", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            click.echo(f"seqcore-train: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code or 1)
        except SeqCoreError as exc:
            click.echo(f"seqcore-train: error: {exc}", err=True)
            sys.exit(1)
        except OSError as exc:
            # e.g. an output folder that cannot be created: the path, not a traceback
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"seqcore-train: error: {where}{exc.strerror or exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo(
                "seqcore-train: interrupted (a fit resumes from its last checkpoint)", err=True
            )
            sys.exit(130)
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)  # an int: the code of a ctx.exit()


def _image_size(_ctx, _param, value):
    if not value:
        return None
    width, height = value
    if width < 8 or height < 8:
        raise click.BadParameter("must be at least 8 8")
    return (height, width)


def _label_map(_ctx, _param, value):
    from seqcore_train.data.datasets import parse_label_map

    try:
        return tuple(parse_label_map(value).items())
    except SeqCoreError as exc:
        raise click.BadParameter(str(exc)) from None


def _data_options(argument: str = "data"):
    """DATA (named `argument` in the usage line) and the options that say how it is read, shared by
    every command that reads DATA; the command receives them as one `options` (DataOptions)."""
    params = [
        click.argument(argument, nargs=-1, required=True),
        click.option(
            "--split",
            type=click.Choice(["train", "val", "test"]),
            default=None,
            help="Split to use (default: train for fit, val for calibrate, test for "
            "evaluate, all for predict).",
        ),
        click.option(
            "--label-map",
            callback=_label_map,
            default=None,
            metavar="RAW=CLASS,...",
            help="LabelMe label -> class name; CLASS:defect|impurity adds a class, "
            "'ignore' excludes the region.",
        ),
        click.option(
            "--image-size",
            nargs=2,
            type=int,
            default=None,
            callback=_image_size,
            metavar="W H",
            help="Resize every image to width W, height H (default: the model's, else as is).",
        ),
        click.option(
            "--batch-size",
            default="auto",
            show_default=True,
            callback=_batch_size,
            metavar="N|auto",
            help="Images per backbone pass. auto: 1 on the CPU (fastest per image there), on a "
            "GPU as many as fit in one tile.",
        ),
        click.option(
            "--tile-megapixels",
            type=click.FloatRange(0),
            default=None,
            help=f"Most pixels per backbone pass (default {TILE_PIXELS / 1e6:g}); larger images go "
            "one at a time in tiles with the same features. 0: whole images, any size.",
        ),
        _device_option(),
    ]

    def decorate(function):
        @functools.wraps(function)
        def command(*args, split, label_map, image_size, batch_size, tile_megapixels, **kwargs):
            from seqcore_train.workflows import DataOptions

            tile = "auto" if tile_megapixels is None else max(1, round(tile_megapixels * 1e6))
            options = DataOptions(
                data=tuple(kwargs.pop(argument)),
                split=split,
                label_map=label_map or (),
                image_size=image_size,
                batch_size=batch_size,
                tile_pixels=None if tile_megapixels == 0 else tile,
            )
            return function(*args, options=options, **kwargs)

        for param in reversed(params):
            command = param(command)
        return command

    return decorate


def _device(ctx, _param, value):
    """The device, checked before any work (a missing GPU lists those there are) and made current."""
    if ctx.resilient_parsing:  # shell completion: no torch import
        return value
    from seqcore_train.devices import use_device

    try:
        return str(use_device(value))
    except SeqCoreError as exc:
        raise click.BadParameter(str(exc)) from None


def _device_option():
    return click.option(
        "--device",
        default="auto",
        show_default=True,
        callback=_device,
        help="auto (the first GPU, else the CPU), cpu, cuda, or cuda:N for GPU N.",
    )


def _engine_option():
    return click.option(
        "--engine",
        type=click.Choice(["auto", "torch", "onnxruntime"]),
        default="auto",
        show_default=True,
        help="What runs the model. auto: onnxruntime on the CPU when installed and each image fits "
        "one backbone pass (faster, the same maps to 1e-4), torch otherwise.",
    )


def _batch_size(_ctx, _param, value):
    if str(value).strip().lower() == "auto":
        return "auto"
    try:
        size = int(value)
    except ValueError:
        size = 0
    if size < 1:
        raise click.BadParameter(f"{value!r} is not a whole number >= 1 or 'auto'")
    return size


@click.group(cls=_OneLineErrors, epilog=DATA_HELP, invoke_without_command=True)
@click.version_option(package_name="seqcore-train")
@click.pass_context
def cli(ctx):
    """Sequential PatchCore: build, fine-tune, meld, calibrate and evaluate anomaly detectors."""
    if ctx.invoked_subcommand is None:  # bare `seqcore-train`: the help, not an error message
        click.echo(ctx.get_help())
        ctx.exit(2)


def _model_options(function):
    """The model's options; the command receives them as one `config` (ModelConfig)."""
    params = [
        click.option(
            "--backbone",
            default="efficientnet_lite0",
            show_default=True,
            help="efficientnet_lite0 (weights ship with the package), mobilenet_v3_large, resnet18 "
            "or wide_resnet50_2 (these need --weights or the torch hub cache).",
        ),
        click.option(
            "--layers", default=None, help="Comma-separated stage names (default: backbone's)."
        ),
        click.option(
            "--pool-kernel",
            type=click.IntRange(1),
            default=POOL_KERNEL,
            show_default=True,
            help="Average-pooling kernel (cells); the paper used 2 on its plates.",
        ),
        click.option(
            "--weights",
            type=click.Path(dir_okay=False),
            default=None,
            help="State dict for torchvision backbones.",
        ),
        click.option(
            "--coreset-size", type=click.IntRange(1), default=CORESET_SIZE, show_default=True
        ),
        click.option(
            "--sampler",
            type=click.Choice(["sequential", "greedy"]),
            default="sequential",
            show_default=True,
        ),
        click.option(
            "--blur-sigma",
            type=click.FloatRange(0),
            default=BLUR_SIGMA,
            show_default=True,
            help="Gaussian blur of the anomaly map (px); the paper used 2 on its plates.",
        ),
        click.option(
            "--chunk-size",
            type=click.IntRange(1),
            default=CHUNK_SIZE,
            show_default=True,
            help="Patches screened per matrix product (memory: chunk x coreset size x 4 B). A "
            "replacement re-screens the rest of its chunk, so CPUs like small chunks; GPUs like "
            "2048 or more.",
        ),
    ]

    @functools.wraps(function)
    def command(*args, backbone, layers, **kwargs):
        from seqcore_train.model.features import BACKBONES
        from seqcore_train.model.patchcore import ModelConfig

        if backbone not in BACKBONES:
            raise click.BadParameter(
                f"unknown backbone {backbone!r} (have: {', '.join(sorted(BACKBONES))}; "
                "offline default: efficientnet_lite0)",
                param_hint="--backbone",
            )
        names = tuple(x.strip() for x in layers.split(",") if x.strip()) if layers else None
        fields = ("pool_kernel", "weights", "coreset_size", "sampler", "blur_sigma", "chunk_size")
        try:
            config = ModelConfig(
                backbone=backbone, layers=names, **{name: kwargs.pop(name) for name in fields}
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        return function(*args, config=config, **kwargs)

    for param in reversed(params):
        command = param(command)
    return command


def _training_options(function):
    """How a fit runs; the command receives them as one `training` (TrainOptions) and `resume`."""
    params = [
        click.option("--epochs", type=click.IntRange(1), default=5, show_default=True),
        click.option(
            "--tol",
            type=click.IntRange(0),
            default=0,
            show_default=True,
            help="Stop after an epoch with at most this many replacements.",
        ),
        click.option(
            "--augment",
            is_flag=True,
            help="Brightness/contrast, flips, blur, noise, black border (paper §V.B).",
        ),
        click.option(
            "--seed",
            type=int,
            default=0,
            show_default=True,
            help="Seeds augmentation and the greedy sampler's start.",
        ),
        click.option(
            "--no-resume", is_flag=True, help="Ignore a checkpoint left by an interrupted run."
        ),
    ]

    @functools.wraps(function)
    def command(*args, epochs, tol, augment, seed, no_resume, **kwargs):
        from seqcore_train.data.augment import AugmentConfig
        from seqcore_train.train_options import TrainOptions

        training = TrainOptions(
            epochs=epochs, tol=tol, augment=AugmentConfig() if augment else None, seed=seed
        )
        return function(*args, training=training, resume=not no_resume, **kwargs)

    for param in reversed(params):
        command = param(command)
    return command


@cli.command(epilog=DATA_HELP)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Model file to write (.safetensors).",
)
@_model_options
@_training_options
@_data_options()
def fit(out, config, training, resume, options, device):
    """Build a coreset from the nominal (train) images of DATA."""
    from seqcore_train import workflows
    from seqcore_train.output_lock import writing_file

    with writing_file(out):  # the model file and its checkpoint: one writer
        model = workflows.fit(
            out, config, options, training, device=device, resume=resume, log=_log
        )
    click.echo(f"wrote {out} ({len(model.bank)} coreset points)")


@cli.command(epilog=DATA_HELP)
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@_training_options
@_data_options()
def finetune(model, out, training, resume, options, device):
    """Continue updating MODEL's coreset with DATA (then calibrate again)."""
    from seqcore_train import workflows
    from seqcore_train.output_lock import writing_file

    with writing_file(out):
        tuned = workflows.finetune(
            model, out, options, training, device=device, resume=resume, log=_log
        )
    click.echo(f"wrote {out} ({len(tuned.bank)} coreset points)")


@cli.command()
@click.argument(
    "models", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "--coreset-size",
    type=click.IntRange(1),
    default=None,
    help="Target size (default: the first model's).",
)
@click.option("--epochs", type=click.IntRange(1), default=5, show_default=True)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seeds the shuffles after epoch 1."
)
@_device_option()
def meld(models, out, coreset_size, epochs, seed, device):
    """Meld the coresets of MODELS into one (then calibrate it)."""
    from seqcore_train import workflows
    from seqcore_train.output_lock import writing_file

    with writing_file(out):
        melded = workflows.meld(
            models, out, coreset_size=coreset_size, epochs=epochs, seed=seed, device=device
        )
    click.echo(f"wrote {out} ({len(melded.bank)} coreset points)")


@cli.command(epilog=DATA_HELP)
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the calibrated model here (default: update MODEL in place).",
)
@click.option(
    "--nominal-only",
    is_flag=True,
    help="DATA holds good images only: the threshold flags at most a share R of them "
    "(--false-alarm-rate R) instead of maximising pixel F1.",
)
@click.option(
    "--false-alarm-rate",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    metavar="R",
    help="With --nominal-only: the share of good images that may be flagged, e.g. 0.01.",
)
@_data_options()
def calibrate(model, out, nominal_only, false_alarm_rate, options, device):
    """Store the threshold that maximises pixel F1 on the validation split of DATA, or with
    --nominal-only the one that flags at most a share R of its good images."""
    from seqcore_train import workflows
    from seqcore_train.output_lock import writing_file

    if nominal_only != (false_alarm_rate is not None):
        raise click.UsageError("--nominal-only and --false-alarm-rate R go together")
    with writing_file(out or model):  # without --out, MODEL is updated in place
        if nominal_only:
            found = workflows.calibrate_nominal(model, options, false_alarm_rate, out, device)
        else:
            threshold, f1 = workflows.calibrate(model, options, out, device)
    if not nominal_only:
        click.echo(f"threshold {threshold:.6g} (pixel F1 {f1:.3f}) stored in {out or model}")
        return
    n, rate = found["images"], found["false_alarm_rate"]
    click.echo(
        f"threshold {found['threshold']:.6g} stored in {out or model}: {found['flagged']} of {n} "
        f"good images flagged; on new good images {found['expected_rate']:.2%} expected, "
        f"at most {found['upper_95']:.2%} at 95 % confidence"
    )
    if n < found["images_for_rate"]:
        _log(
            f"note: {n} images cannot resolve a rate of {rate:g}: that needs at least "
            f"{found['images_for_rate']} (and {found['images_for_95']} to show it at 95 %)"
        )


@cli.command(epilog=DATA_HELP)
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--threshold", type=float, default=None, help="Override the calibrated threshold.")
@_engine_option()
@_data_options("inputs")
def predict(model, out, threshold, engine, options, device):
    """Heat maps and binary masks (PNG), overlays (JPEG) and raw maps (.npy) for INPUTS (DATA folders)."""
    from seqcore_train import workflows
    from seqcore_train.output_lock import writing_folder

    with writing_folder(out):  # one writer per output (output_lock.py)
        rows = workflows.predict(model, options, out, threshold, device, engine=engine)
    flagged = sum(r["anomalous"] for r in rows)
    click.echo(f"{len(rows)} images, {flagged} anomalous; wrote {out}")


@cli.command(epilog=DATA_HELP)
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--threshold", type=float, default=None, help="Override the calibrated threshold.")
@click.option(
    "--min-component-size",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="A defect counts as found when a predicted component of this many pixels touches it.",
)
@click.option("--name", default=None, help="Row label in the report tables.")
@_engine_option()
@_data_options()
def evaluate(model, out, threshold, min_component_size, name, engine, options, device):
    """Metrics on the test split of DATA: report.json, report.md and figures in --out."""
    from seqcore_train import workflows
    from seqcore_train.output_lock import writing_folder

    with writing_folder(out):
        report = workflows.evaluate(
            model, options, out, threshold, min_component_size, name, device, engine
        )
    pixel = report["pixel"]
    click.echo(
        f"pixel P {_fmt(pixel['precision'])} R {_fmt(pixel['recall'])} F1 {_fmt(pixel['f1'])}, "
        f"mR_DW {_fmt(report['mean_defect_wise_recall'])}; wrote {out / 'report.md'}"
    )


@cli.command()
@click.argument("plan", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option(
    "--report-only", is_flag=True, help="Only rewrite the report from the finished scenarios."
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check the plan and list its renders and scenarios, with what OUT already holds, and "
    "estimate the time left; run nothing.",
)
def experiment(plan, out, report_only, dry_run):
    """Run PLAN.toml (renders, every scenario and seed; resumable) and write OUT/report.md."""
    from seqcore_train.experiment.plan import load_plan
    from seqcore_train.experiment.report import write_report
    from seqcore_train.experiment.runner import run_experiment
    from seqcore_train.output_lock import writing_folder

    if report_only and dry_run:
        raise click.UsageError("--report-only and --dry-run exclude each other")
    parsed = load_plan(plan)  # every plan error surfaces here, before anything runs
    if dry_run:
        from seqcore_train.experiment.cost import estimate_line
        from seqcore_train.experiment.status import describe

        for line in [*describe(parsed, out), estimate_line(parsed, out)]:
            click.echo(line)
        return
    with writing_folder(out):  # --dry-run above only reads and takes no lock
        if report_only:
            write_report(parsed, out)
        else:
            run_experiment(parsed, out, log=_log)  # rewrites the report after every seed
    click.echo(f"wrote {out / 'report.md'}")


@cli.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["onnx", "torchscript"]),
    required=True,
    help="onnx (needs seqcore-train[onnx]) or torchscript (torch only).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Graph file to write (e.g. model.onnx, model.pt).",
)
@click.option(
    "--image-size",
    nargs=2,
    type=int,
    default=None,
    callback=_image_size,
    metavar="W H",
    help="Width then height of the graph's input (default: the model's fitted size).",
)
@click.option(
    "--valid-mask",
    is_flag=True,
    help="A second input, valid (N, H, W) bool: the score counts only cells whose centre is valid.",
)
def export(model, fmt, out, image_size, valid_mask):
    """Write MODEL as one graph: images (N, 3, H, W) RGB in [0, 1] -> anomaly_map (N, H, W),
    score (N,); the coreset inside, the threshold in its metadata."""
    from seqcore_train.export.model import export_model
    from seqcore_train.output_lock import writing_file

    with writing_file(out):
        meta = export_model(model, out, fmt, image_size, valid_input=valid_mask)
    size = meta["image_size"]
    click.echo(f"wrote {out} ({fmt}, input N x 3 x {size['height']} x {size['width']})")


@cli.command("export-dataset", epilog=DATA_HELP)
@click.argument("data", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mvtec", "coco"]),
    default="mvtec",
    show_default=True,
    help="mvtec: MVTec AD category folders; coco: images/ and annotations.json (instances as RLE).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="New folder for the export (must not exist or be empty).",
)
@click.option(
    "--label-map",
    callback=_label_map,
    default=None,
    metavar="RAW=CLASS,...",
    help="LabelMe label -> class name, as for the other commands.",
)
def export_dataset(data, fmt, out, label_map):
    """Copy DATA into MVTec AD layout (train/good, test/<class>, ground_truth/<class>) with a
    side-car seqcore_export.json; impurity-only images become "good" with a note there. Or, with
    --format coco, images/ and annotations.json: one annotation per instance, impurities marked."""
    from seqcore_train.export.dataset import export_dataset as run_export
    from seqcore_train.output_lock import writing_file

    with writing_file(out):  # OUT appears in one rename, like a file
        sidecar = run_export(data, out, fmt, dict(label_map or ()), log=_log)
    if fmt == "coco":
        counts = ", ".join(f"{n} {kind}" for kind, n in sidecar["instances"].items()) or "none"
        click.echo(f"wrote {out} ({sidecar['images']} images; instances: {counts})")
        return
    folders = ", ".join(f"{k} {v}" for k, v in sidecar["folders"].items())
    click.echo(f"wrote {out} ({len(sidecar['images'])} images: {folders})")


@cli.group()
def cluster():
    """Render, fit, meld, calibrate and evaluate a cluster PLAN.toml as Ray tasks (needs
    seqcore-train[ray]); without --address a local Ray cluster of --workers CPUs is started."""


_CLUSTER_HELP = {
    "render": "Render every [render.*] set of PLAN, one task per shard, then merge the manifests.",
    "fit": "Fit one coreset per data shard of PLAN into OUT/fit/.",
    "meld": "Meld the fitted coresets of PLAN as a k-ary tree into OUT/meld/.",
    "run": "Render, fit, meld, calibrate and evaluate PLAN as one pipeline (resumable).",
}


def _cluster_command(command: str):
    @cluster.command(command, help=_CLUSTER_HELP[command])
    @click.argument("plan", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
    @click.option("--address", default=None, help="auto, or HOST:PORT of a running Ray cluster.")
    @click.option(
        "--workers", type=click.IntRange(1), default=None, help="CPUs of a local cluster."
    )
    @click.option("--device", type=click.Choice(["cpu", "gpu"]), default="cpu", show_default=True)
    @click.option("--serial", is_flag=True, help="Run the same steps one by one here, no Ray.")
    def run_stage(plan, out, address, workers, device, serial):
        from seqcore_train.cluster.plan import load_cluster_plan
        from seqcore_train.cluster.steps import (
            check_inputs,
            check_plan_runs,
            run_serial,
            stages_of,
            write_plan_copy,
        )
        from seqcore_train.output_lock import check_lock_reach, writing_folder

        if address is not None and (workers is not None or serial):
            raise click.UsageError(
                "--address joins a running cluster: --workers and --serial are for this machine"
            )
        parsed = load_cluster_plan(plan)  # every plan error surfaces here, before anything runs
        check_plan_runs(parsed)
        check_inputs(parsed, out, stages_of(command))  # e.g. `fit` before `render`: say so now
        if not serial:
            from seqcore_train.cluster.ray_tasks import import_ray, run_on_ray

            import_ray()  # a missing Ray is one line, before any output is written
        check_lock_reach(out, _log)  # the lock must reach every node that writes OUT
        with writing_folder(out):  # the driver's lock; its steps and workers take none
            if serial:
                write_plan_copy(parsed, out)
                last = run_serial(parsed, out, stages_of(command), device, log=_log)
            else:
                last = run_on_ray(parsed, out, stages_of(command), device, address, workers)
        click.echo(f"cluster {command}: done; last output {last}")

    return run_stage


for _command in ("render", "fit", "meld", "run"):
    _cluster_command(_command)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _log(message: str) -> None:
    click.echo(message, err=True)


def main() -> None:
    cli.main(prog_name="seqcore-train")


if __name__ == "__main__":
    main()
