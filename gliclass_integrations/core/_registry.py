"""One loaded model per checkpoint, device and dtype per process, shared by every adapter.

Estimators are cloned and pickled, and spaCy pipelines reloaded, far more often than models should be
loaded; they hold a model *name* and ask here. Loading is guarded per key, so two threads asking for
the same model load it once, while different models load in parallel.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from ._model import DEFAULT_MAX_LENGTH, GLiClass, resolve_device, resolve_dtype

_models: dict[tuple, GLiClass] = {}
_key_locks: dict[tuple, threading.Lock] = {}
_lock = threading.Lock()


def shared_model(
    name_or_path: str | os.PathLike,
    *,
    revision: str | None = None,
    device: Any = "auto",
    dtype: Any = "auto",
    max_length: int = DEFAULT_MAX_LENGTH,
    local_files_only: bool = False,
) -> GLiClass:
    """The process-wide model for a checkpoint, device and dtype, loaded on first request.

    Parameters
    ----------
    name_or_path, revision, device, dtype, local_files_only
        As for ``GLiClass.from_pretrained``. "auto" device and dtype are resolved first, so
        ``device="auto"`` and ``device="cpu"`` share a model on a machine without CUDA.
    max_length : int, default=1024
        Models that differ only in ``max_length`` share their weights.

    Returns
    -------
    GLiClass
    """
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    key = (_canonical_source(name_or_path), revision, str(torch_device), str(torch_dtype))
    with _lock:
        key_lock = _key_locks.setdefault(key, threading.Lock())
    with key_lock:
        base = _models.get(key)
        if base is None:
            base = GLiClass.from_pretrained(
                name_or_path, revision=revision, device=torch_device, dtype=torch_dtype,
                local_files_only=local_files_only,
            )
            _models[key] = base
    return base.with_max_length(max_length)


def clear_model_cache() -> None:
    """Forget every shared model (their memory is freed once nothing else refers to them)."""
    with _lock:
        _models.clear()
        _key_locks.clear()


def _canonical_source(name_or_path: str | os.PathLike) -> tuple:
    """A hub id as given; a directory by its real path and its files' versions.

    The versions matter when a directory is overwritten with another checkpoint (a spaCy pipeline
    saved again to the same place): the next request must load the new weights.
    """
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if not path.is_dir():
        return (text,)
    files = sorted(p for p in path.iterdir() if p.is_file() and (p.suffix in {".json", ".safetensors", ".bin"}))
    return (str(path.resolve()), *((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files))
