"""Any SeqCore DATA -> a new folder in another layout: an MVTec AD category (here) or COCO
instance annotations (`coco.py`). MVTec AD:

  train/good/NNN.png                 nominal images of the train split (and of split-less folders)
  test/good/NNN.png                  nominal val/test images, and impurity-only images
  test/<class>/NNN.png               images with defects of one class
  test/combined/NNN.png              images with defects of several classes (MVTec's own name)
  ground_truth/<folder>/NNN_mask.png 255 on the image's defect pixels, 0 elsewhere
  seqcore_export.json                side-car: where each file came from, its classes, and notes

MVTec AD knows no impurities (nominal by SeqCore's definition: stains and dust are not defects),
no validation split and no valid masks. So impurity-only images are "good" with a side-car note,
val images go to test/, and images with pixels outside their valid mask are noted (MVTec tools
will score those pixels). An annotated defect on a train image sends that image to test/, as
train/good must be defect-free. Image files are copied byte for byte.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from seqcore_train.data.datasets import Dataset, open_datasets
from seqcore_train.data.images import write_png
from seqcore_train.errors import DataError
from seqcore_train.export.coco import write_coco

__all__ = ["FORMATS", "SIDECAR", "export_dataset"]

SIDECAR = "seqcore_export.json"
COMBINED = "combined"


def _folder_name(class_name: str) -> str:
    """A class name as a safe folder name (LabelMe labels may hold anything)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", class_name).strip("._") or "defect"


def _destination(split: str | None, defects: list[str]) -> tuple[str, str]:
    """(MVTec split, folder) for an image of `split` with these defect classes."""
    if not defects:
        return ("train", "good") if split in (None, "train") else ("test", "good")
    return "test", (_folder_name(defects[0]) if len(defects) == 1 else COMBINED)


def export_dataset(
    data: Sequence[str],
    out: str | os.PathLike,
    fmt: str = "mvtec",
    label_map: dict[str, str] | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Write DATA in layout `fmt` to the new folder `out`, which appears at once (written beside it,
    then renamed); returns the MVTec side-car or the COCO summary."""
    if fmt not in WRITERS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out}: already exists and is not an empty folder")
    dataset = open_datasets(list(data), split=None, label_map=label_map)
    dataset.check()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as work:
        root = Path(work) / "export"
        root.mkdir()
        written = WRITERS[fmt](dataset, root, data, log)
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(root, out)
    return written


def _write_mvtec(dataset: Dataset, root: Path, data: Sequence[str], log) -> dict:
    names = {info.id: info.name for info in dataset.classes.classes}
    is_defect = dataset.classes.kinds_lookup()
    if "good" in {_folder_name(names[i]) for i in names if is_defect[i]}:
        raise DataError(
            f"{', '.join(data)}: a defect class is named 'good', MVTec's nominal folder"
        )
    counters: dict[tuple[str, str], int] = {}
    entries = []
    for folder in ("train/good", "test"):  # the folders that make it an MVTec category
        (root / folder).mkdir(parents=True)
    for sample in dataset.samples():
        record = sample.record
        inside = sample.semantic[sample.valid]
        present = sorted(int(i) for i in np.unique(inside) if i)
        defects = [names[i] for i in present if is_defect[i]]
        impurities = [names[i] for i in present if not is_defect[i]]
        split, folder = _destination(record.split, defects)
        index = counters.get((split, folder), 0)
        counters[(split, folder)] = index + 1
        stem = f"{index:03d}"
        image = Path(split) / folder / f"{stem}{record.image.suffix.lower()}"
        (root / image).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(record.image, root / image)
        entry = {
            "image": image.as_posix(),
            "source": str(record.image),
            "source_id": record.sample_id,
            "source_split": record.split,
            "defects": defects,
            "impurities": impurities,
        }
        if defects:
            truth = is_defect[sample.semantic] & sample.valid
            mask = Path("ground_truth") / folder / f"{stem}_mask.png"
            write_png(root / mask, truth.astype(np.uint8) * 255)
            entry["mask"] = mask.as_posix()
        notes = []
        if impurities and not defects:
            notes.append(
                f"impurity only ({', '.join(impurities)}): nominal, as MVTec AD has no impurities"
            )
        if not sample.valid.all():
            notes.append(
                f"{int((~sample.valid).sum())} pixels outside the valid mask; MVTec AD has "
                "no valid mask, so other tools score them"
            )
        if defects and record.split == "train":
            notes.append("annotated defects on a train image: moved to test")
        if notes:
            entry["notes"] = notes
        entries.append(entry)
    sidecar = {
        "format": "mvtec",
        "source": list(data),
        "classes": [
            {"id": info.id, "name": info.name, "kind": info.kind}
            for info in dataset.classes.classes
        ],
        "folders": {f"{s}/{f}": n for (s, f), n in sorted(counters.items())},
        "images": entries,
    }
    (root / SIDECAR).write_text(json.dumps(sidecar, indent=2) + "\n")
    if ("train", "good") not in counters:
        log(f"note: no train/good images (no nominal train images in {', '.join(data)})")
    return sidecar


WRITERS = {"mvtec": _write_mvtec, "coco": write_coco}
FORMATS = tuple(WRITERS)
