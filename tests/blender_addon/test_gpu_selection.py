"""--device gpu --gpu-backend NAME --gpu-ids I,J: parsing, and which Cycles GPUs are chosen (no bpy).

The device listings are what Cycles reports on multi-GPU machines (name, persistent id with the PCI
bus); the bpy side that reads them from Blender is tested in test_gpu_render_device.py.
"""

from __future__ import annotations

import pytest

from blender_addon.core.errors import DeviceError, SettingsError
from blender_addon.core.gpu_selection import (
    AUTO_ORDER,
    GPU_BACKENDS,
    CyclesGpu,
    RenderDevice,
    choose_gpus,
    parse_backend,
    parse_gpu_ids,
    render_device,
)
from blender_addon.core.render_options import parse_args

A100 = [CyclesGpu(f"NVIDIA A100 #{i}", f"CUDA_NVIDIA A100_0000:0{i + 1}:00") for i in range(3)]
OPTIX = [CyclesGpu(g.name, g.id + "_OptiX") for g in A100]
LINUX = ("CUDA", "OPTIX", "HIP", "ONEAPI")  # what bpy 5.0.1 on Linux is built with


def listing(found: dict, asked: list | None = None):
    def found_for(backend):
        if asked is not None:
            asked.append(backend)
        return found.get(backend, [])

    return found_for


def test_backend_names():
    assert [parse_backend(n) for n in GPU_BACKENDS] == ["OPTIX", "CUDA", "HIP", "ONEAPI", "METAL"]
    assert parse_backend(" OptiX ") == "OPTIX"
    assert set(AUTO_ORDER) == {parse_backend(n) for n in GPU_BACKENDS}
    for bad in ("vulkan", "", "cuda:0", "gpu"):
        with pytest.raises(
            SettingsError, match="unknown backend .*optix, cuda, hip, oneapi, metal"
        ):
            parse_backend(bad)


@pytest.mark.parametrize(
    "text, ids", [("0", (0,)), ("0,2", (0, 2)), (" 3 , 1 ", (3, 1)), ("10", (10,))]
)
def test_gpu_ids(text, ids):
    assert parse_gpu_ids(text) == ids


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "give GPU numbers"),
        ("a", "give GPU numbers"),
        ("-1", "give GPU numbers"),
        ("0,,2", "give GPU numbers"),
        ("1.5", "give GPU numbers"),
        ("²", "give GPU numbers"),
        ("0,2,0", "GPU 0 is listed twice"),
    ],
)
def test_bad_gpu_ids(text, message):
    with pytest.raises(SettingsError, match=message) as caught:
        parse_gpu_ids(text)
    assert str(caught.value).startswith("--gpu-ids") and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "request_, spec",
    [
        (RenderDevice(), "cpu"),
        (RenderDevice("gpu"), "gpu"),
        (RenderDevice("gpu", "OPTIX"), "gpu:optix"),
        (RenderDevice("gpu", "CUDA", (0, 2)), "gpu:cuda:0,2"),
        (RenderDevice("gpu", None, (1,)), "gpu::1"),
    ],
)
def test_the_one_string_form_reads_back(request_, spec):
    assert request_.spec() == spec
    assert RenderDevice.parse(spec) == request_


def test_gpu_options_need_the_gpu():
    with pytest.raises(SettingsError, match="^--gpu-ids needs --device gpu$"):
        render_device("cpu", None, "0")
    with pytest.raises(SettingsError, match="^--gpu-backend needs --device gpu$"):
        render_device("cpu", "cuda")
    with pytest.raises(SettingsError, match="unknown device 'tpu'"):
        render_device("tpu")
    assert render_device("gpu", "HIP", "1") == RenderDevice("gpu", "HIP", (1,))


def test_auto_takes_the_first_backend_with_a_gpu_and_all_its_gpus():
    asked = []
    choice = choose_gpus(RenderDevice("gpu"), LINUX, listing({"CUDA": A100, "OPTIX": OPTIX}, asked))
    assert choice.backend == "OPTIX" and choice.gpus == tuple(OPTIX) and choice.ids == (0, 1, 2)
    assert asked == ["OPTIX"]  # a backend's driver is not touched once one has GPUs
    hip = [CyclesGpu("AMD Radeon PRO W7900", "HIP_AMD Radeon PRO W7900_0000:03:00")]
    choice = choose_gpus(RenderDevice("gpu"), LINUX, listing({"HIP": hip}, asked))
    assert choice.backend == "HIP" and choice.describe() == "HIP: 0 AMD Radeon PRO W7900"
    assert asked[1:] == ["OPTIX", "CUDA", "HIP"]


def test_a_named_backend_and_ids_pick_exactly_those():
    asked = []
    found = listing({"CUDA": A100, "OPTIX": OPTIX}, asked)
    choice = choose_gpus(RenderDevice("gpu", "CUDA", (2, 0)), LINUX, found)
    assert choice.backend == "CUDA" and choice.gpus == (A100[2], A100[0])
    assert choice.describe() == "CUDA: 2 NVIDIA A100 #2, 0 NVIDIA A100 #0"
    assert asked == ["CUDA"]
    choice = choose_gpus(RenderDevice("gpu", None, (1,)), LINUX, found)  # ids of the auto backend
    assert choice.backend == "OPTIX" and choice.gpus == (OPTIX[1],)


def test_one_line_errors_say_what_exists():
    found = listing({"CUDA": A100[:2]})
    with pytest.raises(DeviceError) as caught:
        choose_gpus(RenderDevice("gpu", "CUDA", (0, 2)), LINUX, found)
    assert str(caught.value) == (
        "--gpu-ids: no CUDA GPU 2; Cycles finds 0 NVIDIA A100 #0 (CUDA_NVIDIA A100_0000:01:00), "
        "1 NVIDIA A100 #1 (CUDA_NVIDIA A100_0000:02:00)"
    )
    with pytest.raises(DeviceError, match="^--gpu-backend metal: this Blender has no Metal support "
                       r"\(it has: OptiX, CUDA, HIP, oneAPI\)$"):  # fmt: skip
        choose_gpus(RenderDevice("gpu", "METAL"), LINUX, found)
    with pytest.raises(DeviceError, match="^GPU requested but Cycles finds no HIP device"):
        choose_gpus(RenderDevice("gpu", "HIP"), LINUX, found)
    with pytest.raises(DeviceError, match="^GPU requested but no CUDA/OptiX/HIP/Metal/oneAPI"):
        choose_gpus(RenderDevice("gpu"), LINUX, listing({}))
    with pytest.raises(DeviceError, match="^GPU requested but no"):  # found, but not built
        choose_gpus(RenderDevice("gpu"), ("HIP",), listing({"CUDA": A100}))


def test_render_py_options(capsys):
    argv = ["--out", "ds"]
    assert parse_args(argv).device == "cpu"
    assert parse_args([*argv, "--device", "gpu"]).device == "gpu"
    given = ["--device", "gpu", "--gpu-backend", "OPTIX", "--gpu-ids", "0,2"]
    assert parse_args([*argv, *given]).device == "gpu:optix:0,2"
    for bad, message in (
        (["--gpu-ids", "0"], "--gpu-ids needs --device gpu"),
        (["--gpu-backend", "cuda"], "--gpu-backend needs --device gpu"),
        (["--device", "gpu", "--gpu-backend", "vulkan"], "--gpu-backend vulkan: unknown backend"),
        (["--device", "gpu", "--gpu-ids", "0,x"], "--gpu-ids '0,x': give GPU numbers"),
    ):
        with pytest.raises(SystemExit) as caught:
            parse_args([*argv, *bad])
        assert caught.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"render.py: error: {message}"), err
