"""An update (`finetune` on M new good images) against a fit on all N + M images: quality and time.

    .venv/bin/python bench/update.py --old OLD_GOOD --new NEW_GOOD --test TEST --n 8 24 --m 8

For each N: model A is fitted on N images of OLD_GOOD, then fine-tuned on M images of NEW_GOOD;
model B is fitted on the same N + M images at once. Both with the CLI's defaults (coreset 2048, five
epochs, no augmentation). Quality on TEST: image and pixel AUROC (threshold-free). Time: the fit or
fine-tune call alone (the backbone built beforehand, the model loaded and saved inside), in this
process. The images are plain folders of links to the renders' PNGs (all nominal).
Prints a Markdown table; results also go to bench/out/update.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from seqcore_train import workflows  # noqa: E402
from seqcore_train.evaluation.metrics import Evaluator  # noqa: E402
from seqcore_train.model.patchcore import ModelConfig, SeqPatchCore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def linked(folder: Path, images: list[Path]) -> str:
    folder.mkdir(parents=True)
    for image in images:
        (folder / f"{image.parent.parent.name}_{image.name}").symlink_to(image)
    return str(folder)


def quality(model_path: Path, test: str) -> dict:
    model = SeqPatchCore.load(model_path, device="cpu")
    dataset = workflows.DataOptions((test,)).open("test")
    size = workflows.model_image_size(model, None, dataset, str(model_path))
    evaluator = Evaluator(dataset.classes, None)
    for sample, amap, score in workflows.scored(model, dataset, size, "auto", "test"):
        evaluator.update(sample, amap, score)
    report = evaluator.result()
    return {"image_auroc": report["image"]["auroc"], "pixel_auroc": report["pixel"]["auroc"]}


def timed(job, *args, **kwargs) -> float:
    started = time.perf_counter()
    job(*args, **kwargs, device="cpu", resume=False, log=lambda _m: None)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("old", "new", "test"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--n", type=int, nargs="+", default=[8, 24])
    parser.add_argument("--m", type=int, default=8)
    args = parser.parse_args()
    old = sorted((Path(args.old) / "images").glob("*.png"))
    new = sorted((Path(args.new) / "images").glob("*.png"))[: args.m]
    rows = []
    with tempfile.TemporaryDirectory(prefix="seqcore-update-") as tmp:
        tmp = Path(tmp)
        SeqPatchCore(ModelConfig(), device="cpu").extractor  # noqa: B018 -- weights cached once
        new_folder = linked(tmp / "new", new)
        for n in args.n:
            old_folder = linked(tmp / f"old{n}", old[:n])
            all_folder = linked(tmp / f"all{n}", old[:n] + new)
            a, a2, b = (tmp / f"{x}{n}.safetensors" for x in ("a", "a_updated", "b"))
            config = ModelConfig()
            fit_a = timed(workflows.fit, a, config, workflows.DataOptions((old_folder,)))
            update = timed(workflows.finetune, a, a2, workflows.DataOptions((new_folder,)))
            fit_b = timed(workflows.fit, b, config, workflows.DataOptions((all_folder,)))
            row = {
                "n": n,
                "m": len(new),
                "fit_n_s": fit_a,
                "update_m_s": update,
                "fit_n_m_s": fit_b,
            }
            row["a_before"] = quality(a, args.test)
            row["a_updated"] = quality(a2, args.test)
            row["b"] = quality(b, args.test)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| N | M | model | image AUROC | pixel AUROC | time s |\n|---|---|---|---|---|---|")
    for r in rows:
        for label, key, seconds in (
            ("A: fit on N", "a_before", r["fit_n_s"]),
            ("A updated: + finetune on M", "a_updated", r["update_m_s"]),
            ("B: fit on N + M", "b", r["fit_n_m_s"]),
        ):
            q = r[key]
            print(
                f"| {r['n']} | {r['m']} | {label} | {q['image_auroc']:.3f} | {q['pixel_auroc']:.4f} | {seconds:.1f} |"
            )
    out = ROOT / "bench/out/update.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
