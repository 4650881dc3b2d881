"""The toolkit's CLI in-process, for the tests: `run("fit", path, "--out", out)` -> click's Result."""

from __future__ import annotations

from click.testing import CliRunner

from seqcore_train.cli import cli


def run(*args):
    """Invoke `seqcore-train ARGS` (each argument as str) and return click's Result."""
    return CliRunner().invoke(cli, [str(a) for a in args])
