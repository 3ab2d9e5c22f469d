"""A bounded, thread-safe store of logits, keyed by everything that changes them.

The key of a text's logits is a sha256 over length-prefixed fields: the model's fingerprint (what was
loaded, which commit or file version, dtype, device type, max_length) and the whole assembled request
of that text (text, ordered labels, prompt, rendered label descriptions, few-shot examples). Nothing
else changes a logit, so thresholds and the sigmoid/softmax choice can vary freely over cached values.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

from ._requests import RowRequest

DEFAULT_MAX_BYTES = 256 * 2**20
_ENTRY_OVERHEAD = 200  # bytes per entry beyond the array data: key, array header, dict slot


class LogitCache:
    """An LRU cache of per-text logits, bounded by bytes.

    Parameters
    ----------
    max_bytes : int, default=256 MiB
        Least recently used entries are dropped beyond this size.

    Attributes
    ----------
    hits, misses : int
        Lookups answered from the cache, and lookups that were not.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes must be a non-negative integer, got {max_bytes!r}.")
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        """Current size, as counted against ``max_bytes``."""
        return self._bytes

    def get(self, key: bytes) -> np.ndarray | None:
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value.copy()

    def recheck(self, key: bytes) -> np.ndarray | None:
        """Look up again a key whose ``get`` missed: if it was stored since (by work that ran while this
        lookup's rows were prepared), the miss counts as a hit. Nothing is counted when it is still absent."""
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                return None
            self._entries.move_to_end(key)
            self.misses -= 1
            self.hits += 1
            return value.copy()

    def put(self, key: bytes, logits: np.ndarray) -> None:
        value = np.array(logits, copy=True)
        size = value.nbytes + _ENTRY_OVERHEAD
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes + _ENTRY_OVERHEAD
            self._entries[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.nbytes + _ENTRY_OVERHEAD

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self.hits = self.misses = 0


def row_key(fingerprint: str, row: RowRequest, mode: str = "") -> bytes:
    """The cache key of one text's logits under a model with this fingerprint.

    ``mode`` names a non-default way of handling long texts ("chunk:max"), which changes their logits.
    """
    digest = hashlib.sha256()
    fields = [fingerprint, row.text, row.prompt, row.lead, str(len(row.labels)), *row.labels]
    fields.append(str(len(row.examples)))
    for example in row.examples:
        fields += [example.text, example.labels]
    if mode:
        fields.append(mode)
    for field in fields:
        data = field.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.digest()


_shared_cache: LogitCache | None = None
_shared_lock = threading.Lock()


def shared_logit_cache() -> LogitCache:
    """The process-wide cache used by the scikit-learn and spaCy adapters."""
    global _shared_cache
    with _shared_lock:
        if _shared_cache is None:
            _shared_cache = LogitCache()
        return _shared_cache
