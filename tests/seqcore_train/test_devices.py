"""--device: parsing, the one-line errors, and that the chosen device is the one the work runs on.

No test here needs a GPU. A "two-GPU machine" is torch.cuda's answers (is_available, device_count,
names, current device) replaced by monkeypatch: resolve_device only asks those. That the tensors
really follow the model's device is checked with the "meta" device, which is neither the CPU the
images come from nor the default device, so anything that silently falls back to either fails.
"""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from seqcore_train import workflows
from seqcore_train.cli import cli
from seqcore_train.devices import available_devices, resolve_device, use_device
from seqcore_train.errors import SeqCoreError
from seqcore_train.model.patchcore import ModelConfig, SeqPatchCore


@pytest.fixture
def two_gpus(monkeypatch):
    """torch.cuda as a machine with two GPUs, current device 0, would answer; set_device recorded."""
    current = {"index": 0}
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=None: f"Test GPU {i}")
    monkeypatch.setattr(torch.cuda, "current_device", lambda: current["index"])
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.append(torch.device(d)))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return current, calls


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def test_cpu_and_auto_without_a_gpu(no_gpu):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")
    assert available_devices() == ["cpu"]
    with pytest.raises(SeqCoreError, match="no CUDA GPU is available"):
        resolve_device("cuda:0")
    with pytest.raises(SeqCoreError, match="no CUDA GPU is available"):
        resolve_device("cuda")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "cuda:-1", "meta", "mps", "", "cuda:1:2"])
def test_unknown_device_names(name):
    with pytest.raises(SeqCoreError, match=r"unknown device .*use auto, cpu, cuda or cuda:N"):
        resolve_device(name)


def test_a_cuda_device_always_carries_its_index(two_gpus):
    current, _ = two_gpus
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("CUDA:1") == torch.device("cuda", 1)
    assert resolve_device(torch.device("cuda", 1)) == torch.device("cuda", 1)
    current["index"] = 1  # after torch.cuda.set_device(1), plain "cuda" means that GPU
    assert resolve_device("cuda") == torch.device("cuda", 1)
    assert resolve_device("auto") == torch.device("cuda", 1)
    assert resolve_device(torch.device("cuda")) == torch.device("cuda", 1)


def test_an_index_past_the_last_gpu_lists_the_devices(two_gpus, monkeypatch):
    for asked in ("cuda:2", "cuda:3", torch.device("cuda", 7)):
        with pytest.raises(SeqCoreError) as caught:
            resolve_device(asked)
        message = str(caught.value)
        assert "\n" not in message
        assert message.startswith(f"device '{asked}' does not exist: this machine has ")
        assert message.endswith("cpu, cuda:0 (Test GPU 0), cuda:1 (Test GPU 1)")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    with pytest.raises(SeqCoreError, match=r"CUDA_VISIBLE_DEVICES=2,5 numbers the visible GPUs"):
        resolve_device("cuda:2")


def test_use_device_makes_the_gpu_current_and_leaves_the_cpu_alone(two_gpus):
    _, calls = two_gpus
    assert use_device("cpu") == torch.device("cpu")
    assert calls == []
    assert use_device("cuda:1") == torch.device("cuda", 1)
    assert calls == [torch.device("cuda", 1)]


def _commands_with_device():
    return sorted(
        name
        for name, command in cli.commands.items()
        if any(p.name == "device" for p in command.params)
    )


def test_every_command_with_device_refuses_a_missing_gpu_first(two_gpus, tmp_path):
    commands = _commands_with_device()
    assert {"fit", "finetune", "meld", "calibrate", "predict", "evaluate"} <= set(commands)
    for name in commands:
        # --device first on the line: it is checked before the (missing) arguments
        result = CliRunner().invoke(cli, [name, "--device", "cuda:3"])
        assert result.exit_code == 2, (name, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1, (name, result.output)
        assert "Invalid value for '--device': device 'cuda:3' does not exist" in lines[0]
        assert lines[0].endswith("cpu, cuda:0 (Test GPU 0), cuda:1 (Test GPU 1)")
        assert "Traceback" not in result.output
    assert not list(tmp_path.iterdir())


def test_the_chosen_gpu_is_what_the_workflow_gets(two_gpus, tmp_path, monkeypatch):
    """The CLI hands the resolved, indexed device on (and made it current); the workflow's own
    devices are then `SeqPatchCore(device=...)`, checked by the model tests below."""
    _, calls = two_gpus
    got = []

    def meld_spy(models, out, **kwargs):
        got.append(kwargs["device"])
        raise SeqCoreError("stopped after the device reached the workflow")

    monkeypatch.setattr(workflows, "meld", meld_spy)
    model = tmp_path / "m.safetensors"
    model.write_bytes(b"")  # click checks it exists; the spy never reads it
    for asked, expected in (("cuda:1", "cuda:1"), ("cuda", "cuda:0"), ("cpu", "cpu")):
        result = CliRunner().invoke(cli, ["meld", str(model), "--out", "x", "--device", asked])
        assert result.exit_code == 1 and "stopped after the device" in result.output
        assert got[-1] == expected
    assert calls == [torch.device("cuda", 1), torch.device("cuda", 0)]


def _textures(n, size, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (0.5 + 0.1 * torch.randn(n, 3, size, size, generator=g)).clamp(0, 1)


def test_features_follow_the_model_device_whole_and_tiled():
    """Images on the CPU, model on another device: the backbone, the normalisation and the tile
    planner's receptive-field probe must all run on the model's device (the probe once ran on the
    CPU, which broke tiled passes on a GPU)."""
    model = SeqPatchCore(ModelConfig(), device=torch.device("meta"))
    whole = model.features(_textures(1, 96))
    assert whole.device.type == "meta" and whole.shape == (1, 152, 12, 12)
    assert {p.device.type for p in model.extractor.parameters()} == {"meta"}
    model.extractor.tile = 64 * 64  # forces tiles on a 200 x 160 image
    tiled = model.features(_textures(1, 200)[..., :160])
    assert tiled.device.type == "meta" and tiled.shape == (1, 152, 25, 20)


def test_a_model_file_is_device_free(tmp_path):
    """Fitted on one device, loaded on another: the file holds CPU tensors whatever the device
    (save moves them, load reads them to the CPU), and loading places the bank on the device asked."""
    model = SeqPatchCore(ModelConfig(coreset_size=16, chunk_size=256), device="cpu")
    images = _textures(2, 64, seed=1)
    model.fit(lambda epoch: [(images, None)], epochs=1)
    path = tmp_path / "m.safetensors"
    model.save(path)
    elsewhere = SeqPatchCore.load(path, device=torch.device("meta"))
    assert elsewhere.bank.device.type == "meta" and elsewhere.bank.shape == model.bank.shape
    back = SeqPatchCore.load(path, device="cpu")
    assert back.device == torch.device("cpu")
    assert torch.equal(back.bank, model.bank)  # the same stored bytes, read twice
