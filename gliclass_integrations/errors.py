"""Exceptions raised by gliclass-integrations.

Each one subclasses the builtin exception that callers already catch, so ``except ValueError`` or
``except FileNotFoundError`` keep working.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "CheckpointNotFoundError",
    "InputTooLongError",
    "UnsafeCheckpointError",
    "UnsupportedCheckpointError",
]


class CheckpointError(ValueError):
    """A checkpoint's files are present but cannot be read or do not fit together."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """A checkpoint, or one of the files it needs, is missing locally or on the hub."""


class UnsupportedCheckpointError(CheckpointError):
    """A valid GLiClass checkpoint that uses an option this package does not run (yet)."""


class UnsafeCheckpointError(CheckpointError):
    """The only weights available are pickle files, which are refused unless ``allow_pickle=True``."""


class InputTooLongError(ValueError):
    """The labels (with the prompt) of one text do not fit in ``max_length`` tokens."""
