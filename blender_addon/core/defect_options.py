"""User-facing option text -> `DefectSettings` (shared by render.py and the UI; no bpy, no argparse).

--defects 1-3 --defect-classes scratch,dent --impurities water_stain,fingerprint,sticker
--impurity-count 0-2 --placement next_to_defect --defect-size scratch_length_mm=10-30
"""

from __future__ import annotations

from .defect_params import DEFECT_CLASSES, IMPURITY_CLASSES
from .defects import SIZE_FIELDS as CLASS_SIZE_FIELDS
from .defects import DefectSettings

__all__ = ["SIZE_FIELDS", "parse_class_list", "parse_range", "parse_size", "settings_from_options"]

# --defect-size accepts every class size range and the impurity-to-defect gap.
SIZE_FIELDS = (*CLASS_SIZE_FIELDS, "gap_mm")


def parse_range(text: str, what: str, integer: bool = True) -> tuple:
    """'2' -> (2, 2), '1-3' -> (1, 3); a ValueError naming `what` otherwise."""
    parts = str(text).strip().split("-")
    try:
        values = [int(p) if integer else float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or values[0] < 0 or values[0] > values[1]:
        raise ValueError(f"{what}: expected MIN-MAX with 0 <= MIN <= MAX, got {text!r}")
    return tuple(values)


def parse_class_list(text: str, known: tuple, what: str) -> tuple:
    names = tuple(dict.fromkeys(x.strip() for x in str(text).split(",") if x.strip()))
    unknown = [x for x in names if x not in known]
    if unknown:
        raise ValueError(f"{what}: unknown {','.join(unknown)} (known: {','.join(known)})")
    return names


def parse_size(text: str) -> tuple[str, tuple]:
    """'scratch_width_mm=0.1-0.4' -> ('scratch_width_mm', (0.1, 0.4))."""
    name, _, value = str(text).partition("=")
    name = name.strip()
    if name not in SIZE_FIELDS:
        raise ValueError(f"--defect-size: unknown {name!r} (known: {', '.join(SIZE_FIELDS)})")
    low, high = parse_range(value, f"--defect-size {name}", integer=False)
    if low <= 0:
        raise ValueError(f"--defect-size {name}: sizes must be positive, got {value!r}")
    return name, (low, high)


def settings_from_options(
    defects: str | None = "1-3",
    defect_classes: str = ",".join(DEFECT_CLASSES),
    impurities=(),
    impurity_count: str = "0-1",
    placement: str = "random",
    sizes=(),
) -> DefectSettings:
    """DefectSettings from option text. `defects` None = no defects; `impurities` may include
    water_stain (the shader's, ignored here)."""
    kwargs = dict(parse_size(s) for s in sizes)
    if defects is None:
        kwargs["defect_count"] = (0, 0)
    else:
        kwargs["defect_count"] = parse_range(defects, "--defects")
        kwargs["defect_classes"] = parse_class_list(
            defect_classes, DEFECT_CLASSES, "--defect-classes"
        )
    others = tuple(x for x in impurities if x != "water_stain")
    unknown = [x for x in others if x not in IMPURITY_CLASSES]
    if unknown:
        raise ValueError(f"--impurities: unknown {','.join(unknown)}")
    kwargs["impurity_classes"] = others
    kwargs["impurity_count"] = parse_range(impurity_count, "--impurity-count") if others else (0, 0)
    kwargs["placement"] = placement
    return DefectSettings(**kwargs)
