"""Option text of the defect options -> values (no bpy): ranges, class lists and size ranges.

--defects 1-3 --defect-classes scratch,dent --impurity-count 0-2 --defect-size scratch_length_mm=10-30
"""

from __future__ import annotations

from .defects import SIZE_FIELDS as CLASS_SIZE_FIELDS
from .errors import SettingsError

__all__ = ["SIZE_FIELDS", "parse_class_list", "parse_range", "parse_size"]

# --defect-size accepts every class size range and the impurity-to-defect gap.
SIZE_FIELDS = (*CLASS_SIZE_FIELDS, "gap_mm")


def parse_range(text: str, what: str, integer: bool = True) -> tuple:
    """'2' -> (2, 2), '1-3' -> (1, 3); a SettingsError naming `what` otherwise."""
    parts = str(text).strip().split("-")
    try:
        values = [int(p) if integer else float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or values[0] < 0 or values[0] > values[1]:
        raise SettingsError(f"{what}: expected MIN-MAX with 0 <= MIN <= MAX, got {text!r}")
    return tuple(values)


def parse_class_list(text: str, known: tuple, what: str, unique: bool = True) -> tuple:
    """'scratch, dent' -> ('scratch', 'dent'), each name one of `known`.

    `unique=False` keeps repeated names: the classes are drawn uniformly from the list, so a repeat
    weights its class.
    """
    names = tuple(x.strip() for x in str(text).split(",") if x.strip())
    if unique:
        names = tuple(dict.fromkeys(names))
    unknown = [x for x in names if x not in known]
    if unknown:
        raise SettingsError(f"{what}: unknown {','.join(unknown)} (known: {','.join(known)})")
    return names


def parse_size(text: str) -> tuple[str, tuple]:
    """'scratch_width_mm=0.1-0.4' -> ('scratch_width_mm', (0.1, 0.4))."""
    name, _, value = str(text).partition("=")
    name = name.strip()
    if name not in SIZE_FIELDS:
        raise SettingsError(f"--defect-size: unknown {name!r} (known: {', '.join(SIZE_FIELDS)})")
    low, high = parse_range(value, f"--defect-size {name}", integer=False)
    if low <= 0:
        raise SettingsError(f"--defect-size {name}: sizes must be positive, got {value!r}")
    return name, (low, high)
