"""Exceptions raised by gliclass-integrations.

Each one subclasses the builtin exception that callers already catch, so ``except ValueError`` or
``except FileNotFoundError`` keep working.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "CheckpointNotFoundError",
    "InputTooLongError",
    "SlowCpuModeWarning",
    "TextsShortenedWarning",
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


class TextsShortenedWarning(UserWarning):
    """Texts too long for ``max_length`` were shortened, or lost few-shot examples, during one call or stream.

    Attributes
    ----------
    shortened : int
        Texts shortened from their end.
    examples_dropped : int
        Texts whose few-shot examples were dropped (some or all).
    total : int
        Texts scored in the call or stream.
    """

    def __init__(self, message: str, *, shortened: int = 0, examples_dropped: int = 0, total: int = 0) -> None:
        super().__init__(message)
        self.shortened = shortened
        self.examples_dropped = examples_dropped
        self.total = total


class SlowCpuModeWarning(UserWarning):
    """A reduced-precision mode was asked for on a CPU that runs it slower than float32."""
