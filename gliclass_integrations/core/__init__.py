"""The inference core: loading, input assembly, the GLiClass head and the batching engine."""

from ._cache import LogitCache, shared_logit_cache
from ._config import GLiClassConfig
from ._model import GLiClass
from ._registry import clear_model_cache, shared_model

__all__ = ["GLiClass", "GLiClassConfig", "LogitCache", "clear_model_cache", "shared_logit_cache", "shared_model"]
