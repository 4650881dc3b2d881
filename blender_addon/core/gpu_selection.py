"""Which Cycles devices render: `--device gpu [--gpu-backend NAME] [--gpu-ids I,J]` (no bpy).

A `RenderDevice` is what a user asked for; `choose_gpus` turns it and the GPUs Cycles finds into
the devices to switch on. The bpy side (`scene.render_sample.configure_device`) only lists the GPUs
and switches on exactly the chosen ones.

GPU ids are positions in the list Cycles shows for one backend (Preferences > System), counted from
0. For CUDA and OptiX that list follows the CUDA driver's device order (so CUDA_VISIBLE_DEVICES
narrows and renumbers it as it does for PyTorch: a Ray task that sees one GPU renders on its own),
except that Cycles leaves out GPUs it cannot use and lists GPUs that drive a display last; the
error for a missing id lists the GPUs with their PCI ids.

A request travels through the add-on as a short string, `RenderDevice.spec()`: "cpu", "gpu",
"gpu:optix", "gpu:optix:0,2" or "gpu::1" (any backend, GPU 1), so every path that carried "cpu" or
"gpu" (render.py, the sidebar's background job, the benches) carries it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import DeviceError, SettingsError

__all__ = [
    "AUTO_ORDER",
    "GPU_BACKENDS",
    "CyclesGpu",
    "GpuChoice",
    "RenderDevice",
    "choose_gpus",
    "parse_backend",
    "parse_gpu_ids",
    "render_device",
]

# the command line's names -> Cycles' compute_device_type
_CYCLES = {"optix": "OPTIX", "cuda": "CUDA", "hip": "HIP", "oneapi": "ONEAPI", "metal": "METAL"}
GPU_BACKENDS = tuple(_CYCLES)
_LABELS = {"OPTIX": "OptiX", "CUDA": "CUDA", "HIP": "HIP", "ONEAPI": "oneAPI", "METAL": "Metal"}
# without --gpu-backend: the first of these with a GPU (OptiX before CUDA: the same cards, with
# their ray-tracing cores)
AUTO_ORDER = ("OPTIX", "CUDA", "HIP", "METAL", "ONEAPI")


def parse_backend(text: str) -> str:
    """ "optix" (any case) -> "OPTIX"; an unknown name is a SettingsError naming the known ones."""
    name = text.strip().lower()
    if name not in _CYCLES:
        raise SettingsError(
            f"--gpu-backend {text}: unknown backend (use {', '.join(GPU_BACKENDS)})"
        )
    return _CYCLES[name]


def parse_gpu_ids(text: str) -> tuple[int, ...]:
    """ "0,2" -> (0, 2): distinct non-negative integers, in the order given."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or not all(p.isascii() and p.isdigit() for p in parts):
        raise SettingsError(
            f"--gpu-ids {text!r}: give GPU numbers separated by commas, e.g. 0 or 0,2"
        )
    ids = tuple(int(p) for p in parts)
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise SettingsError(f"--gpu-ids {text}: GPU {repeated[0]} is listed twice")
    return ids


@dataclass(frozen=True)
class RenderDevice:
    """A render device request. `backend` is a Cycles name (None: the first of AUTO_ORDER with a
    GPU); `gpu_ids` are positions in that backend's GPU list (None: all of them)."""

    kind: str = "cpu"
    backend: str | None = None
    gpu_ids: tuple[int, ...] | None = None

    def __post_init__(self):
        if self.kind not in ("cpu", "gpu"):
            raise SettingsError(f"unknown device {self.kind!r} (use cpu or gpu)")
        if self.kind == "cpu" and (self.backend or self.gpu_ids is not None):
            given = "--gpu-ids" if self.gpu_ids is not None else "--gpu-backend"
            raise SettingsError(f"{given} needs --device gpu")
        if self.backend is not None and self.backend not in _LABELS:
            raise SettingsError(f"unknown GPU backend {self.backend!r}")

    def spec(self) -> str:
        """The one-string form (see the module's docstring); `parse` reads it back."""
        if self.kind == "cpu":
            return "cpu"
        ids = "" if self.gpu_ids is None else ",".join(map(str, self.gpu_ids))
        backend = (self.backend or "").lower()
        return ":".join(["gpu", backend, ids]).rstrip(":")

    @classmethod
    def parse(cls, spec: str) -> RenderDevice:
        kind, _, rest = str(spec).partition(":")
        backend, _, ids = rest.partition(":")
        return cls(
            kind,
            parse_backend(backend) if backend else None,
            parse_gpu_ids(ids) if ids else None,
        )


def render_device(
    device: str, backend: str | None = None, gpu_ids: str | None = None
) -> RenderDevice:
    """The request of render.py's --device, --gpu-backend and --gpu-ids (SettingsError if bad)."""
    return RenderDevice(
        device,
        None if backend is None else parse_backend(backend),
        None if gpu_ids is None else parse_gpu_ids(gpu_ids),
    )


@dataclass(frozen=True)
class CyclesGpu:
    """One GPU as Cycles lists it: its name and persistent id (e.g. with the PCI bus)."""

    name: str
    id: str


@dataclass(frozen=True)
class GpuChoice:
    backend: str  # Cycles' compute_device_type
    gpus: tuple[CyclesGpu, ...]  # the ones to use
    ids: tuple[int, ...]  # their positions in the backend's list

    def describe(self) -> str:
        used = ", ".join(f"{i} {g.name}" for i, g in zip(self.ids, self.gpus, strict=True))
        return f"{_LABELS[self.backend]}: {used}"


def _listing(gpus: Sequence[CyclesGpu]) -> str:
    return ", ".join(f"{i} {g.name} ({g.id})" for i, g in enumerate(gpus)) or "none"


def choose_gpus(
    request: RenderDevice,
    built: Sequence[str],
    found: Callable[[str], Sequence[CyclesGpu]],
) -> GpuChoice:
    """The backend and GPUs to render with; DeviceError (one line) when they are not there.

    `built`: the backends this Blender was built with (Cycles names); `found(backend)`: the GPUs
    Cycles finds now for that backend, in its order. Only the backends needed are asked.
    """
    if request.kind != "gpu":
        raise ValueError("choose_gpus needs a GPU request")
    if request.backend is not None:
        name = _LABELS[request.backend]
        if request.backend not in built:
            have = ", ".join(_LABELS[b] for b in AUTO_ORDER if b in built) or "none"
            raise DeviceError(
                f"--gpu-backend {request.backend.lower()}: this Blender has no {name} support "
                f"(it has: {have})"
            )
        backend, gpus = request.backend, tuple(found(request.backend))
        if not gpus:
            raise DeviceError(f"GPU requested but Cycles finds no {name} device on this machine")
    else:
        listed = ((b, tuple(found(b))) for b in AUTO_ORDER if b in built)
        backend, gpus = next(((b, g) for b, g in listed if g), (None, ()))
        if backend is None:
            raise DeviceError(
                "GPU requested but no CUDA/OptiX/HIP/Metal/oneAPI device is available"
            )
    ids = tuple(range(len(gpus))) if request.gpu_ids is None else request.gpu_ids
    missing = [i for i in ids if i >= len(gpus)]
    if missing:
        raise DeviceError(
            f"--gpu-ids: no {_LABELS[backend]} GPU {missing[0]}; Cycles finds {_listing(gpus)}"
        )
    return GpuChoice(backend, tuple(gpus[i] for i in ids), ids)
