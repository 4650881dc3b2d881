"""Device selection: one place that turns "auto" / "cpu" / "cuda[:i]" into a torch.device."""

from __future__ import annotations

import torch

from .errors import SeqCoreError

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """ "auto" picks the first CUDA device when there is one, else the CPU; asking for a missing GPU is an error."""
    if isinstance(device, torch.device):
        return device
    name = str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(name)
    except RuntimeError as exc:
        raise SeqCoreError(f"unknown device {device!r} (use auto, cpu, cuda or cuda:N)") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise SeqCoreError(
            f"device {device!r} requested but no CUDA GPU is available (use --device cpu)"
        )
    return resolved
