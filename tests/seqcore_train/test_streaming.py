"""Streaming predict and fit: images decoded ahead and files written behind the model, `--batch-size
auto`, lean map pictures (checked against matplotlib and scipy), and a predict path that never
imports matplotlib or torchvision."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from seqcore_train import workflows
from seqcore_train.background import WriteBehind, overlap_pays, read_ahead
from seqcore_train.cli import cli
from seqcore_train.data.batches import MAX_AUTO_BATCH, auto_batch_size, sample_batches, to_tensors
from seqcore_train.data.datasets import open_datasets
from seqcore_train.data.images import read_mask, write_png
from seqcore_train.evaluation.map_images import (
    INFERNO,
    heatmap_index,
    heatmap_rgb,
    outline,
    overlay_rgb,
)
from seqcore_train.model_defaults import TILE_PIXELS

ROOT = Path(__file__).resolve().parents[2]


# -- map pictures -----------------------------------------------------------------------------
def test_inferno_table_is_matplotlibs():
    from matplotlib import colormaps

    expected = colormaps["inferno"](np.arange(256), bytes=True)[:, :3]
    np.testing.assert_array_equal(INFERNO, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nan", [True, False])
@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (96, 80)])
def test_heatmap_equals_matplotlibs_colour_mapping(shape, nan, dtype):
    """Same bytes as the float RGBA path of matplotlib, incl. NaN, both ends, values beyond and
    values on the bins' edges; without NaN, also as the palette indices a heat map PNG holds."""
    from matplotlib import colormaps

    rng = np.random.default_rng(1)
    amap = (rng.random(shape) * 3 - 0.5).astype(dtype)
    amap.flat[::5] = 0.5  # exactly vmin
    amap.flat[1::7] = 1.5  # exactly vmax: the last colour, as in matplotlib
    amap.flat[3::4] = 0.5 + rng.integers(0, 257, amap.flat[3::4].size) / 256  # bin edges
    if nan:
        amap.flat[2::11] = np.nan
    for vmin, vmax in ((0.5, 1.5), (1.0, 1.0), (0.1, 0.7)):
        scaled = np.clip((amap - vmin) / max(vmax - vmin, 1e-12), 0.0, 1.0)
        expected = (colormaps["inferno"](scaled)[..., :3] * 255).astype(np.uint8)
        np.testing.assert_array_equal(heatmap_rgb(amap, vmin, vmax), expected)
        index = heatmap_index(amap, vmin, vmax)
        if nan and np.isnan(amap).any():
            assert index is None  # black, a 257th colour: written as RGB
        else:
            np.testing.assert_array_equal(INFERNO[index], expected)


def test_outline_equals_scipys_erosion():
    from scipy import ndimage

    rng = np.random.default_rng(2)
    for shape in ((1, 1), (1, 9), (9, 1), (40, 33)):
        mask = rng.random(shape) > 0.4
        expected = mask & ~ndimage.binary_erosion(mask, iterations=1, border_value=0)
        np.testing.assert_array_equal(outline(mask), expected)


def _overlay_in_float(image, predicted, truth=None):
    """The whole-image float32 formulation: tint each layer, paint its outline, then to uint8."""
    from scipy import ndimage

    out = np.clip(image, 0, 1).astype(np.float32).copy()
    colours = {"tp": (0.1, 0.85, 0.2), "fp": (1.0, 0.25, 0.1), "fn": (0.2, 0.5, 1.0)}
    if truth is None:
        layers = [(predicted, colours["fp"])]
    else:
        layers = [
            (predicted & truth, colours["tp"]),
            (predicted & ~truth, colours["fp"]),
            (truth & ~predicted, colours["fn"]),
        ]
    for mask, colour in layers:
        out[mask] = 0.55 * out[mask] + 0.45 * np.asarray(colour, np.float32)
        out[mask & ~ndimage.binary_erosion(mask, border_value=0)] = colour
    return (out * 255).astype(np.uint8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_overlay_equals_the_float_formulation(dtype):
    rng = np.random.default_rng(3)
    image = (rng.random((150, 61, 3)) * 1.2 - 0.1).astype(dtype)  # beyond [0, 1] too; 3 bands
    predicted, truth = rng.random((150, 61)) > 0.6, rng.random((150, 61)) > 0.5
    np.testing.assert_array_equal(
        overlay_rgb(image, predicted), _overlay_in_float(image, predicted)
    )
    np.testing.assert_array_equal(
        overlay_rgb(image, predicted, truth), _overlay_in_float(image, predicted, truth)
    )
    nothing = np.zeros_like(predicted)
    np.testing.assert_array_equal(overlay_rgb(image, nothing), _overlay_in_float(image, nothing))
    planes = np.ascontiguousarray(image.transpose(2, 0, 1)).transpose(1, 2, 0)  # as predict's
    np.testing.assert_array_equal(
        overlay_rgb(planes, predicted), _overlay_in_float(image, predicted)
    )


# -- batch size ----------------------------------------------------------------------------------
def test_auto_batch_size_is_one_on_the_cpu_and_one_pass_on_a_gpu():
    assert auto_batch_size("cpu", 512 * 512) == 1
    assert auto_batch_size(torch.device("cpu"), None) == 1
    gpu = torch.device("cuda", 0)  # only the type is read: no GPU needed
    assert auto_batch_size(gpu, 512 * 512) == TILE_PIXELS // (512 * 512)
    assert auto_batch_size(gpu, 512 * 512) * 512 * 512 <= TILE_PIXELS  # one untiled pass
    assert auto_batch_size(gpu, 2448 * 2050) == 1  # tiled, one image at a time
    assert auto_batch_size(gpu, 16 * 16) == MAX_AUTO_BATCH
    assert auto_batch_size(gpu, None) == 1


def test_batch_size_option_accepts_auto_and_whole_numbers_only(tmp_path):
    data = tmp_path / "images"
    data.mkdir()
    write_png(data / "a.png", np.full((32, 32, 3), 128, np.uint8))
    for bad in ("0", "-2", "two", "1.5"):
        result = CliRunner().invoke(cli, ["fit", str(data), "--out", str(tmp_path / "m.safetensors"),
                                          "--batch-size", bad])  # fmt: skip
        assert result.exit_code == 2, result.output
        assert "--batch-size" in result.output and len(result.output.strip().splitlines()) == 1


# -- reading ahead, writing behind ---------------------------------------------------------------
def test_read_ahead_keeps_order_and_builds_at_most_one_item_ahead():
    built = []
    lock = threading.Lock()

    def items():
        for k in range(12):
            with lock:
                built.append(k)
            yield k

    seen = []
    for item in read_ahead(items(), ahead=1):
        time.sleep(0.01)  # the producer has time to run ahead, if it could
        with lock:
            assert len(built) <= item + 2  # this item and at most the next one
        seen.append(item)
    assert seen == list(range(12))


def test_read_ahead_raises_the_producers_error_in_the_caller():
    def items():
        yield 1
        raise ValueError("bad file x.png")

    with pytest.raises(ValueError, match="bad file x.png"):
        list(read_ahead(items()))


def test_read_ahead_stops_its_thread_when_the_caller_stops_early():
    produced = []

    def items():
        for k in range(1000):
            produced.append(k)
            yield k

    # Threads of earlier tests' failed jobs may live on until their generators are collected.
    before = set(threading.enumerate())
    stream = read_ahead(items())
    assert next(stream) == 0
    assert any(t.name == "seqcore-read-ahead" for t in set(threading.enumerate()) - before)
    stream.close()
    count = len(produced)
    time.sleep(0.05)
    assert len(produced) == count <= 2
    assert not any(t.name == "seqcore-read-ahead" for t in set(threading.enumerate()) - before)


@pytest.mark.parametrize(
    ("cores", "threads", "device", "pays"),
    [(2, 2, "cpu", False), (3, 2, "cpu", True), (2, 1, "cpu", True), (2, 2, "cuda", True)],
)
def test_overlap_pays_only_with_a_core_the_model_leaves_free(
    monkeypatch, cores, threads, device, pays
):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cores)), raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        assert overlap_pays(device) is pays
    finally:
        torch.set_num_threads(before)


def test_write_behind_raises_a_failed_job_and_runs_the_others(tmp_path):
    def job(k):
        if k == 1:
            raise OSError(f"cannot write {k}")
        (tmp_path / f"{k}.txt").write_text(str(k))

    with pytest.raises(OSError, match="cannot write 1"):
        with WriteBehind(pending=1) as writer:
            for k in range(4):
                writer.submit(job, k)
    assert (tmp_path / "0.txt").is_file()


def test_sample_batches_do_not_decode_the_next_image_before_yielding(tmp_path):
    data = tmp_path / "images"
    data.mkdir()
    for k in range(5):
        write_png(data / f"{k}.png", np.full((16, 24, 3), 20 * k, np.uint8))
    dataset = open_datasets([str(data)])
    loads = []
    original = dataset.load

    def counted(record, size=None):
        loads.append(record)
        return original(record, size)

    dataset.load = counted
    for index, batch in enumerate(sample_batches(dataset, dataset.records, 2)):
        assert len(loads) == min(2 * (index + 1), 5)  # only this batch's images so far
        images, valid = to_tensors(batch)
        expected = np.stack([s.image for s in batch]).transpose(0, 3, 1, 2)
        np.testing.assert_array_equal(images.numpy(), expected)  # copies: no arithmetic
        assert images.is_contiguous() and valid is None


# -- predict end to end ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def folder_and_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("streaming")
    rng = np.random.default_rng(4)
    data = root / "images"
    data.mkdir()
    for k in range(5):
        image = rng.integers(60, 200, size=(72, 88, 3)).astype(np.uint8)
        image[10 + 8 * k : 20 + 8 * k, 30:44] = 255  # something to find
        write_png(data / f"img_{k}.png", image)
    model = root / "m.safetensors"
    result = CliRunner().invoke(cli, ["fit", str(data), "--out", str(model), "--coreset-size",
                                      "48", "--epochs", "1", "--device", "cpu"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return data, model


def _predicted(out: Path) -> dict:
    files = {p.name: p for p in sorted(out.rglob("*")) if p.is_file()}
    return {
        "rows": json.loads((out / "scores.json").read_text())["images"],
        "maps": {n: np.load(p) for n, p in files.items() if n.endswith(".npy")},
        "pngs": {
            n: read_mask(p) if "mask" in n else p.read_bytes()
            for n, p in files.items()
            if n.endswith(".png")
        },  # fmt: skip
    }


def test_predict_writes_the_same_files_behind_the_model_as_in_turn(
    tmp_path, folder_and_model, monkeypatch
):
    data, model = folder_and_model
    results = {}
    threads = {(behind, step): set() for behind in (True, False) for step in ("encode", "write")}

    def noting_the_thread(step, work):
        def noted(*args):
            threads[behind, step].add(threading.current_thread().name.split("_")[0])
            return work(*args)

        return noted

    encode, write = workflows._output_files, workflows.atomic_write_bytes
    monkeypatch.setattr(workflows, "_output_files", noting_the_thread("encode", encode))
    monkeypatch.setattr(workflows, "atomic_write_bytes", noting_the_thread("write", write))
    for behind in (True, False):
        out = tmp_path / f"behind-{behind}"
        options = workflows.DataOptions((str(data),))
        workflows.predict(model, options, out, threshold=1.0, device="cpu", overlap=behind)
        results[behind] = _predicted(out)
    # Without overlap the CPU work stays in the caller; the disk's part is always a helper's.
    assert threads == {
        (True, "encode"): {"seqcore-write"},
        (True, "write"): {"seqcore-write"},
        (False, "encode"): {"MainThread"},
        (False, "write"): {"seqcore-write"},
    }
    behind, in_turn = results[True], results[False]
    assert behind["rows"] == in_turn["rows"]
    assert sorted(behind["pngs"]) == sorted(in_turn["pngs"]) and len(behind["maps"]) == 5
    for name, amap in in_turn["maps"].items():
        assert amap.dtype == np.float32 and amap.shape == (72, 88)
        assert np.abs(behind["maps"][name] - amap).max() <= 1e-6 * np.abs(amap).max()
    for name, png in in_turn["pngs"].items():
        if "mask" in name:
            np.testing.assert_array_equal(behind["pngs"][name], png)
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temporary files


def test_auto_batch_predicts_what_batch_four_does(tmp_path, folder_and_model):
    data, model = folder_and_model
    results = {}
    for batch in ("auto", "4"):
        out = tmp_path / f"batch-{batch}"
        result = CliRunner().invoke(cli, ["predict", str(model), str(data), "--out", str(out),
                                          "--threshold", "1", "--batch-size", batch])  # fmt: skip
        assert result.exit_code == 0, result.output
        results[batch] = _predicted(out)
        settings = json.loads((out / "settings.json").read_text())
        assert settings["data"]["batch_size"] == (batch if batch == "auto" else 4)
    auto, four = results["auto"], results["4"]
    assert [r["id"] for r in auto["rows"]] == [r["id"] for r in four["rows"]]
    for a, b in zip(auto["rows"], four["rows"], strict=True):
        assert a["score"] == pytest.approx(b["score"], rel=1e-5)
    for name, amap in four["maps"].items():
        assert np.abs(auto["maps"][name] - amap).max() <= 1e-5 * np.abs(amap).max()


def test_predict_path_imports_neither_matplotlib_nor_torchvision(tmp_path, folder_and_model):
    """In a fresh interpreter, as `seqcore-train predict` runs: these cost seconds of imports."""
    data, model = folder_and_model
    script = f"""
import sys
from seqcore_train.cli import cli
try:
    cli.main(["predict", {str(model)!r}, {str(data)!r}, "--out", {str(tmp_path / "out")!r},
              "--threshold", "1", "--device", "cpu"], prog_name="seqcore-train")
except SystemExit as done:
    assert not done.code, done.code
print(" ".join(sorted(sys.modules)))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, env={"TQDM_DISABLE": "1", "PATH": "/usr/bin:/bin"}, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    modules = set(done.stdout.split())
    assert "seqcore_train.workflows" in modules and (tmp_path / "out" / "scores.json").is_file()
    unwanted = [m for m in modules if m.split(".")[0] in ("matplotlib", "torchvision")]
    assert not unwanted and "seqcore_train.evaluation.figures" not in modules


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or __import__("platform").libc_ver()[0] != "glibc",
    reason="glibc's mallopt",
)
@pytest.mark.parametrize("bounded", [True, False])
def test_large_buffers_go_back_to_the_system_when_freed(bounded):
    """200 MB of 5 MiB buffers between small live objects: freed, they stay resident under
    glibc's own threshold (the control) and leave after `return_large_buffers`."""
    script = f"""
import numpy as np
from seqcore_train.heap import return_large_buffers

def rss():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")) // 1024

if {bounded}:
    assert return_large_buffers()
np.ones(5 << 18, np.float32).sum()  # freed at once: glibc's own threshold rises above 5 MiB
before = rss()
buffers, pins = [], []
for _ in range(40):
    buffers.append(np.ones(5 << 18, np.float32))  # 5 MiB, touched
    pins.append(bytearray(4096))  # stays: the heap cannot shrink past it
during = rss()
del buffers
print(before, during, rss())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    before, during, after = (int(v) for v in done.stdout.split())
    assert during - before >= 190  # MiB: the buffers were resident
    if bounded:
        assert after - before <= 20
    else:
        assert after - before >= 150  # the control: what the bound is for


def _thp_mode() -> str:
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return "none"
    return text.split("[")[1].split("]")[0]


@pytest.mark.parametrize("preset", [None, "0"])
def test_huge_pages_for_torch_are_asked_for_before_torch_loads(preset):
    """The variable is set for the process (and its children) unless the user set it; it is then
    PyTorch's: a large tensor is backed by 2 MiB pages (where the kernel offers them on request)."""
    script = """
import os
from seqcore_train.heap import THP_VARIABLE, huge_pages_for_torch

took = huge_pages_for_torch()
import torch

tensor = torch.ones(64 << 18)  # 64 MiB, touched
huge = sum(int(line.split()[1]) for line in open("/proc/self/smaps")
           if line.startswith("AnonHugePages:"))
print(took, os.environ[THP_VARIABLE], huge, huge_pages_for_torch())
"""
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    if preset is not None:
        env["THP_MEM_ALLOC_ENABLE"] = preset
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    took, value, huge_kib, again = done.stdout.split()
    assert again == "False"  # torch is loaded now: too late to change anything
    if not sys.platform.startswith("linux"):
        assert took == "False"
        return
    assert (took, value) == (("True", "1") if preset is None else ("False", preset))
    if _thp_mode() in ("always", "madvise"):
        if preset is None:
            assert int(huge_kib) >= 32 << 10  # most of the 64 MiB in 2 MiB pages
        elif _thp_mode() == "madvise":
            assert int(huge_kib) < 8 << 10  # not asked for: 4 KiB pages
