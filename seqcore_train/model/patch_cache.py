"""Replaying one pass's patch features from disk, so later epochs skip the backbone.

Without augmentation every epoch feeds the coreset the same patches, and the backbone costs most of
an epoch. The first pass spills its patches, batch by batch, to an unnamed temporary file; later
passes read them back in the same batches, so the coreset sees exactly what it would have seen.
Memory stays one batch whatever the data set size; past `max_bytes` of disk, or when the disk is
full, the cache gives up and the caller recomputes features instead.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import torch

__all__ = ["PatchCache"]


class PatchCache:
    def __init__(self, max_bytes: int, directory: str | None = None):
        self.max_bytes = int(max_bytes)
        self._directory = directory
        self._file = None
        self._shapes: list[tuple[int, int]] = []
        self.bytes = 0
        self.usable = self.max_bytes > 0
        self.complete = False  # a whole pass is stored and can be replayed

    def append(self, patches: torch.Tensor) -> None:
        """Store one batch of (N, C) patches; once over the size limit, the cache is dropped."""
        if not self.usable or self.complete:
            return
        data = patches.detach().to("cpu", torch.float32).contiguous().numpy()
        if self.bytes + data.nbytes > self.max_bytes:
            self.close()
            self.usable = False
            return
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(dir=self._directory)
            self._file.write(data)  # the array's own buffer, not a copy of it
        except OSError:  # e.g. a full disk: the cache only saves time, so recompute instead
            try:
                self.close()
            except OSError:  # closing flushes what the disk refused: nothing to keep
                self._file = None
                self.close()
            self.usable = False
            return
        self._shapes.append(data.shape)
        self.bytes += data.nbytes

    def finish_pass(self) -> None:
        """Mark the pass stored so far as complete (call after the first full epoch)."""
        self.complete = self.usable

    def replay(self, device: torch.device) -> Iterator[torch.Tensor]:
        """The stored batches, in order, as float32 tensors on `device`."""
        if not self.complete:
            raise RuntimeError("no complete pass is cached")
        if self._file is not None:
            self._file.seek(0)
        for shape in self._shapes:
            if shape[0] * shape[1] == 0:  # a fully masked batch wrote nothing
                yield torch.empty(shape, dtype=torch.float32, device=device)
                continue
            data = bytearray(shape[0] * shape[1] * 4)
            if self._file.readinto(data) != len(data):  # read into place: one buffer, no copy
                raise OSError("the patch cache file is shorter than what was written to it")
            yield torch.frombuffer(data, dtype=torch.float32).view(shape).to(device)
            del data  # the caller is done with this batch: no second one beside the next read

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._shapes = []
        self.bytes = 0
        self.complete = False
