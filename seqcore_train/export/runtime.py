"""Where `predict` and `evaluate` run the model: torch (`SeqPatchCore.predict`) or onnxruntime.

On the CPU, onnxruntime runs the exported graph (`model.DetectorGraph`, the same arithmetic) faster
than torch runs the model eagerly: it folds batch norm into the convolutions and fuses the
depthwise blocks. The graph is exported in memory the first time an image size is seen (a few
seconds), with the valid mask as its second input, so scores respect it as the torch engine's do.
Maps agree with the torch engine's to 1e-4 relative (summation order only).

`auto` picks onnxruntime on the CPU when it is installed and the images fit one backbone pass
(larger images go through torch's tiles, which bound memory); torch otherwise.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import torch

from ..errors import SeqCoreError
from ..model.patchcore import SeqPatchCore
from ..model_defaults import TILE_PIXELS
from .model import DetectorGraph, onnx_bytes

__all__ = ["ENGINES", "choose_engine", "OnnxEngine", "engine_for"]

ENGINES = ("auto", "torch", "onnxruntime")


def _installed() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def choose_engine(engine: str, model: SeqPatchCore, pixels: int | None) -> str:
    """The engine `engine` means for this model and images of `pixels` pixels (None: unknown)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "onnxruntime":
        if model.device.type != "cpu":
            raise SeqCoreError("--engine onnxruntime runs on the CPU: add --device cpu")
        if not _installed():
            raise SeqCoreError(
                "--engine onnxruntime needs onnxruntime: pip install 'seqcore-train[onnx]'"
            )
        return engine
    if engine == "torch" or model.device.type != "cpu" or not _installed():
        return "torch"
    one_pass = model.extractor.tile or TILE_PIXELS  # None: whole images, but memory still counts
    return "onnxruntime" if pixels is not None and pixels <= one_pass else "torch"


class OnnxEngine:
    """`SeqPatchCore.predict` through onnxruntime: (images, valid) -> (maps, scores) on the CPU;
    one session per image size."""

    def __init__(self, model: SeqPatchCore):
        import onnxruntime

        self.model = model
        self.options = onnxruntime.SessionOptions()
        self.options.intra_op_num_threads = torch.get_num_threads()
        self.sessions: dict[tuple[int, int], object] = {}

    def session(self, size: tuple[int, int]):
        if size not in self.sessions:
            import onnxruntime

            graph = DetectorGraph(self.model, size, valid_input=True).eval()
            self.sessions[size] = onnxruntime.InferenceSession(
                onnx_bytes(graph, graph.example()),
                self.options,
                providers=["CPUExecutionProvider"],
            )
        return self.sessions[size]

    def __call__(
        self, images: torch.Tensor, valid: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        size = tuple(int(n) for n in images.shape[-2:])
        if valid is None:
            valid = torch.ones((images.shape[0], *size), dtype=torch.bool)
        feeds = {
            "images": np.ascontiguousarray(images.numpy(), dtype=np.float32),
            "valid": np.ascontiguousarray(valid.numpy(), dtype=bool),
        }
        maps, scores = self.session(size).run(None, feeds)
        return torch.from_numpy(maps), torch.from_numpy(scores)


def engine_for(model: SeqPatchCore, engine: str, pixels: int | None):
    """(name, callable (images, valid) -> (maps, scores)) for `choose_engine`'s choice."""
    chosen = choose_engine(engine, model, pixels)
    return chosen, (OnnxEngine(model) if chosen == "onnxruntime" else model.predict)
