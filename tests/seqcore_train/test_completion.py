"""Shell completion of the installed `seqcore-train` script, and help texts that say what to type."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from seqcore_train.cli import cli
from seqcore_train.model.features import BACKBONES

SCRIPT = Path(sys.executable).with_name("seqcore-train")  # the console script pip installed


def complete(**env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT)], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o nosort -F"), ("zsh", "compdef"), ("fish", "complete --no-files")],
)
def test_completion_script(shell, marker):
    done = complete(_SEQCORE_TRAIN_COMPLETE=f"{shell}_source")
    assert done.returncode == 0, done.stderr
    assert marker in done.stdout and "_SEQCORE_TRAIN_COMPLETE" in done.stdout


def test_completion_answers_subcommands_and_choices():
    done = complete(
        _SEQCORE_TRAIN_COMPLETE="bash_complete", COMP_WORDS="seqcore-train exp", COMP_CWORD="1"
    )
    assert done.returncode == 0, done.stderr
    assert {"plain,export", "plain,export-dataset"} <= set(done.stdout.split())
    done = complete(
        _SEQCORE_TRAIN_COMPLETE="bash_complete",
        COMP_WORDS="seqcore-train export m.safetensors --format ",
        COMP_CWORD="4",
    )
    assert set(done.stdout.split()) == {"plain,onnx", "plain,torchscript"}


def test_help_lists_backbones_and_says_the_size_order():
    fit_help = CliRunner().invoke(cli, ["fit", "--help"], terminal_width=200).output
    for name in BACKBONES:  # a backbone added to the registry must be added to the help
        assert name in fit_help
    assert "--image-size W H" in fit_help and "width W, height H" in fit_help
    export_help = CliRunner().invoke(cli, ["export", "--help"], terminal_width=200).output
    assert "Width then height" in export_help
