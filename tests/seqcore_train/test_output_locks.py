"""One writer per output folder, with real processes: a second experiment into one --out is refused in
one line naming the holder and touches nothing; a killed run leaves no lock and its rerun resumes;
two --out folders run side by side. Every other command that writes is refused while a writer holds
its output; --dry-run still reads; a cluster output on storage whose locks stay on each machine is
refused before anything runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seqcore_train import cli as cli_module
from seqcore_train import output_lock
from shared_schemas import Mount

ROOT = Path(__file__).resolve().parents[2]
CLI = "from seqcore_train.cli import main; main()"
# The real command, with calibrate made to wait: the run stops, holding its lock, right after its
# fit has finished (so what a rerun resumes is known), whatever the machine's speed.
PAUSED_AFTER_FIT = f"""
import time
from seqcore_train import workflows
def waiting(*args, **kwargs):
    print("paused", flush=True)
    time.sleep(600)
workflows.calibrate = waiting
{CLI}
"""
HOLD = """
import time
from pathlib import Path
from seqcore_train.output_lock import {kind}
with {kind}(Path({target!r})):
    print("locked", flush=True)
    time.sleep(600)
"""
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _files(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `folder`: (bytes, mtime in ns)."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def _kill_group(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)  # kill -9: no chance to clean up
    process.wait(timeout=30)


def _one_line_refusal(stderr: str, out: Path, pid: int) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith(f"seqcore-train: error: {out} is already being written by "), line
    assert f"process {pid} on {socket.gethostname()} (started " in line, line
    return line


@pytest.fixture(scope="module")
def plan(tmp_path_factory, manifest_writer):
    """The smallest experiment: the "Real" row (fit, calibrate, evaluate) on a tiny folder."""
    folder = tmp_path_factory.mktemp("locks")
    data = manifest_writer(
        folder / "data", np.random.default_rng(7), {"train": 2, "val": 2, "test": 2}, 48
    )
    path = folder / "plan.toml"
    roles = "".join(f'[data.{role}]\npath = "{data}"\n' for role in
                    ("real_train", "real_val", "real_test"))  # fmt: skip
    path.write_text(
        '[experiment]\nseeds = [0]\nscenarios = ["Real"]\ncoreset_size = 8\nepochs = 1\n'
        f'batch_size = 2\ndevice = "cpu"\n{roles}'
    )
    return path


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups and signals")
def test_two_experiments_into_one_out_are_refused_and_a_killed_one_resumes(tmp_path, plan):
    out = tmp_path / "out"
    command = ["experiment", str(plan), "--out", str(out)]
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(
            [sys.executable, "-c", PAUSED_AFTER_FIT, *command], stdout=subprocess.PIPE,
            stderr=log, text=True, cwd=ROOT, env=ENV, start_new_session=True,
        )  # fmt: skip
    try:
        assert first.stdout.readline().strip() == "paused", (tmp_path / "first.log").read_text()
        before = _files(out)
        assert "runs/s0/.work/real/train.done.json" in before

        second = subprocess.run([sys.executable, "-c", CLI, *command], capture_output=True,
                                text=True, cwd=ROOT, env=ENV, timeout=300)  # fmt: skip
        assert second.returncode == 1
        _one_line_refusal(second.stderr, out, first.pid)
        assert _files(out) == before  # nothing of the first run touched

        # another --out at the same time: runs to the end beside the held one
        other = tmp_path / "other"
        beside = subprocess.run(
            [sys.executable, "-c", CLI, "experiment", str(plan), "--out", str(other)],
            capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=600,
        )  # fmt: skip
        assert beside.returncode == 0, beside.stderr[-2000:]
        assert (other / "runs" / "s0" / "real" / "done.json").is_file()
        assert not (other / ".seqcore-writer.lock").exists()  # released and removed
        assert first.poll() is None  # the first run still holds its folder
    finally:
        _kill_group(first)

    resumed = subprocess.run([sys.executable, "-c", CLI, *command], capture_output=True,
                             text=True, cwd=ROOT, env=ENV, timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "[s0] Real: train done earlier" in resumed.stderr  # resumed, not started again
    assert (out / "runs" / "s0" / "real" / "done.json").is_file()
    assert (out / "report.md").is_file()


def _holder(kind: str, target: Path) -> subprocess.Popen:
    """Another process that holds the writer lock of `target` until killed."""
    code = HOLD.format(kind=kind, target=str(target))
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                               cwd=ROOT, start_new_session=True)  # fmt: skip
    assert process.stdout.readline().strip() == "locked"
    return process


def _invoke(args: list[str], capsys) -> tuple[int, str, str]:
    """The CLI in this process (its lock taken here, against the holder's process): exit code,
    stdout, stderr."""
    with pytest.raises(SystemExit) as done:
        cli_module.cli.main([str(a) for a in args], "seqcore-train")
    captured = capsys.readouterr()
    return done.value.code, captured.out, captured.err


def _command(name: str, tmp_path: Path, plan: Path) -> tuple[list, str, Path]:
    """(arguments, lock kind, what it writes) of a command that writes."""
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"not read: the lock comes first")
    out = tmp_path / "out"
    cluster_plan = ROOT / "plans" / "cluster_tiny.toml"
    if name in ("export", "export-dataset"):  # a file, or a folder made in one rename
        target = out / ("m.pt" if name == "export" else "mvtec")
        source = [model, "--format", "torchscript"] if name == "export" else ["DATA"]
        return [name, *source, "--out", target], "writing_file", target
    if name in ("fit", "finetune", "meld", "calibrate"):  # a model file (and fit's checkpoint)
        target = model if name == "calibrate" else out / "new.safetensors"
        source = {"fit": ["DATA"], "finetune": [model, "DATA"], "meld": [model, model]}
        args = [name, *source.get(name, [model, "DATA"])]
        return args + ([] if name == "calibrate" else ["--out", target]), "writing_file", target
    args = {
        "predict": ["predict", model, "DATA"],
        "evaluate": ["evaluate", model, "DATA"],
        "experiment --report-only": ["experiment", plan, "--report-only"],
        "cluster run --serial": ["cluster", "run", cluster_plan, "--serial"],
        "cluster render --serial": ["cluster", "render", cluster_plan, "--serial"],
    }[name]
    return [*args, "--out", out], "writing_folder", out


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups and signals")
@pytest.mark.parametrize(
    "name",
    ["predict", "evaluate", "export", "export-dataset", "experiment --report-only",
     "cluster run --serial", "cluster render --serial", "fit", "finetune", "meld", "calibrate"],
)  # fmt: skip
def test_every_writing_command_is_refused_while_another_writes(tmp_path, plan, capsys, name):
    args, kind, target = _command(name, tmp_path, plan)
    holder = _holder(kind, target)
    try:
        folder = target if kind == "writing_folder" else target.parent
        (folder / "partial.txt").write_text("the holder's work")
        before = _files(folder)
        code, _, err = _invoke(args, capsys)
        assert code == 1
        _one_line_refusal(err, target, holder.pid)
        assert _files(folder) == before
    finally:
        _kill_group(holder)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups and signals")
def test_dry_run_reads_while_another_writes_and_a_killed_holder_blocks_nothing(
    tmp_path, plan, capsys, manifest_writer
):
    out = tmp_path / "out"
    holder = _holder("writing_folder", out)
    try:
        before = _files(out)
        code, listed, err = _invoke(["experiment", plan, "--out", out, "--dry-run"], capsys)
        assert code == 0, err
        assert "s0 Real" in listed and _files(out) == before
    finally:
        _kill_group(holder)
    data = manifest_writer(tmp_path / "data", np.random.default_rng(3), {"train": 1}, 16)
    export = out / "mvtec"
    holder = _holder("writing_file", export)
    _kill_group(holder)
    assert (out / ".mvtec.lock").is_file()  # the dead holder's record; its lock is gone
    code, _, err = _invoke(["export-dataset", data, "--out", export], capsys)
    assert code == 0, err
    assert (export / "train" / "good" / "000.png").is_file()
    assert not (out / ".mvtec.lock").exists()


def test_a_cluster_output_whose_locks_stay_on_each_machine_is_refused_first(
    tmp_path, capsys, monkeypatch
):
    out = tmp_path / "shared" / "run1"
    nolock = Mount(str(tmp_path / "shared"), "nfs", ("rw", "vers=3", "nolock"))
    monkeypatch.setattr(output_lock, "mount_of", lambda path: nolock)
    plan = ROOT / "plans" / "cluster_tiny.toml"
    code, _, err = _invoke(["cluster", "run", plan, "--out", out, "--serial"], capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"seqcore-train: error: {out}: nfs at "), err
    assert "mounted nolock" in lines[0] and "another machine" in lines[0]
    assert not out.exists()  # checked before anything was written


def test_an_output_on_an_unknown_file_system_is_a_warning(tmp_path, monkeypatch):
    said = []
    sshfs = Mount(str(tmp_path), "fuse.sshfs", ("rw",))
    monkeypatch.setattr(output_lock, "mount_of", lambda path: sshfs)
    output_lock.check_lock_reach(tmp_path / "run", said.append)
    assert len(said) == 1 and said[0].startswith(f"warning: {tmp_path / 'run'}: fuse.sshfs at ")
    monkeypatch.setattr(output_lock, "mount_of", lambda path: Mount("/", "ext4", ("rw",)))
    output_lock.check_lock_reach(tmp_path / "run", said.append)
    assert len(said) == 1  # a local disk: nothing to say


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups and signals")
def test_the_demo_is_refused_while_another_writes_its_out_and_holds_it_while_it_writes(
    tmp_path, capsys, monkeypatch
):
    from seqcore_train import demo
    from shared_schemas import lock_holder, writer_lock_path

    out = tmp_path / "demo"
    args = ["--out", str(out), "--data", str(tmp_path / "datasets"), "--fresh"]
    holder = _holder("writing_folder", out)
    try:
        (out / "partial.txt").write_text("the holder's work")
        before = _files(out)
        assert demo.main(args) == 1
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"demo: error: {out} is already being ")
        assert f"process {holder.pid} on " in lines[0]
        assert _files(out) == before  # --fresh deleted nothing of the holder's
    finally:
        _kill_group(holder)
    seen = []

    def compare(folders, out, config):
        seen.append((lock_holder(writer_lock_path(out)), sorted(p.name for p in out.iterdir())))
        raise demo.SeqCoreError("stop here")

    monkeypatch.setattr(demo, "compare", compare)
    assert demo.main(args) == 1
    ((held_by, files),) = seen
    assert held_by.pid == os.getpid()  # the demo holds its --out while it writes
    assert files == [".seqcore-writer.lock"]  # --fresh emptied the rest
