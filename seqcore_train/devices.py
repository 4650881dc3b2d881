"""Device selection: one place that turns "auto" / "cpu" / "cuda" / "cuda:N" into a torch.device.

A CUDA device always comes back with its index ("cuda" -> "cuda:<current>"), so the model's bank,
its backbone and its coreset all name the same GPU, and an index this machine lacks is refused
here, in one line listing the devices there are, instead of as CUDA's "invalid device ordinal" deep
inside a run. `use_device` also makes the GPU the process's current one (the CLI calls it), so what
runs on the current device (cuDNN handles, synchronize, memory statistics) does not open a context
on cuda:0 as well.
"""

from __future__ import annotations

import os

import torch

from .errors import SeqCoreError

__all__ = ["available_devices", "resolve_device", "use_device"]

_USAGE = "use auto, cpu, cuda or cuda:N"


def available_devices() -> list[str]:
    """What --device accepts on this machine: "cpu", then "cuda:i (name)" per visible GPU."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [
            f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())
        ]
    return names


def _missing(device) -> SeqCoreError:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    renumbered = (
        f"; CUDA_VISIBLE_DEVICES={visible} numbers the visible GPUs from 0" if visible else ""
    )
    return SeqCoreError(
        f"device {str(device)!r} does not exist: this machine has "
        f"{', '.join(available_devices())}{renumbered}"
    )


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The torch.device for `device`; "auto" is the current CUDA device when there is one, else
    the CPU. Asking for a GPU that is not there (no CUDA, or an index past the last) is an error."""
    if isinstance(device, torch.device):
        resolved = device
    else:
        name = str(device).strip().lower()
        if name == "auto":
            if not torch.cuda.is_available():
                return torch.device("cpu")
            return torch.device("cuda", torch.cuda.current_device())
        try:
            resolved = torch.device(name)
        except RuntimeError:
            raise SeqCoreError(f"unknown device {device!r} ({_USAGE})") from None
        if resolved.type not in ("cpu", "cuda"):
            raise SeqCoreError(f"unknown device {device!r} ({_USAGE})")
    if resolved.type != "cuda":
        return resolved
    if not torch.cuda.is_available():
        raise SeqCoreError(
            f"device {str(device)!r} requested but no CUDA GPU is available (use --device cpu)"
        )
    index = torch.cuda.current_device() if resolved.index is None else resolved.index
    if index >= torch.cuda.device_count():
        raise _missing(device)
    return torch.device("cuda", index)


def use_device(device: str | torch.device = "auto") -> torch.device:
    """`resolve_device`, and a CUDA device becomes the process's current device.

    For a process that works on one device (a CLI command, a cluster task); a library caller that
    drives several GPUs from one process passes explicit devices to `resolve_device` instead.
    """
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    return resolved
