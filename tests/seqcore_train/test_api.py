"""The Python API: `import seqcore_train` stays light, and the README example runs as written and
agrees with the CLI."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import seqcore_train
from seqcore_train.cli import cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "python_api.py"


def test_import_is_light_and_names_resolve():
    code = (
        "import sys, seqcore_train; "
        "assert 'torch' not in sys.modules, 'import seqcore_train pulled in torch'; "
        "from seqcore_train import SeqPatchCore, ModelConfig, fit, evaluate, load_dataset; "
        "assert 'torch' in sys.modules; print(SeqPatchCore.__module__, fit.__module__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["seqcore_train.model.patchcore", "seqcore_train.api"]
    for name in seqcore_train.__all__:
        assert getattr(seqcore_train, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        seqcore_train.nothing  # noqa: B018


@pytest.mark.slow
def test_readme_example_runs_as_written(tmp_path, manifest_writer):
    manifest_writer(
        tmp_path / "plates", np.random.default_rng(2), {"train": 3, "val": 2, "test": 3}
    )
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    printed = re.fullmatch(r"pixel F1 ([\d.]+), pixel AUROC ([\d.]+)\n", done.stdout)
    assert printed, done.stdout
    # The saved model evaluated by the CLI gives the numbers the API printed.
    result = CliRunner().invoke(
        cli,
        ["evaluate", str(tmp_path / "plates.safetensors"), str(tmp_path / "plates")]
        + ["--out", str(tmp_path / "report")],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report/report.json").read_text())
    assert f"{report['pixel']['f1']:.3f}" == printed.group(1)
    assert f"{report['pixel']['auroc']:.3f}" == printed.group(2)
    assert report["threshold"] is not None  # calibrate stored it in the saved model


def test_readme_shows_the_example():
    """The README's Python API block is examples/python_api.py, verbatim (so it is what runs)."""
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert EXAMPLE.read_text() in blocks, "README.md lacks examples/python_api.py as a python block"


def test_api_fit_is_the_cli_fit_with_the_same_defaults(tmp_path, manifest_writer):
    """One loop, one set of defaults: the in-memory fit gives the coreset `seqcore-train fit`
    writes, with every option left at its default but the coreset's size."""
    data = manifest_writer(tmp_path / "d", np.random.default_rng(5), {"train": 2}, 48)
    cli_defaults = {p.name: p.default for p in cli.commands["fit"].params}
    api_defaults = inspect.signature(seqcore_train.fit).parameters
    for name in ("epochs", "tol", "seed", "batch_size", "device"):
        assert api_defaults[name].default == cli_defaults[name], name
    config = seqcore_train.ModelConfig(coreset_size=16)
    assert seqcore_train.ModelConfig().coreset_size == cli_defaults["coreset_size"]
    in_memory = seqcore_train.fit(seqcore_train.load_dataset(data, split="train"), config)
    result = CliRunner().invoke(
        cli, ["fit", str(data), "--out", str(tmp_path / "m.safetensors"), "--coreset-size", "16"]
    )
    assert result.exit_code == 0, result.output
    written = seqcore_train.SeqPatchCore.load(tmp_path / "m.safetensors")
    assert torch.equal(in_memory.bank, written.bank)
    assert in_memory.image_size == written.image_size == (48, 48)
