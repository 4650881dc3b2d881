"""`make demo`: render small paired datasets, fit Synth and Synth_WS, calibrate, evaluate, compare.

The paper's Table I/II experiment in miniature: two coresets fitted on the same rendered plates,
one set clean and one with water stains (paired: same texture realisation), calibrated on a
validation set and evaluated on a test set of the target domain (render.py's stand-in for the
paper's camera images, with stains of another model than Algorithm 1), both with defects and
impurities, at the `cpu` resolution preset (0.0327 mm/px: a 0.1 mm scratch is 3 px wide).
Everything lands in --out; report.md there compares the two in the paper's table layout and says
whether this run shows the paper's water-stain effect. Rows are labelled as the paper does: without
augmentation (the default) its Synth and Synth_WS rows (only the border black-out, which the paper
applies to every synthetic training image); with --augment its DA rows, Synth_DA and Synth_WS+DA.
`seqcore-train experiment` runs all of the paper's rows.

    python -m seqcore_train.demo --out demo_out           # renders with blender_addon/render.py
    python -m seqcore_train.demo --out DIR --data DATASETS  # reuse train/ val/ test/ datasets
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from seqcore_train import workflows
from seqcore_train.data.augment import border_only, paper_augmentation
from seqcore_train.errors import SeqCoreError
from seqcore_train.evaluation.figures import save_pr_curves, save_recall_bars
from seqcore_train.evaluation.report import render_markdown, write_json
from seqcore_train.experiment.plan import slug
from seqcore_train.experiment.runner import RENDER_SCRIPT, run_render
from seqcore_train.model.patchcore import ModelConfig
from seqcore_train.model_defaults import PAPER_BLUR_SIGMA, PAPER_POOL_KERNEL
from seqcore_train.output_lock import writing_folder
from seqcore_train.train_options import TrainOptions
from shared_schemas import (
    MANIFEST_NAME,
    atomic_write_text,
    renderer_of,
    source_digest,
    writer_lock_path,
)

__all__ = [
    "DemoConfig",
    "row_labels",
    "stain_effect",
    "render_datasets",
    "discard_other_renders",
    "compare",
    "main",
]


DEMO_VIEW_MM = 20.0  # the cpu preset's view: 0.0327 mm/px at the default 612 px


@dataclass(frozen=True)
class DemoConfig:
    """Small defaults sized for <= 15 minutes on a 2-core CPU with set-up (render time dominates)."""

    train_plates: int = 8  # paired: 8 clean + 8 stained renders
    val_plates: int = 12  # two cycles of the target-val preset: a steadier threshold
    test_plates: int = 20  # two cycles of the target-test preset
    resolution: tuple[int, int] = (612, 512)  # the cpu preset: 20 mm view, 0.0327 mm/px
    samples: int = 16  # as the experiment plans render
    seed: int = 2024
    coreset_size: int = 1024
    epochs: int = 2
    augment: bool = False  # the paper's DA (else only the border black-out); decides the labels
    batch_size: int = 4
    device: str = "auto"


def row_labels(config: DemoConfig) -> tuple[str, str]:
    """The paper's labels of the clean and the stained row: DA rows when trained with augmentation."""
    return ("Synth_DA", "Synth_WS+DA") if config.augment else ("Synth", "Synth_WS")


def _render(out: Path, split: str, count: int, seed: int, config: DemoConfig, *extra: str) -> None:
    arguments = [
        "--split", split,
        "--count", str(count),
        "--seed", str(seed),
        "--resolution", *map(str, config.resolution),
        "--view-width-mm", str(DEMO_VIEW_MM),
        "--samples", str(config.samples),
        *extra,
    ]  # fmt: skip
    discard_other_renders(out)
    run_render(out, arguments, split)


def discard_other_renders(out: Path, log: Callable[[str], None] = print) -> bool:
    """The demo's renders are its cache: one made by other add-on sources (an earlier checkout)
    is rendered again, where render.py itself would refuse to resume it. True if discarded."""
    manifest = out / MANIFEST_NAME
    if not manifest.is_file():
        return False
    generator = json.loads(manifest.read_text(encoding="utf-8")).get("generator") or {}
    if generator.get("source") == source_digest(RENDER_SCRIPT.parent):
        return False
    log(f"{out}: rendered by other add-on sources ({renderer_of(generator)}); rendering again")
    shutil.rmtree(out)
    return True


def render_datasets(data: Path, config: DemoConfig) -> dict[str, Path]:
    """Render train (synthetic, paired clean/stained) and the target-domain val/test presets;
    resumable.

    render.py's presets `target-val` and `target-test` cycle through fixed plate plans, so every
    class occurs. Test: clean plates, plates with defects, plates with impurities only, impurities
    right beside defects, with and without water stains (the image AUROC has nominal images).
    Validation, as the paper's one defective plate seen from both sides: defects on every plate,
    impurities on half of them.
    """
    folders = {name: data / name for name in ("train", "val", "test")}
    _render(folders["train"], "train", config.train_plates, config.seed, config,
            "--variant", "paired")  # fmt: skip
    _render(folders["val"], "val", config.val_plates, config.seed + 1, config,
            "--preset", "target-val")  # fmt: skip
    _render(folders["test"], "test", config.test_plates, config.seed + 2, config,
            "--preset", "target-test")  # fmt: skip
    return folders


def stain_effect(reports: dict[str, dict], clean: str, stained: str) -> str:
    """One sentence: did training with water stains flag fewer of the test set's stains?

    The paper's effect is seen when the stained row's water-stain defect-wise recall is below the
    clean row's by more than twice the standard error of the difference of two shares (each over
    the test set's stain instances); otherwise the sentence says plainly that it was not.
    """
    entries = [reports[label]["per_class"].get("water_stain", {}) for label in (clean, stained)]
    n = entries[0].get("instances") or 0
    if not n:
        return (
            "This run's test set holds no water stains: it cannot show the paper's effect "
            "(training with stains flags fewer stains)."
        )
    a, b = (float(e.get("defect_wise_recall") or 0.0) for e in entries)
    se = ((a * (1 - a) + b * (1 - b)) / n) ** 0.5
    seen = a - b > 2 * se
    verdict = "shows" if seen else "does not show"
    return (
        f"Water stains flagged: {a:.0%} of {n} by {clean}, {b:.0%} by {stained} "
        f"(difference {a - b:+.0%}, ±{2 * se:.0%} at two standard errors): this run {verdict} the "
        "paper's effect (training with stains flags fewer stains)."
    )


def compare(
    folders: dict[str, Path],
    out: Path,
    config: DemoConfig,
    log: Callable[[str], None] = print,
) -> dict[str, dict]:
    """Fit, calibrate and evaluate the clean and stained rows (see `row_labels`); write
    out/report.md; return the reports by row label."""
    out = Path(out)
    model_config = ModelConfig(
        coreset_size=config.coreset_size,
        pool_kernel=PAPER_POOL_KERNEL,  # the paper's settings for its plates
        blur_sigma=PAPER_BLUR_SIGMA,
    )
    training = TrainOptions(
        epochs=config.epochs,
        augment=paper_augmentation() if config.augment else border_only(),
        seed=config.seed,
    )
    size = (config.resolution[1], config.resolution[0])

    def data(folder: str) -> workflows.DataOptions:
        return workflows.DataOptions(data=(folder,), image_size=size, batch_size=config.batch_size)

    clean, stained = row_labels(config)
    scenarios = {clean: "clean", stained: "stained"}
    reports: dict[str, dict] = {}
    timings: dict[str, float] = {}
    for label, variant in scenarios.items():
        stem = slug(label)
        model_path = out / "models" / f"{stem}.safetensors"
        started = time.perf_counter()
        train = data(f"{folders['train']}::variant={variant}")
        log(f"{label}: fit on the {variant} training renders")
        workflows.fit(model_path, model_config, train, training, device=config.device, log=log)
        val = data(str(folders["val"]))
        threshold, f1 = workflows.calibrate(model_path, val, device=config.device)
        log(f"{label}: threshold {threshold:.4g} (validation pixel F1 {f1:.3f})")
        test = data(str(folders["test"]))
        reports[label] = workflows.evaluate(
            model_path, test, out / "eval" / stem, name=label, device=config.device
        )
        timings[label] = time.perf_counter() - started
    rows = list(reports.items())
    figures = [
        (f"Per-class recall, {clean} vs {stained}", "figures/per_class_recall.png"),
        ("Pixel precision-recall", "figures/pr_curves.png"),
    ] + [
        (f"{label}: best and worst test images", f"eval/{slug(label)}/figures/best_worst.png")
        for label in scenarios
    ]
    save_recall_bars(rows, out / figures[0][1])
    save_pr_curves(rows, out / figures[1][1])
    notes = [
        f"**{stain_effect(reports, clean, stained)}**",
        "",
        f"Sequential PatchCore fitted on rendered plates without ({clean}) and with ({stained}) "
        "water stains: the same texture realisations, paired. Threshold: maximum pixel F1 on the "
        f"target domain's validation set ({config.val_plates} plates, preset target-val); test "
        f"set: {config.test_plates} target-domain plates (preset target-test: clean plates, "
        "plates with scratches, bumps, dents (↑: higher is better) and with water stains, "
        "fingerprints, stickers (↓: impurities should not be flagged), alone and beside defects). "
        "The target domain stands in for the paper's camera images; its stains are residue films, "
        "not Algorithm 1's, so the stained row meets stains it was not trained on.",
        "",
        f"Settings: {config.train_plates} training plates per variant at "
        f"{config.resolution[0]}x{config.resolution[1]}, {config.samples} Cycles samples, "
        f"coreset {config.coreset_size}, {config.epochs} epochs"
        + (", the paper's augmentation (DA)" if config.augment else ", border black-out only")
        + f", backbone {model_config.backbone}. "
        "Per-model details: " + ", ".join(
            f"[{label}](eval/{slug(label)}/report.md) ({timings[label]:.0f} s)"
            for label in scenarios
        ) + ".",
    ]  # fmt: skip
    markdown = render_markdown(rows, "SeqCore demo: influence of water stains", notes, figures)
    atomic_write_text(out / "report.md", markdown)
    write_json(
        out / "summary.json",
        {
            "reports": {k: str(out / "eval" / slug(k) / "report.json") for k in reports},
            "config": asdict(config),
        },
    )
    return reports


def _empty(out: Path) -> None:
    """Delete everything in `out` but its writer lock, which this run holds."""
    lock = writer_lock_path(out)
    for child in out.iterdir():
        if child == lock:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo_out"))
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder with train/ val/ test/ datasets (default: render into OUT/data)",
    )
    parser.add_argument("--train-plates", type=int, default=DemoConfig.train_plates)
    parser.add_argument("--val-plates", type=int, default=DemoConfig.val_plates)
    parser.add_argument("--test-plates", type=int, default=DemoConfig.test_plates)
    parser.add_argument("--samples", type=int, default=DemoConfig.samples)
    parser.add_argument(
        "--resolution", type=int, nargs=2, metavar=("W", "H"), default=DemoConfig.resolution
    )
    parser.add_argument("--epochs", type=int, default=DemoConfig.epochs)
    parser.add_argument("--coreset-size", type=int, default=DemoConfig.coreset_size)
    parser.add_argument("--device", default=DemoConfig.device)
    parser.add_argument(
        "--augment", action="store_true", help="the paper's DA: rows Synth_DA and Synth_WS+DA"
    )
    parser.add_argument("--fresh", action="store_true", help="empty OUT first")
    args = parser.parse_args(argv)  # fmt: skip
    config = DemoConfig(
        train_plates=args.train_plates,
        val_plates=args.val_plates,
        test_plates=args.test_plates,
        resolution=tuple(args.resolution),
        samples=args.samples,
        coreset_size=args.coreset_size,
        epochs=args.epochs,
        augment=args.augment,
        device=args.device,
    )
    started = time.perf_counter()
    try:
        # One writer per --out, as the CLI's commands (output_lock.py); the renders inside take
        # render.py's own locks on their folders.
        with writing_folder(args.out):
            if args.fresh:
                _empty(args.out)
            if args.data is None:
                folders = render_datasets(args.out / "data", config)
            else:
                folders = {n: args.data / n for n in ("train", "val", "test")}
            reports = compare(folders, args.out, config)
    except SeqCoreError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 1
    for label, report in reports.items():
        pixel = report["pixel"]
        print(
            f"{label:9s} P_PX {pixel['precision']:.3f}  R_PX {pixel['recall']:.3f}  "
            f"F1_PX {pixel['f1']:.3f}  mR_DW {report['mean_defect_wise_recall'] or 0:.3f}  "
            f"AUROC {pixel['auroc'] or 0:.3f}"
        )
    print(stain_effect(reports, *row_labels(config)))
    print(f"demo finished in {time.perf_counter() - started:.0f} s")
    print(f"report: {(args.out / 'report.md').resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
