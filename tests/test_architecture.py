"""ARCHITECTURE.md stays true to the tree: every file it names exists.

Names in backticks ending in `.py` or `.toml` are looked up as written from the repository root,
then inside each package, since the document names a package's modules relative to it
(`core/lights.py`, `model/coreset.py`); a bare file name (a folder's table row lists its modules)
must be a file somewhere in the packages. The "Where to change what" table names full paths, and
those must exist exactly as written.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
BASES = (ROOT, ROOT / "blender_addon", ROOT / "seqcore_train", ROOT / "shared_schemas")
NAMED = re.compile(r"`([\w./{},-]+?\.(?:py|toml))`")
FILES = {p.name for b in BASES[1:] for p in b.rglob("*.py")}


def _named(text: str) -> set[str]:
    return {m for m in NAMED.findall(text) if "{" not in m and not m.startswith(".")}


def test_every_file_the_document_names_exists():
    missing = [
        n
        for n in sorted(_named(DOC))
        if not any((b / n).exists() for b in BASES) and not ("/" not in n and n in FILES)
    ]
    assert not missing, f"ARCHITECTURE.md names files that do not exist: {missing}"


def test_where_to_change_what_names_full_paths_that_exist():
    section = DOC.split("## Where to change what", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) >= 6  # header + coreset rule, light, format, render option, scenario
    for topic in ("coreset rule", "light", "dataset format", "render option", "scenario"):
        assert any(topic in row.split("|")[1] for row in rows), topic
    named = _named(section)
    assert named, "the table names no files"
    missing = sorted(n for n in named if not (ROOT / n).exists())
    assert not missing, missing


def test_the_check_catches_a_stale_name():
    assert _named("see `seqcore_train/experiment_plan.py`, `core/lights.py`, `figures/`") == {
        "seqcore_train/experiment_plan.py",
        "core/lights.py",
    }
    assert not any((b / "seqcore_train/experiment_plan.py").exists() for b in BASES)
    assert "experiment_plan.py" not in FILES
