"""Build the installable extension zip: `python blender_addon/build_zip.py [--out dist]`.

The zip holds the add-on package at its root (blender_manifest.toml first) with `shared_schemas`
vendored as `_vendor/shared_schemas`, so the installed extension imports nothing from outside
(`_schemas.py` prefers the vendored copy). Paths are sorted and timestamps fixed: same sources, same zip.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

if __package__:  # imported as a module of the add-on
    from .core.version import addon_version
else:  # run as a script: the add-on's parent folder makes the `blender_addon` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from blender_addon.core.version import addon_version

__all__ = ["build_zip", "main"]

ADDON_DIR = Path(__file__).resolve().parent
REPO = ADDON_DIR.parent
_SKIP_DIRS = {"__pycache__", ".pytest_cache"}
_SKIP_FILES = {"pyproject.toml", "build_zip.py"}
_EPOCH = (2024, 1, 1, 0, 0, 0)


def _files(root: Path):
    for path in sorted(root.rglob("*")):
        parts = set(path.relative_to(root).parts)
        if path.is_dir() or parts & _SKIP_DIRS or any(p.endswith(".egg-info") for p in parts):
            continue
        if path.name in _SKIP_FILES or path.suffix in (".pyc", ".pyo"):
            continue
        yield path


def _add(zf: zipfile.ZipFile, arcname: str, data: bytes) -> None:
    info = zipfile.ZipInfo(arcname, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def build_zip(out_dir: Path) -> Path:
    schemas_dir = REPO / "shared_schemas"
    if not (schemas_dir / "__init__.py").exists():
        raise FileNotFoundError(f"{schemas_dir}: shared_schemas package not found")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"seqcore-{addon_version()}.zip"
    tmp = target.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        _add(zf, "blender_manifest.toml", (ADDON_DIR / "blender_manifest.toml").read_bytes())
        for path in _files(ADDON_DIR):
            rel = path.relative_to(ADDON_DIR).as_posix()
            if rel != "blender_manifest.toml":
                _add(zf, rel, path.read_bytes())
        _add(zf, "_vendor/__init__.py", b'"""Bundled dependencies of the extension."""\n')
        for path in _files(schemas_dir):
            if path.suffix == ".py":
                _add(
                    zf,
                    f"_vendor/shared_schemas/{path.relative_to(schemas_dir).as_posix()}",
                    path.read_bytes(),
                )
    tmp.replace(target)
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist")
    args = parser.parse_args(argv)
    try:
        print(build_zip(args.out))
    except (OSError, ValueError) as exc:
        print(f"build_zip.py: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
