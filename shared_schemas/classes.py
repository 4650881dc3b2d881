"""The class table: which labels are defects (positives) and which are impurities (negatives)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KINDS", "ClassInfo", "DEFAULT_CLASSES"]

KINDS = ("defect", "impurity")


@dataclass(frozen=True)
class ClassInfo:
    """One label. `id` is the pixel value in semantic masks (1..255; 0 is the nominal surface)."""

    id: int
    name: str
    kind: str

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "kind": self.kind}


DEFAULT_CLASSES: tuple[ClassInfo, ...] = (
    ClassInfo(1, "scratch", "defect"),
    ClassInfo(2, "bump", "defect"),
    ClassInfo(3, "dent", "defect"),
    ClassInfo(4, "water_stain", "impurity"),
    ClassInfo(5, "fingerprint", "impurity"),
    ClassInfo(6, "sticker", "impurity"),
)
