"""The extension as Blender's own tooling sees it: `blender_ext.py` (the code behind `blender -c
extension validate/build`, shipped in the bpy wheel) validates the manifest and builds the same zip
as `make addon`; the bundled shared_schemas wheel is current and installs with pip."""

import importlib.util
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

from blender_addon.build_zip import build_zip, check_manifest_wheel, wheel_bytes

REPO = Path(__file__).resolve().parents[2]
ADDON = REPO / "blender_addon"


def _blender_ext() -> Path:
    spec = importlib.util.find_spec("bpy")  # locates the wheel without starting Blender
    if spec is None or spec.origin is None:
        pytest.skip("bpy is not installed")
    found = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    assert found, f"no blender_ext.py in {Path(spec.origin).parent}"
    return found[0]


def _run(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)


@pytest.mark.blender
def test_manifest_passes_blenders_validator():
    proc = _run(sys.executable, str(_blender_ext()), "validate", str(ADDON))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success" in proc.stdout


@pytest.mark.blender
def test_blender_build_ships_what_make_addon_ships(tmp_path):
    built = tmp_path / "blender-build.zip"
    proc = _run(
        sys.executable,
        str(_blender_ext()),
        "build",
        "--source-dir",
        str(ADDON),
        "--output-filepath",
        str(built),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ours = build_zip(tmp_path / "dist")
    with zipfile.ZipFile(built) as theirs_zip, zipfile.ZipFile(ours) as ours_zip:
        names = sorted(theirs_zip.namelist())
        assert names == sorted(ours_zip.namelist())
        for name in names:
            assert theirs_zip.read(name) == ours_zip.read(name), name
    assert f"wheels/{check_manifest_wheel()}" in names
    assert "LICENSE" in names and not any(n.endswith(("build_zip.py", ".pyc")) for n in names)


def test_committed_wheel_is_built_from_the_current_sources():
    committed = ADDON / "wheels" / check_manifest_wheel()
    assert committed.exists(), f"{committed} missing: run `make addon-wheel`"
    assert committed.read_bytes() == wheel_bytes(), f"{committed} is stale: run `make addon-wheel`"


def test_wheel_installs_with_pip_and_imports(tmp_path):
    """pip checks the wheel's name, tags and RECORD hashes: an implementation other than ours."""
    wheel = tmp_path / check_manifest_wheel()
    wheel.write_bytes(wheel_bytes())
    target = tmp_path / "site"
    proc = _run(
        sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target",
        str(target), str(wheel),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    code = (
        f"import sys; sys.path.insert(0, {str(target)!r}); import shared_schemas as s; "
        "print(s.__file__); print(len(s.DEFAULT_CLASSES))"
    )
    proc = _run(sys.executable, "-I", "-c", code)
    assert proc.returncode == 0, proc.stderr
    path, count = proc.stdout.split()
    assert Path(path).is_relative_to(target) and int(count) > 0
    dist = list(target.glob("seqcore_shared_schemas-*.dist-info"))
    assert len(dist) == 1


def test_license_is_the_gpl3_the_manifest_names():
    manifest = tomllib.loads((ADDON / "blender_manifest.toml").read_text(encoding="utf-8"))
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"]
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "GNU GENERAL PUBLIC LICENSE" in text and "Version 3, 29 June 2007" in text
    assert "END OF TERMS AND CONDITIONS" in text  # the full text, not a stub
    # Blender's build skips symbolic links, so the add-on folder holds a copy for the zip.
    assert (ADDON / "LICENSE").read_bytes() == (REPO / "LICENSE").read_bytes()


def test_maintainer_has_a_contact():
    manifest = tomllib.loads((ADDON / "blender_manifest.toml").read_text(encoding="utf-8"))
    assert re.fullmatch(r"[^<>]+ <[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+>", manifest["maintainer"])


def test_installed_extension_records_the_checkouts_source_digest(tmp_path):
    """Renders from the extension (UI) and from render.py in a checkout must count as one renderer."""
    from blender_addon.core.version import source_digest
    from shared_schemas import source_digest as digest_of

    installed = tmp_path / "extension"
    with zipfile.ZipFile(build_zip(tmp_path / "dist")) as built:
        built.extractall(installed)
    assert digest_of(installed) == source_digest() == digest_of(ADDON)
