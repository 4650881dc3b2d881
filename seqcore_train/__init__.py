"""SeqCore training toolkit: Sequential PatchCore coresets, calibration and evaluation.

    from seqcore_train import ModelConfig, SeqPatchCore, calibrate, evaluate, fit, load_dataset

The names load on first use, so `import seqcore_train` (and the CLI's start) stays free of torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# public name -> module that defines it. (The exports stay in their modules, seqcore_train.export.model
# and .export.dataset: a function named like its submodule would be replaced by the module on import.)
_LAZY = {
    "SeqPatchCore": "seqcore_train.model.patchcore",
    "ModelConfig": "seqcore_train.model.patchcore",
    "load_dataset": "seqcore_train.api",
    "load_images": "seqcore_train.api",
    "fit": "seqcore_train.api",
    "calibrate": "seqcore_train.api",
    "evaluate": "seqcore_train.api",
    "SeqCoreError": "seqcore_train.errors",
}

__all__ = [
    "ModelConfig",
    "SeqCoreError",
    "SeqPatchCore",
    "calibrate",
    "evaluate",
    "fit",
    "load_dataset",
    "load_images",
]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ imports on demand
    from seqcore_train.api import calibrate, evaluate, fit, load_dataset, load_images
    from seqcore_train.errors import SeqCoreError
    from seqcore_train.model.patchcore import ModelConfig, SeqPatchCore


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'seqcore_train' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
