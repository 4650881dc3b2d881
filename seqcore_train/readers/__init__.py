"""Dataset formats, one module each, and their registry; readers import only `data.records`,
`data.images`, `errors` and each other (LabelMe builds on `folder`), never the dispatcher.

A reader module has `NAME` (its records' `fmt`), `FILTERS` (whether `PATH::variant=,light=` may
select its samples) and four functions: `detect(path)` (is this DATA path mine?),
`records(spec, classes)` (the `Record`s, adding its classes to the shared table),
`targets(record, shape, classes, label_map)` (the masks at image size as `Targets`, None for a
nominal image) and `check(record, shape, classes, label_map)` (cheap checks before any work, beyond
the image and its valid and instance masks). A new format is one module and one line in `READERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from seqcore_train.data.records import ClassTable, DataSpec, Record, Targets
from seqcore_train.readers import folder, labelme, manifest, mvtec

__all__ = ["READERS", "Reader", "reader_named"]


class Reader(Protocol):
    NAME: str
    FILTERS: bool
    detect: Callable[[Path], bool]
    records: Callable[[DataSpec, ClassTable], list[Record]]
    targets: Callable[[Record, tuple, ClassTable, dict], Targets | None]
    check: Callable[[Record, tuple, ClassTable, dict], None]


# Tried in this order; the first whose `detect` accepts a DATA path reads it. `folder` takes any
# folder and single images, so it stays last.
READERS: list[Reader] = [manifest, mvtec, labelme, folder]


def reader_named(name: str) -> Reader:
    """The reader of records whose `fmt` is `name`."""
    for reader in READERS:
        if reader.NAME == name:
            return reader
    raise KeyError(f"no dataset reader named {name!r}")
