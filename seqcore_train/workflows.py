"""The jobs behind the CLI, without click: fit (with resume), calibrate, evaluate, predict.

Each takes plain values (options as frozen dataclasses) and returns plain results, so the demo and tests call them directly and
cli.py only parses options. Outputs are written atomically; the resolved settings go next to them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from seqcore_train.background import WriteBehind, overlap_pays, read_ahead
from seqcore_train.data.batches import (
    AUTO,
    auto_batch_size,
    sample_batches,
    to_tensors,
    training_batches,
)
from seqcore_train.data.datasets import Dataset, LoadedSample, image_shape, open_datasets
from seqcore_train.data.images import jpeg_bytes, png_8bit_bytes, png_bytes
from seqcore_train.errors import DataError, ModelFileError
from seqcore_train.evaluation.false_alarms import nominal_threshold
from seqcore_train.evaluation.map_images import INFERNO, heatmap_index, heatmap_rgb, overlay_rgb
from seqcore_train.evaluation.metrics import Evaluator
from seqcore_train.evaluation.report import render_markdown, write_json
from seqcore_train.export.runtime import engine_for
from seqcore_train.heap import return_large_buffers
from seqcore_train.model.distances import load_kernels_in_background
from seqcore_train.model.patchcore import ModelConfig, SeqPatchCore
from seqcore_train.model_defaults import TILE_PIXELS
from seqcore_train.train_options import TrainOptions
from shared_schemas import atomic_write_bytes

__all__ = [
    "DataOptions",
    "TrainOptions",
    "settings_path",
    "checkpoint_path",
    "train",
    "model_image_size",
    "scored",
    "fit",
    "finetune",
    "meld",
    "calibrate",
    "calibrate_nominal",
    "evaluate",
    "predict",
]


@dataclasses.dataclass(frozen=True)
class DataOptions:
    """How DATA arguments are read (shared by every command)."""

    data: tuple[str, ...]
    split: str | None = None
    label_map: tuple[tuple[str, str], ...] = ()
    image_size: tuple[int, int] | None = None  # (H, W); None keeps each image's own size
    batch_size: int | str = AUTO  # images per backbone pass; "auto": batches.auto_batch_size
    tile_pixels: int | None | str = "auto"  # most pixels per backbone pass; "auto": the default

    def open(self, split: str | None) -> Dataset:
        dataset = open_datasets(list(self.data), split=split, label_map=dict(self.label_map))
        dataset.check()
        return dataset


def _tiled(model: SeqPatchCore, options: DataOptions) -> SeqPatchCore:
    """The model with the tile size asked for (a runtime choice: features are the same)."""
    if options.tile_pixels != "auto":
        model.extractor.tile = options.tile_pixels
    return model


def settings_path(output: Path) -> Path:
    """Where the resolved settings of a job writing `output` go."""
    output = Path(output)
    return output / "settings.json" if output.suffix == "" else output.with_suffix(".settings.json")


def checkpoint_path(model_path: Path) -> Path:
    return Path(model_path).with_suffix(".checkpoint.safetensors")


def _write_settings(output: Path, settings: dict) -> None:
    write_json(settings_path(output), settings)


def model_image_size(
    model: SeqPatchCore, requested: tuple[int, int] | None, dataset: Dataset, where: str
) -> tuple[int, int] | None:
    """The (H, W) data must be resized to for this model.

    A model remembers the image size it was fitted at; other data is resized to it when the
    aspect ratio agrees (feature scale must match the coreset), and is incompatible otherwise.
    """
    size = model.size_for(requested, where)
    if size is not None:
        for record in dataset.records:
            height, width = image_shape(record.image)
            if abs(width / height - size[1] / size[0]) > 0.01 * size[1] / size[0]:
                raise ModelFileError(
                    f"{record.image}: {width}x{height} is incompatible with the model's "
                    f"{size[1]}x{size[0]} images (aspect ratio differs; crop the data first)"
                )
    return size


def _common_size(dataset: Dataset) -> tuple[int, int] | None:
    shapes = {image_shape(r.image) for r in dataset.records}
    return shapes.pop() if len(shapes) == 1 else None


def _bound_heap(model: SeqPatchCore, dataset: Dataset, size: tuple[int, int] | None) -> None:
    """For images beyond one backbone pass (tiled), freed buffers go back to the system at once
    (heap.py): the peak stays bounded, at a cost in page faults that small images need not pay."""
    height, width = size or image_shape(dataset.records[0].image)
    if height * width > (model.extractor.tile or TILE_PIXELS):
        return_large_buffers()


def _batch_size(
    batch_size: int | str, model: SeqPatchCore, dataset: Dataset, size: tuple[int, int] | None
) -> int:
    """`batch_size`, with "auto" resolved for the model's device and the images' size."""
    if batch_size != AUTO:
        return int(batch_size)
    if model.device.type == "cpu":
        return auto_batch_size(model.device, None)
    height, width = size or image_shape(dataset.records[0].image)
    return auto_batch_size(model.device, height * width)


def _progress(total: int, description: str) -> tqdm:
    return tqdm(total=total, desc=description, unit="img", leave=False, disable=None)


def train(
    model: SeqPatchCore,
    dataset: Dataset,
    training: TrainOptions,
    size: tuple[int, int] | None = None,
    batch_size: int | str = AUTO,
    start_epoch: int = 0,
    on_epoch_end: Callable | None = None,
) -> SeqPatchCore:
    """Fit `model` on every record of `dataset` in memory, resized to `size` (H, W) if given: the
    loop the CLI's fit and fine-tune and the Python API share. Sets the fitted image size."""
    epochs = training.epochs
    batch_size = _batch_size(batch_size, model, dataset, size)
    _bound_heap(model, dataset, size)
    batches = training_batches(
        dataset, dataset.records, batch_size, size, training.augment, training.seed
    )
    bar = tqdm(total=epochs, initial=start_epoch, desc="epochs", unit="epoch", disable=None)

    def counted(epoch: int) -> Iterator:
        progress = _progress(len(dataset), f"epoch {epoch + 1}/{epochs}")
        # Where a core is spare the next batch is decoded meanwhile; on the CPU otherwise the
        # decoding waits its turn, and no second batch is held through the backbone pass.
        for images, valid in read_ahead(batches(epoch), ahead=int(overlap_pays(model.device))):
            yield images, valid
            progress.update(len(images))
        progress.close()

    def epoch_done(stats) -> None:
        if on_epoch_end is not None:
            on_epoch_end(stats)
        bar.update(1)

    model.fit(
        counted,
        epochs=epochs,
        tol=training.tol,
        start_epoch=start_epoch,
        on_epoch_end=epoch_done,
        generator=torch.Generator().manual_seed(training.seed),  # the greedy sampler's start
        # Without augmentation every epoch sees the same patches: replay them from disk.
        replay_bytes=REPLAY_BYTES if training.augment is None else 0,
    )
    bar.close()
    size = size or _common_size(dataset)
    if size is not None:
        model.image_size = size
    return model


def _train(
    model: SeqPatchCore,
    out: Path,
    options: DataOptions,
    training: TrainOptions,
    settings: dict,
    resume: bool,
    log: Callable[[str], None],
) -> SeqPatchCore:
    if model.config.sampler == "sequential" and model.device.type == "cpu":
        load_kernels_in_background()
    dataset = options.open(options.split or "train")
    size = model_image_size(model, options.image_size, dataset, str(out))
    model.extractor  # noqa: B018 -- builds the backbone now: a missing one fails before any work
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    checkpoint = checkpoint_path(out)
    start = 0
    if resume and checkpoint.is_file():
        saved = SeqPatchCore.load(checkpoint, device=model.device, extractor=model.extractor)
        mark = saved.metadata.get("checkpoint") or {}
        if mark.get("settings") == key:
            saved.metadata.pop("checkpoint", None)
            model, start = saved, int(mark["epoch"]) + 1
            log(f"resuming from {checkpoint} after epoch {start}")

    def on_epoch_end(stats) -> None:
        model.save(
            checkpoint, extra_metadata={"checkpoint": {"epoch": stats.epoch, "settings": key}}
        )
        log(
            f"epoch {stats.epoch + 1}: {stats.patches} patches, {stats.additions} added, "
            f"{stats.replacements} replaced, d_m {stats.d_m:.4g}, {stats.seconds:.1f} s"
        )

    train(model, dataset, training, size, options.batch_size, start, on_epoch_end)
    model.metadata["training_data"] = model.metadata.get("training_data", []) + [
        {"data": list(options.data), "split": options.split or "train", "images": len(dataset)}
    ]
    model.save(out, extra_metadata={"settings": settings})
    _write_settings(out, settings)
    checkpoint.unlink(missing_ok=True)
    return model


def _training_settings(
    command: str, config: ModelConfig, options: DataOptions, training: TrainOptions, **more
) -> dict:
    """What a fit or fine-tune was asked to do: written beside the model, and the resume key."""
    return {
        "command": command,
        **more,
        "model": config.to_dict(),
        "data": dataclasses.asdict(options),
        **dataclasses.asdict(training),
    }


def fit(
    out: Path,
    config: ModelConfig,
    options: DataOptions,
    training: TrainOptions | None = None,
    *,
    device: str = "auto",
    resume: bool = True,
    log: Callable[[str], None] = print,
) -> SeqPatchCore:
    """Build a coreset from the train split of DATA and save the model file `out`."""
    training = TrainOptions() if training is None else training
    settings = _training_settings("fit", config, options, training)
    model = _tiled(SeqPatchCore(config, device=device), options)
    return _train(model, Path(out), options, training, settings, resume, log)


def finetune(
    model_path: Path,
    out: Path,
    options: DataOptions,
    training: TrainOptions | None = None,
    *,
    device: str = "auto",
    resume: bool = True,
    log: Callable[[str], None] = print,
) -> SeqPatchCore:
    """Continue updating a trained coreset with new data (paper: fine-tuning on real images)."""
    training = TrainOptions() if training is None else training
    model = _tiled(SeqPatchCore.load(model_path, device=device), options)
    settings = _training_settings(
        "finetune", model.config, options, training, base_model=str(model_path)
    )
    model.threshold = None  # the old threshold belongs to the old coreset
    model.metadata["finetuned_from"] = str(model_path)
    return _train(model, Path(out), options, training, settings, resume, log)


def meld(
    model_paths: Sequence[Path],
    out: Path,
    coreset_size: int | None = None,
    epochs: int = 5,
    seed: int = 0,
    device: str = "auto",
) -> SeqPatchCore:
    """Meld coresets into one of `coreset_size` points (default: the first model's size)."""
    models = [SeqPatchCore.load(p, device=device) for p in model_paths]
    melded = SeqPatchCore.meld(models, size=coreset_size, epochs=epochs, seed=seed)
    settings = {
        "command": "meld",
        "models": [str(p) for p in model_paths],
        "coreset_size": melded.config.coreset_size,
        "epochs": epochs,
        "seed": seed,
    }
    melded.save(out, extra_metadata={"settings": settings})
    _write_settings(Path(out), settings)
    return melded


def _shared(samples: list[LoadedSample]) -> tuple[list[LoadedSample], tuple]:
    """(samples, batch tensors), each sample's image now a (H, W, 3) view into the batch tensor:
    the same values, held once instead of twice while the batch is scored and written."""
    images, valid = to_tensors(samples)
    for sample, image in zip(samples, images, strict=True):
        sample.image = image.permute(1, 2, 0).numpy()
    return samples, (images, valid)


def scored(
    model: SeqPatchCore,
    dataset: Dataset,
    size,
    batch_size: int | str,
    description: str,
    overlap: bool | None = None,
    engine: Callable | None = None,
) -> Iterator[tuple[LoadedSample, np.ndarray, float]]:
    """(sample, anomaly map, score) for every record, batch by batch, with a progress bar; with
    `overlap` (None: `background.overlap_pays`) the next batch is decoded while the model works
    on this one. `engine` runs the model (default `model.predict`; export/runtime.py)."""
    if overlap is None:
        overlap = overlap_pays(model.device)
    batch_size = _batch_size(batch_size, model, dataset, size)
    _bound_heap(model, dataset, size)
    progress = _progress(len(dataset), description)
    decoded = (
        _shared(samples) for samples in sample_batches(dataset, dataset.records, batch_size, size)
    )
    for samples, (images, valid) in read_ahead(decoded, ahead=int(overlap)):
        maps, scores = (engine or model.predict)(images, valid)
        del images, valid
        yield from zip(samples, maps.numpy(), scores.tolist(), strict=True)
        progress.update(len(samples))
        del samples, maps  # before the next batch arrives: at most two batches live
    progress.close()


def _calibration_data(model_path: Path, options: DataOptions, device: str):
    """(model, split, dataset, size) a calibration reads: the validation split unless told."""
    model = _tiled(SeqPatchCore.load(model_path, device=device), options)
    split = options.split or "val"
    dataset = options.open(split)
    return (
        model,
        split,
        dataset,
        model_image_size(model, options.image_size, dataset, str(model_path)),
    )


def calibrate(
    model_path: Path,
    options: DataOptions,
    out: Path | None = None,
    device: str = "auto",
) -> tuple[float, float]:
    """Store the threshold maximising pixel F1 on the validation split; returns (threshold, F1)."""
    model, split, dataset, size = _calibration_data(model_path, options, device)
    evaluator = Evaluator(dataset.classes, None)
    for sample, amap, score in scored(model, dataset, size, options.batch_size, "calibrate"):
        evaluator.update(sample, amap, score)
    if evaluator.hist.counts[1].sum() == 0:
        raise DataError(
            f"{', '.join(options.data)}: no defect pixels in split {split!r}; "
            "a threshold needs annotated defects"
        )
    threshold, f1 = evaluator.best_threshold()
    calibration = {
        "method": "f1",
        "data": list(options.data),
        "split": split,
        "images": len(dataset),
        "f1": f1,
    }
    _store_threshold(model, threshold, calibration, model_path, out)
    return threshold, f1


def calibrate_nominal(
    model_path: Path,
    options: DataOptions,
    false_alarm_rate: float,
    out: Path | None = None,
    device: str = "auto",
) -> dict:
    """Store the threshold that flags at most a share `false_alarm_rate` of good images, from the
    good images of DATA's validation split alone (evaluation/false_alarms.py); returns what was
    stored. An image with annotated defects is an error: it would raise the threshold."""
    model, split, dataset, size = _calibration_data(model_path, options, device)
    is_defect = dataset.classes.kinds_lookup()
    maxima = []
    for sample, amap, _score in scored(model, dataset, size, options.batch_size, "calibrate"):
        if (is_defect[sample.semantic] & sample.valid).any():
            raise DataError(
                f"{sample.record.image}: annotated defects; --nominal-only takes good images only"
            )
        maxima.append(float(amap[sample.valid].max()) if sample.valid.any() else 0.0)
    found = nominal_threshold(maxima, false_alarm_rate)
    calibration = {**found.to_dict(), "data": list(options.data), "split": split}
    del calibration["threshold"]
    _store_threshold(model, found.threshold, calibration, model_path, out)
    return {"threshold": found.threshold, **calibration}


def _store_threshold(model, threshold: float, calibration: dict, model_path, out) -> None:
    """The threshold into the model file (`out`, else MODEL itself), how it was found beside it in
    the metadata and in MODEL.calibration.json."""
    model.threshold = threshold
    model.metadata["calibration"] = calibration
    target = Path(out or model_path)
    model.save(target)
    write_json(
        target.with_suffix(".calibration.json"),
        {"command": "calibrate", "model": str(model_path), "threshold": threshold, **calibration},
    )


def _engine(model: SeqPatchCore, engine: str, dataset: Dataset, size) -> tuple[str, Callable]:
    """(name, callable) of the engine `engine` (auto, torch, onnxruntime) means here."""
    size = size or _common_size(dataset)
    return engine_for(model, engine, None if size is None else size[0] * size[1])


def _threshold(model: SeqPatchCore, override: float | None, model_path) -> float:
    threshold = override if override is not None else model.threshold
    if threshold is None:
        raise ModelFileError(
            f"{model_path}: the model has no threshold; run `seqcore-train calibrate` "
            "or pass --threshold"
        )
    return float(threshold)


def evaluate(
    model_path: Path,
    options: DataOptions,
    out: Path,
    threshold: float | None = None,
    min_component_size: int = 1,
    name: str | None = None,
    device: str = "auto",
    engine: str = "auto",
) -> dict:
    """Metrics on the test split (pixel, defect-wise, per class and image AUROC; see
    metrics.py): report.json, report.md and figures in `out`."""
    model = _tiled(SeqPatchCore.load(model_path, device=device), options)
    threshold = _threshold(model, threshold, model_path)
    split = options.split or "test"
    dataset = options.open(split)
    size = model_image_size(model, options.image_size, dataset, str(model_path))
    evaluator = Evaluator(dataset.classes, threshold, min_component_size)
    best: dict | None = None
    worst: dict | None = None
    started = time.perf_counter()
    engine, run = _engine(model, engine, dataset, size)
    results = scored(model, dataset, size, options.batch_size, "evaluate", engine=run)
    for sample, amap, score in results:
        result = evaluator.update(sample, amap, score)
        panel = {
            "id": sample.record.sample_id,
            "image": sample.image,
            "map": amap,
            "predicted": (amap >= threshold) & sample.valid,
            "truth": dataset.classes.kinds_lookup()[sample.semantic] & sample.valid,
            "valid": sample.valid,
            "f1": result.f1,
            "rank": (result.anomalous, result.f1),
        }
        if best is None or panel["rank"] > best["rank"]:
            best = panel
        if worst is None or panel["rank"][1] < worst["rank"][1]:
            worst = panel
    report = evaluator.result()
    report["curves"] = {"pr": evaluator.pr_curve()}
    report["model"] = str(model_path)
    report["data"] = list(options.data)
    report["split"] = split
    report["seconds"] = round(time.perf_counter() - started, 2)
    label = name or Path(model_path).stem
    out = Path(out)
    from seqcore_train.evaluation.figures import (
        save_best_worst,
        save_coverage_sweep,
        save_pr_curves,
        save_recall_bars,
    )

    figures = [
        ("Per-class recall", "figures/per_class_recall.png"),
        ("Pixel precision-recall", "figures/pr_curve.png"),
        ("Best and worst test images", "figures/best_worst.png"),
        ("Defect-wise recall vs minimum covered share", "figures/coverage_sweep.png"),
    ]
    save_recall_bars([(label, report)], out / figures[0][1])
    save_pr_curves([(label, report)], out / figures[1][1])
    kinds = {info.name: info.kind for info in dataset.classes.classes}
    save_coverage_sweep(label, report["coverage_sweep"], kinds, out / figures[3][1])
    save_best_worst(
        [(f"best ({best['id']})", best), (f"worst ({worst['id']})", worst)],
        0.5 * threshold,
        1.5 * threshold,
        out / figures[2][1],
    )
    write_json(out / "report.json", report)
    write_json(out / "per_image.json", evaluator.per_image())  # for the experiment's bootstrap
    markdown = render_markdown(
        [(label, report)],
        f"SeqCore evaluation: {label}",
        [
            f"Model `{model_path}` on {', '.join(f'`{d}`' for d in options.data)} (split {split}), "
            f"{report['images']} images, threshold {threshold:.4g}."
        ],
        figures,
    )
    (out / "report.md").parent.mkdir(parents=True, exist_ok=True)
    from shared_schemas import atomic_write_text

    atomic_write_text(out / "report.md", markdown)
    _write_settings(
        out,
        {
            "command": "evaluate",
            "model": str(model_path),
            "data": dataclasses.asdict(options),
            "split": split,
            "threshold": threshold,
            "min_component_size": min_component_size,
            "engine": engine,
        },
    )
    return report


# Disk a fit may use to replay the first epoch's patches (152 float32 features: 600 bytes a patch,
# so 4 GiB holds about 7 million patches, e.g. 1800 images of 512 x 512); beyond it, epochs recompute.
REPLAY_BYTES = 4 << 30


FILES_PER_IMAGE = 4  # predict's heat map, mask, overlay and raw map


def _raw_map_bytes(amap: np.ndarray, size: tuple[int, int]) -> memoryview:
    """The anomaly map as a float32 .npy file at `size` (H, W), resampled by pixel centres if the
    model ran at another size."""
    if amap.shape != tuple(size):
        resized = torch.nn.functional.interpolate(
            torch.from_numpy(amap)[None, None],
            size=tuple(size),
            mode="bilinear",
            align_corners=False,
        )
        amap = resized[0, 0].numpy()
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(amap, dtype=np.float32))
    return buffer.getbuffer()


def _output_files(
    out: Path,
    stem: str,
    amap: np.ndarray,
    image: np.ndarray,
    predicted: np.ndarray,
    threshold: float,
    input_size: tuple[int, int],
) -> list[tuple[Path, bytes | memoryview]]:
    """(path, contents) of one image's heat map and mask PNGs, overlay JPEG and raw map.

    This work costs the model time on a CPU the model fills: the heat map and the mask go through
    the fast 8-bit PNG encoder (`png_8bit_bytes`), and the overlay, a photo that PNG cannot
    compress, is a JPEG (~2.5 ms instead of ~50 ms at 512^2)."""
    heatmap = heatmap_index(amap, 0.5 * threshold, 1.5 * threshold)
    if heatmap is not None:
        heatmap_png = png_8bit_bytes(heatmap, INFERNO)
    else:  # a NaN's black is a 257th colour
        heatmap_png = png_bytes(heatmap_rgb(amap, 0.5 * threshold, 1.5 * threshold), 1)
    return [
        (out / f"{stem}_heatmap.png", heatmap_png),
        (out / f"{stem}_mask.png", png_8bit_bytes(predicted.astype(np.uint8) * 255)),
        (out / f"{stem}_overlay.jpg", jpeg_bytes(overlay_rgb(image, predicted))),
        (out / "maps" / f"{stem}.npy", _raw_map_bytes(amap, input_size)),
    ]


def _write_outputs(*job) -> None:
    """Encode and write one image's files (`_output_files`), each atomically."""
    for path, contents in _output_files(*job):
        atomic_write_bytes(path, contents)


def predict(
    model_path: Path,
    options: DataOptions,
    out: Path,
    threshold: float | None = None,
    device: str = "auto",
    overlap: bool | None = None,
    engine: str = "auto",
) -> list[dict]:
    """Heat maps and binary masks (PNG), overlays (JPEG) for every input image, plus scores.json,
    and the raw maps as maps/<name>.npy (float32, at the input image's own size).

    With `overlap` (None: `background.overlap_pays`, i.e. where a core is spare) images are
    decoded ahead and their files encoded and written behind the model by helper threads, one
    image each way. Without, both are done here, between images, and only the disk's part of a
    write (the system calls, the wait for fsync) is left to a helper thread, which needs no core
    while it waits. The files are the same, and memory holds a few images whatever their
    number."""
    model = _tiled(SeqPatchCore.load(model_path, device=device), options)
    threshold = _threshold(model, threshold, model_path)
    dataset = options.open(options.split)
    size = model_image_size(model, options.image_size, dataset, str(model_path))
    out = Path(out)
    rows = []
    if overlap is None:
        overlap = overlap_pays(model.device)
    engine, run = _engine(model, engine, dataset, size)
    results = scored(model, dataset, size, options.batch_size, "predict", overlap, run)
    # Behind the model: one image's encoding and writing; otherwise the previous image's files.
    with WriteBehind(pending=1 if overlap else FILES_PER_IMAGE) as writer:
        for sample, amap, score in results:
            stem = sample.record.sample_id.replace("/", "__")
            predicted = (amap >= threshold) & sample.valid
            input_size = image_shape(sample.record.image)
            job = (out, stem, amap, sample.image, predicted, threshold, input_size)
            if overlap:
                writer.submit(_write_outputs, *job)
            else:
                for path, contents in _output_files(*job):
                    writer.submit(atomic_write_bytes, path, contents)
            rows.append(
                {
                    "id": sample.record.sample_id,
                    "image": str(sample.record.image),
                    "score": score,  # the image score: the largest cell distance, as PatchCore's
                    "anomalous": bool(predicted.any()),  # a pixel at or above the threshold
                    "anomalous_pixels": int(predicted.sum()),
                }
            )
            del sample, amap, predicted, job
    write_json(out / "scores.json", {"threshold": threshold, "images": rows})
    _write_settings(
        out,
        {
            "command": "predict",
            "model": str(model_path),
            "data": dataclasses.asdict(options),
            "threshold": threshold,
            "engine": engine,
        },
    )
    return rows
