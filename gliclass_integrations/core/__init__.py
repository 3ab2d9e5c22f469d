"""The inference core: loading, input assembly, the GLiClass head and the batching engine."""

from ._cache import LogitCache, shared_logit_cache
from ._config import GLiClassConfig
from ._labels import flatten_labels
from ._model import GLiClass
from ._registry import clear_model_cache, shared_model
from ._requests import text_column

__all__ = [
    "GLiClass", "GLiClassConfig", "LogitCache", "clear_model_cache", "flatten_labels", "shared_logit_cache",
    "shared_model", "text_column",
]
