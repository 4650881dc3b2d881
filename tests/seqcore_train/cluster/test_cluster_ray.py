"""`seqcore-train cluster` on a real local Ray cluster of 2 CPUs, against the sequential executor.

Real files, real weights, real Ray workers: a worker is SIGKILLed in the middle of a fit and the
job still finishes, and the cluster's coresets equal bit for bit those of the same steps run one
after another here (same machine and code: bitwise is the right tolerance). The rendered variant
goes through render.py shards, the merge and per-shard fits.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from seqcore_train.cluster.plan import Layout, data_shards, load_cluster_plan, meld_tree
from seqcore_train.cluster.steps import run_serial
from shared_schemas import load_manifest

pytest.importorskip("ray")

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]


def _cluster(*args: str) -> list[str]:
    return [sys.executable, "-m", "seqcore_train.cli", "cluster", *args]


def _run_cluster(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        _cluster(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def _coreset(path: Path) -> np.ndarray:
    return load_file(str(path))["coreset"]


def _models(out: Path, plan) -> list[Path]:
    """Every model file the plan makes, fit leaves then meld nodes, then the final model."""
    layout = Layout(out)
    leaves = [layout.fit_model(s.index) for s in data_shards(plan, layout)]
    nodes = [n.out for level in meld_tree(leaves, plan.meld.k, layout) for n in level]
    return leaves + nodes + [layout.model]


def _assert_same_coresets(plan, cluster_out: Path, serial_out: Path) -> None:
    for path in _models(cluster_out, plan):
        twin = serial_out / path.relative_to(cluster_out)
        a, b = _coreset(path), _coreset(twin)
        assert a.shape == b.shape and a.dtype == b.dtype == np.float32, path
        assert a.tobytes() == b.tobytes(), f"{path} differs from {twin}"


def test_a_killed_worker_is_retried_and_the_result_equals_the_serial_run(tmp_path, manifest_writer):
    rng = np.random.default_rng(7)
    # shard 1 is the one killed: enough images that its fit is still running when the kill lands
    for index, count in enumerate([2, 16, 2]):
        manifest_writer(tmp_path / f"part{index}", rng, {"train": count}, size=64)
    manifest_writer(tmp_path / "held_out", rng, {"val": 2, "test": 2}, size=64)
    plan_path = tmp_path / "plan.toml"
    plan_path.write_text(
        textwrap.dedent("""
        [cluster]
        retries = 2
        [fit]
        data = ["part0", "part1", "part2"]
        coreset_size = 24
        epochs = 2
        [meld]
        k = 2
        coreset_size = 16
        epochs = 2
        [calibrate]
        data = ["held_out"]
        [evaluate]
        data = ["held_out"]
        """),
        encoding="utf-8",
    )
    out = tmp_path / "cluster"
    attempts = out / ".running" / "fit-1.log"
    process = subprocess.Popen(
        _cluster("run", str(plan_path), "--out", str(out), "--workers", "2"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 150
        while not attempts.is_file() or not attempts.read_text().strip():
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "the fit of shard 1 never started"
            time.sleep(0.02)
        victim = int(attempts.read_text().split()[0])
        os.kill(victim, signal.SIGKILL)  # the Ray worker process running fit shard 1
        killed_mid_task = not Layout(out).fit_model(1).exists()
        output, _ = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output[-3000:]
    assert killed_mid_task, "the fit finished before the kill: the test proved nothing"
    lines = attempts.read_text().splitlines()
    assert len(lines) >= 2 and int(lines[-1].split()[0]) != victim, lines  # rerun elsewhere
    assert (out / "eval" / "report.md").is_file()
    assert not list((out / "fit").glob("*.checkpoint.safetensors"))  # finished, not left half

    plan = load_cluster_plan(plan_path)
    serial = tmp_path / "serial"
    run_serial(plan, serial, log=lambda message: None)
    _assert_same_coresets(plan, out, serial)
    assert _coreset(Layout(out).model).shape == (16, 152)


@pytest.mark.blender
def test_rendered_shards_fit_meld_and_calibrate_like_the_serial_run(tmp_path):
    plan_path = tmp_path / "plan.toml"
    plan_path.write_text(
        textwrap.dedent("""
        [render.train]
        args = ["--count", "3", "--resolution", "64", "64", "--samples", "2",
                "--variant", "clean", "--split", "train"]
        shards = 3
        [render.val]
        args = ["--count", "2", "--resolution", "64", "64", "--samples", "2",
                "--variant", "clean", "--split", "val", "--defects", "--seed", "5"]
        [fit]
        data = ["@train"]
        coreset_size = 20
        [meld]
        k = 3
        [calibrate]
        data = ["@val"]
        """),
        encoding="utf-8",
    )
    out = tmp_path / "cluster"
    result = _run_cluster("run", str(plan_path), "--out", str(out), "--workers", "2", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    layout = Layout(out)
    train = layout.rendered("train")
    # three render shards into one folder, merged by the last task
    assert sorted(p.name for p in train.glob("manifest.shard-*")) == [
        f"manifest.shard-{i}-of-3.json" for i in (1, 2, 3)
    ]
    merged = load_manifest(train)  # checks every file the manifest names
    assert [s.id for s in merged.samples] == ["000000", "000001", "000002"]
    for index in (1, 2, 3):  # each fit data shard is one render shard's plate, files readable
        shard = load_manifest(layout.shard_data("train", index, 3))
        assert [s.id for s in shard.samples] == [f"{index - 1:06d}"]
        assert (
            shard.path_of(shard.samples[0].image).resolve()
            == (train / merged.samples[index - 1].image).resolve()
        )
    plan = load_cluster_plan(plan_path)
    leaves = [layout.fit_model(i) for i in range(3)]
    assert [len(level) for level in meld_tree(leaves, 3, layout)] == [1]  # one 3-ary node
    assert load_file(str(layout.model))["coreset"].shape[0] == 20

    # the same steps one after another, on the same renders (rendering is render.py's business)
    serial = tmp_path / "serial"
    shutil.copytree(out / "data", serial / "data")
    shutil.copytree(out / "shards", serial / "shards")
    run_serial(plan, serial, log=lambda message: None)
    _assert_same_coresets(plan, out, serial)
    a = json.loads((out / "model.calibration.json").read_text())
    b = json.loads((serial / "model.calibration.json").read_text())
    assert a["threshold"] == b["threshold"] and a["f1"] == b["f1"]


def test_a_task_failing_on_bad_data_is_one_line_and_not_retried(tmp_path, manifest_writer):
    manifest_writer(tmp_path / "good", np.random.default_rng(3), {"train": 1}, size=64)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.png").write_bytes(b"not a png")
    plan = tmp_path / "plan.toml"
    plan.write_text('[fit]\ndata = ["good", "broken"]\ncoreset_size = 8\n', encoding="utf-8")
    out = tmp_path / "out"
    result = _run_cluster("fit", str(plan), "--out", str(out), "--workers", "2", timeout=240)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"seqcore-train: error: {tmp_path / 'broken' / 'x.png'}: unreadable image (OSError)"
    )
    assert len((out / ".running" / "fit-1.log").read_text().splitlines()) == 1  # no retry
    assert not (out / "fit" / "shard-1.safetensors").exists()


def test_an_address_where_nothing_listens_fails_in_seconds(tmp_path, manifest_writer):
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    manifest_writer(tmp_path / "good", np.random.default_rng(4), {"train": 1}, size=64)
    plan = tmp_path / "plan.toml"
    plan.write_text('[fit]\ndata = ["good"]\ncoreset_size = 8\n', encoding="utf-8")
    address = f"127.0.0.1:{port}"
    result = _run_cluster(
        "fit", str(plan), "--out", str(tmp_path / "out"), "--address", address, timeout=120
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    # (Ray's own error, after ~2 min of retries, reads "no Ray cluster there".)
    assert last.startswith(f"seqcore-train: error: --address {address}: cannot reach a Ray cluster")
    assert not (tmp_path / "out" / "fit").exists()
