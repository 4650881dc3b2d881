"""render.py's command without Blender: add-on errors are one line, anything else a traceback."""

import pytest

from blender_addon import render_command
from blender_addon.core.errors import (
    DeviceError,
    ExrError,
    MaterialError,
    RenderSetupError,
    SeqCoreAddonError,
    SettingsError,
)


def test_every_addon_error_shares_the_base():
    for cls in (DeviceError, ExrError, MaterialError, RenderSetupError, SettingsError):
        assert issubclass(cls, SeqCoreAddonError)


def test_an_addon_error_is_one_line_and_exit_1(tmp_path, capsys):
    assert render_command.main(["--out", str(tmp_path), "--merge"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"render.py: error: {tmp_path}: cannot tell the shard count; pass --shard 1/N with --merge"
    ]


def test_a_bug_keeps_its_traceback(tmp_path, monkeypatch):
    def broken(args, shard):
        raise ValueError("a bug, not a user error")

    monkeypatch.setattr(render_command, "_merge", broken)
    with pytest.raises(ValueError, match="a bug"):
        render_command.main(["--out", str(tmp_path), "--merge"])
