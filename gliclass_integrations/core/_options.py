"""Checks and defaults for the settings every entry point shares: the core, scikit-learn, spaCy, the CLI.

Each adapter validates its settings with these functions and only names the setting its own way
(``where``: ``"dtype"``, ``"ZeroShotClassifier: dtype"``, ``"--dtype"``), so a value is accepted or
refused, with the same reason, whichever way it comes in. Nothing here imports torch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any

DEFAULT_MODEL = "knowledgator/gliclass-multilang-mini"
"""The checkpoint every entry point loads when none is named."""

DTYPE_NAMES = ("auto", "float32", "bfloat16", "float16", "float64")
"""The dtype names every entry point accepts ("auto": float32 on the CPU, bfloat16 on CUDA)."""
DTYPE_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "fp64": "float64"}
"""Short spellings of the dtype names, accepted in any case."""

# A torch device string: a type, optionally with an index ("cuda", "cuda:1", "cpu"). Which types exist
# is torch's to say when the model is loaded; this only catches what can never be one.
_DEVICE_PATTERN = re.compile(r"[a-z][a-z0-9_]*(:\d+)?")


def check_dtype(value: Any, where: str = "dtype") -> str:
    """The canonical dtype name ("auto", "float32", ...) of a name or alias, in any case; None is "auto"."""
    if value is None:
        return "auto"
    if type(value).__module__ == "torch" and type(value).__name__ == "dtype":
        name = str(value).removeprefix("torch.")
        if name in DTYPE_NAMES:
            return name
    elif isinstance(value, str):
        name = DTYPE_ALIASES.get(value.strip().lower(), value.strip().lower())
        if name in DTYPE_NAMES:
            return name
    aliases = ", ".join(f"{alias!r}" for alias in DTYPE_ALIASES)
    raise ValueError(
        f"{where} must be one of {', '.join(map(repr, DTYPE_NAMES))} (or {aliases}), got {value!r}."
    )


def check_device(value: Any, where: str = "device") -> Any:
    """A device string such as "auto", "cpu", "cuda" or "cuda:1", a torch.device, or None (automatic)."""
    if value is None or (type(value).__module__ == "torch" and type(value).__name__ == "device"):
        return value
    if not isinstance(value, str):
        raise TypeError(f"{where} must be a device string such as 'cpu' or 'cuda:0', got {type(value).__name__}.")
    if value.strip().lower() == "gpu":
        raise ValueError(f"{where}='gpu' is not a torch device; use 'cuda' (or 'cuda:0', 'cuda:1', ...).")
    if value != "auto" and not _DEVICE_PATTERN.fullmatch(value):
        raise ValueError(f"{where}={value!r} is not a device; use 'auto', 'cpu', 'cuda' or 'cuda:N'.")
    return value


def check_threshold(value: Any, where: str = "threshold") -> float:
    """A number from 0 to 1 (NaN and booleans are refused)."""
    if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(value) or not 0 <= value <= 1:
        raise ValueError(f"{where} must be a number from 0 to 1, got {value!r}.")
    return float(value)


def check_positive_int(value: Any, where: str, *, optional: bool = False) -> int | None:
    """An integer >= 1 (booleans are refused); None too when ``optional``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        allowed = "a positive integer or None" if optional else "a positive integer"
        raise ValueError(f"{where} must be {allowed}, got {value!r}.")
    return int(value)


def check_prompt(value: Any, where: str = "prompt") -> str | None:
    """A task description: a string, or None (an empty string is None)."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{where} must be a string or None, got {type(value).__name__}.")
    return value or None


def check_descriptions(
    value: Any, labels: Sequence[str] | None = None, where: str = "label_descriptions"
) -> dict[str, str] | None:
    """``{label: description}`` with non-empty texts, each for one of ``labels`` (when they are known)."""
    if value is None or (isinstance(value, Mapping) and not value):
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"{where} must be a dict of label -> description, got {type(value).__name__}.")
    known = None if labels is None else set(labels)
    for label, description in value.items():
        if not isinstance(label, str):
            raise TypeError(f"{where} has the key {label!r}; labels are strings.")
        if known is not None and label not in known:
            raise ValueError(f"{where} has a description for {label!r}, which is not among the labels.")
        if not isinstance(description, str) or not description.strip():
            raise TypeError(f"{where}[{label!r}] must be a non-empty string, got {description!r}.")
    return dict(value)


MISSING_POLICIES = ("raise", "skip")
"""What a missing text (None, NaN) does: stop with an error naming its row, or get NaN scores."""
LONG_TEXT_POLICIES = ("truncate", "chunk")
"""What a text too long for ``max_length`` does: shortened from its end, or scored in overlapping windows."""
CHUNK_AGGREGATIONS = ("max", "mean")
"""How the windows of a chunked text make one score per label."""


def check_choice(value: Any, choices: Sequence[str], where: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{where} must be one of {', '.join(map(repr, choices))}, got {value!r}.")
    return value


def check_missing(value: Any, where: str = "missing") -> str:
    """What to do with a missing text: "raise" (the default everywhere) or "skip" (NaN scores)."""
    return check_choice(value, MISSING_POLICIES, where)


def check_long_texts(value: Any, where: str = "long_texts") -> str:
    """What to do with a text longer than fits: "truncate" (the default everywhere) or "chunk"."""
    return check_choice(value, LONG_TEXT_POLICIES, where)


def check_chunk_aggregation(value: Any, where: str = "chunk_aggregation") -> str:
    """How the windows of a chunked text make one score per label: "max" (the default) or "mean"."""
    return check_choice(value, CHUNK_AGGREGATIONS, where)


def is_missing(value: Any) -> bool:
    """None, a NaN (Python's or NumPy's), or pandas' NA and NaT: what data tools use for "no value".

    Empty and whitespace-only strings are texts, not missing ones.
    """
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    return isinstance(value, Real) and not isinstance(value, Integral) and math.isnan(value)
