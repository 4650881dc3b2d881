"""Any SeqCore DATA -> COCO instance annotations, for detection and segmentation tools.

  images/NNNNNN.png   the images, copied byte for byte (file_name in annotations.json)
  annotations.json    COCO: images, categories, one annotation per instance

Categories are DATA's classes with their own ids; `supercategory` is the kind, "defect" or
"impurity". Impurities (stains, dust: nominal by SeqCore's definition) are annotated like defects,
and each annotation says which it is in `kind`, so a tool can keep or drop them. `segmentation` is a
compressed RLE (`{"size": [h, w], "counts": "..."}`, pycocotools' string form, column-major runs
starting with background), `bbox` is [x, y, width, height] of the instance's pixels and `area` their
count. An instance is an id of the instance mask; labelled pixels that no instance covers (formats
with class masks only) become one instance per 8-connected component of their class. Each image
entry keeps its source file, id and split, and how many of its pixels lie outside the valid mask.
The RLE is written here with numpy (no pycocotools at run time); the tests read it back with it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from seqcore_train.data.datasets import Dataset
from seqcore_train.data.records import LoadedSample

__all__ = ["ANNOTATIONS", "rle_counts", "rle_string", "write_coco"]

ANNOTATIONS = "annotations.json"
_EIGHT = np.ones((3, 3), dtype=bool)


def rle_counts(mask: np.ndarray) -> list[int]:
    """Run lengths of a (H, W) mask in column-major order, the first run being background."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate(([0], change, [flat.size])))
    return ([0] if flat.size and flat[0] else []) + runs.tolist()


def rle_string(counts: Sequence[int]) -> str:
    """COCO's compressed counts: each count (from the third on, minus the one two before it) in
    5-bit groups, low first, 0x20 marking that more follow, offset by 48 into printable ASCII."""
    out = []
    for i, count in enumerate(counts):
        x = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift: negative differences end at -1
            more = x != -1 if c & 0x10 else x != 0
            out.append(chr(c + 48 + (0x20 if more else 0)))
    return "".join(out)


def _instances(sample: LoadedSample, class_ids: dict[str, int]) -> list[tuple[int, np.ndarray]]:
    """(class id, mask) of every instance: the instance mask's ids, then components of class pixels
    no instance covers."""
    found = []
    for index in np.unique(sample.instance):
        if index == 0:
            continue
        mask = sample.instance == index
        name = sample.instance_classes.get(int(index))
        if name in class_ids:
            class_id = class_ids[name]
        else:  # an instance without a listed class: the class most of its pixels carry
            values = sample.semantic[mask]
            values = values[values > 0]
            if values.size == 0:
                continue
            class_id = int(np.bincount(values).argmax())
        found.append((class_id, mask))
    loose = (sample.semantic > 0) & (sample.instance == 0)
    if loose.any():
        from scipy import ndimage  # function-local: scipy stays off predict's path

        for class_id in np.unique(sample.semantic[loose]):
            components, count = ndimage.label(loose & (sample.semantic == class_id), _EIGHT)
            found += [(int(class_id), components == k) for k in range(1, count + 1)]
    return found


def _annotation(ann_id: int, image_id: int, class_id: int, kind: str, mask: np.ndarray) -> dict:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": class_id,
        "kind": kind,
        "segmentation": {"size": list(mask.shape), "counts": rle_string(rle_counts(mask))},
        "area": int(mask.sum()),
        "bbox": [
            int(cols[0]),
            int(rows[0]),
            int(cols[-1] - cols[0] + 1),
            int(rows[-1] - rows[0] + 1),
        ],
        "iscrowd": 0,
    }


def write_coco(
    dataset: Dataset, root: Path, data: Sequence[str], log: Callable[[str], None]
) -> dict:
    """Write `dataset` as COCO instances into the folder `root`; returns a summary."""
    classes = dataset.classes.classes
    class_ids = {info.name: info.id for info in classes}
    kinds = {info.id: info.kind for info in classes}
    images, annotations = [], []
    (root / "images").mkdir()
    for image_id, sample in enumerate(dataset.samples(), start=1):
        record = sample.record
        name = f"{image_id:06d}{record.image.suffix.lower()}"
        shutil.copyfile(record.image, root / "images" / name)
        height, width = sample.semantic.shape
        images.append(
            {
                "id": image_id,
                "file_name": name,
                "height": height,
                "width": width,
                "source": str(record.image),
                "source_id": record.sample_id,
                "split": record.split,
                "invalid_pixels": int((~sample.valid).sum()),
            }
        )
        for class_id, mask in _instances(sample, class_ids):
            annotations.append(
                _annotation(len(annotations) + 1, image_id, class_id, kinds[class_id], mask)
            )
    document = {
        "info": {"description": f"SeqCore export of {', '.join(data)}"},
        "images": images,
        "categories": [
            {"id": info.id, "name": info.name, "supercategory": info.kind} for info in classes
        ],
        "annotations": annotations,
    }
    (root / ANNOTATIONS).write_text(json.dumps(document) + "\n")
    kinds_found = sorted({a["kind"] for a in annotations})
    return {
        "format": "coco",
        "images": len(images),
        "instances": {k: sum(a["kind"] == k for a in annotations) for k in kinds_found},
    }
