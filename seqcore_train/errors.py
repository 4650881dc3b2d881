"""Errors a user can cause. The CLI turns each into one line and a non-zero exit."""

__all__ = ["SeqCoreError", "DataError", "ModelFileError", "BackboneUnavailable"]


class SeqCoreError(Exception):
    """Base of every error that is the user's input, not a bug."""


class DataError(SeqCoreError):
    """A dataset, image or mask that cannot be used; the message names the file."""


class ModelFileError(SeqCoreError):
    """A model file that is corrupt, of an unknown format version, or incompatible."""


class BackboneUnavailable(SeqCoreError):
    """A backbone whose weights are not on this machine (nothing is ever downloaded)."""
