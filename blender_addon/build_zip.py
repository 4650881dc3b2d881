"""Build the installable extension zip: `python blender_addon/build_zip.py [--out dist] [--wheel-only]`.

The dataset contract `shared_schemas` ships the way Blender extensions bundle Python packages: as a
wheel in `wheels/`, listed under the manifest's `wheels`, which Blender installs into the extension's
site-packages. `--wheel-only` (`make addon-wheel`) rewrites wheels/ from the sources, after which
`blender -c extension build` on `blender_addon/` and this script's zip ship the same files. Paths
are sorted and timestamps fixed: same sources, same wheel, same zip. Standard library only (no pip, no setuptools).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import sys
import zipfile
from pathlib import Path

import tomllib

if __package__:  # imported as a module of the add-on
    from .core.version import addon_version
else:  # run as a script: the add-on's parent folder makes the `blender_addon` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from blender_addon.core.version import addon_version

__all__ = [
    "build_wheel",
    "build_zip",
    "check_manifest_wheel",
    "main",
    "manifest_wheels",
    "wheel_bytes",
    "wheel_name",
]

ADDON_DIR = Path(__file__).resolve().parent
REPO = ADDON_DIR.parent
SCHEMAS_DIR = REPO / "shared_schemas"
_SKIP_DIRS = {"__pycache__", ".pytest_cache"}
_SKIP_FILES = {"pyproject.toml", "build_zip.py"}
_EPOCH = (2024, 1, 1, 0, 0, 0)


def _files(root: Path):
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).parts
        if path.is_dir() or set(rel) & _SKIP_DIRS or any(p.endswith(".egg-info") for p in rel):
            continue
        if any(p.startswith(".") for p in rel) or path.suffix in (".pyc", ".pyo", ".zip"):
            continue
        if len(rel) == 1 and path.name in _SKIP_FILES:
            continue
        yield path


def _info(arcname: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(arcname, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def _schemas_project() -> dict:
    pyproject = SCHEMAS_DIR / "pyproject.toml"
    try:
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{pyproject}: cannot read [project] ({exc})") from None


def wheel_name() -> str:
    """The wheel's file name, from shared_schemas/pyproject.toml (PEP 427 name normalisation)."""
    project = _schemas_project()
    dist = re.sub(r"[-_.]+", "_", project["name"]).lower()
    return f"{dist}-{project['version']}-py3-none-any.whl"


def wheel_bytes() -> bytes:
    """The pure-Python wheel of shared_schemas: its modules, METADATA, WHEEL and RECORD."""
    import io

    if not (SCHEMAS_DIR / "__init__.py").exists():
        raise FileNotFoundError(f"{SCHEMAS_DIR}: shared_schemas package not found")
    project = _schemas_project()
    dist_info = wheel_name().rsplit("-", 3)[0] + ".dist-info"
    entries = [
        (f"shared_schemas/{p.relative_to(SCHEMAS_DIR).as_posix()}", p.read_bytes())
        for p in _files(SCHEMAS_DIR)
        if p.suffix == ".py"
    ]
    metadata = (
        "Metadata-Version: 2.1\n"
        f"Name: {project['name']}\n"
        f"Version: {project['version']}\n"
        f"Summary: {project.get('description', '')}\n"
        f"Requires-Python: {project.get('requires-python', '>=3.10')}\n"
        "License-Expression: GPL-3.0-or-later\n"
    )
    wheel = "Wheel-Version: 1.0\nGenerator: seqcore build_zip.py\nRoot-Is-Purelib: true\n"
    entries += [
        (f"{dist_info}/METADATA", metadata.encode()),
        (f"{dist_info}/WHEEL", (wheel + "Tag: py3-none-any\n").encode()),
    ]
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in entries)
    entries.append((f"{dist_info}/RECORD", (record + f"{dist_info}/RECORD,,\n").encode()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries:
            zf.writestr(_info(name), data)
    return buffer.getvalue()


def manifest_wheels(manifest: Path = ADDON_DIR / "blender_manifest.toml") -> list[str]:
    try:
        return list(tomllib.loads(manifest.read_text(encoding="utf-8")).get("wheels", []))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{manifest}: cannot read ({exc})") from None


def check_manifest_wheel(addon_dir: Path = ADDON_DIR) -> str:
    """The wheel's file name, once the manifest is seen to list exactly it.

    A version bump of shared_schemas without the manifest would otherwise build an extension that
    Blender installs without its dependency.
    """
    name = wheel_name()
    listed = manifest_wheels(addon_dir / "blender_manifest.toml")
    if listed != [f"./wheels/{name}"]:
        raise ValueError(
            f'{addon_dir / "blender_manifest.toml"}: wheels must be ["./wheels/{name}"], '
            f"found {listed}"
        )
    return name


def build_wheel(addon_dir: Path = ADDON_DIR) -> Path:
    """Write wheels/<shared_schemas wheel> (atomically, only when it changed) and return it."""
    name = check_manifest_wheel(addon_dir)
    target = addon_dir / "wheels" / name
    data = wheel_bytes()
    if not target.exists() or target.read_bytes() != data:
        target.parent.mkdir(parents=True, exist_ok=True)
        for old in target.parent.glob("seqcore_shared_schemas-*.whl"):
            old.unlink()
        tmp = target.with_name(f".{name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    return target


def build_zip(out_dir: Path) -> Path:
    """The extension zip: blender_manifest.toml first, then the add-on's files, then the wheel.

    The wheel is built from the current sources into the zip; the copy in wheels/ (for `blender -c
    extension build`) is left as it is, so a test can tell when it is stale.
    """
    wheel = f"wheels/{check_manifest_wheel()}"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"seqcore-{addon_version()}.zip"
    tmp = target.with_name(f".{target.name}.tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        zf.writestr(
            _info("blender_manifest.toml"), (ADDON_DIR / "blender_manifest.toml").read_bytes()
        )
        for path in _files(ADDON_DIR):
            rel = path.relative_to(ADDON_DIR).as_posix()
            if rel not in ("blender_manifest.toml", wheel) and not rel.startswith("wheels/"):
                zf.writestr(_info(rel), path.read_bytes())
        zf.writestr(_info(wheel), wheel_bytes())
    tmp.replace(target)
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist")
    parser.add_argument(
        "--wheel-only",
        action="store_true",
        help="only (re)write wheels/ for `blender -c extension build`",
    )
    args = parser.parse_args(argv)
    try:
        print(build_wheel() if args.wheel_only else build_zip(args.out))
    except (OSError, ValueError) as exc:
        print(f"build_zip.py: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
