"""A full disk: `fit` and `predict` end in one line naming the file they could not write (exit 1),
and the replay cache, which only saves time, gives way instead of failing the fit."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
import torch

import shared_schemas.atomic
from seqcore_train.model import patch_cache
from seqcore_train.model.patch_cache import PatchCache

from .cli_runner import run

FAST = ["--coreset-size", "16", "--epochs", "2", "--chunk-size", "512", "--device", "cpu"]


def _full(_fd):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as fsync reports it: no file name


@pytest.fixture(scope="module")
def data(tmp_path_factory, manifest_writer):
    root = tmp_path_factory.mktemp("full") / "plates"
    return manifest_writer(root, np.random.default_rng(2), {"train": 2, "test": 1}, 32)


def _one_line(result, path):
    assert result.exit_code == 1, result.output
    (line,) = result.output.strip().splitlines()
    assert line == f"seqcore-train: error: {path}: No space left on device"


def test_fit_names_the_file(tmp_path, data, monkeypatch):
    monkeypatch.setattr(shared_schemas.atomic.os, "fsync", _full)
    model = tmp_path / "m.safetensors"
    _one_line(run("fit", data, "--out", model, *FAST), tmp_path / "m.checkpoint.safetensors")
    assert list(tmp_path.glob("*.tmp")) == list(tmp_path.glob(".*.tmp")) == []


def test_predict_names_the_file(tmp_path, data, monkeypatch):
    model = tmp_path / "m.safetensors"
    assert run("fit", data, "--out", model, *FAST).exit_code == 0
    monkeypatch.setattr(shared_schemas.atomic.os, "fsync", _full)
    out = tmp_path / "pred"
    result = run("predict", model, data, "--split", "test", "--threshold", "1", "--out", out)
    _one_line(result, out / "0003_heatmap.png")


class _FullFile:
    def write(self, _data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def close(self):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_replay_cache_gives_way(monkeypatch):
    monkeypatch.setattr(patch_cache.tempfile, "TemporaryFile", lambda dir=None: _FullFile())
    cache = PatchCache(1 << 20)
    cache.append(torch.ones(4, 3))
    cache.finish_pass()
    assert not cache.usable and not cache.complete  # the fit recomputes features instead
