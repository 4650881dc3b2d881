"""Reading a plan file (TOML) with one clear line for every way it can fail."""

from __future__ import annotations

from pathlib import Path

try:  # the standard library's from Python 3.11; the package still supports 3.10
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        tomllib = None

__all__ = ["read_toml"]


def read_toml(path: Path, error: type[Exception]) -> dict:
    """The parsed file; raises `error` with one line naming the file and the problem."""
    if tomllib is None:  # pragma: no cover - Python 3.10 without tomli
        raise error(f"{path}: reading plans needs Python 3.11+ (tomllib) or the tomli package")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: no such plan file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a plan file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read the plan: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from None
