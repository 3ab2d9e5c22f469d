"""The inference core: loading, input assembly, the GLiClass head and the batching engine."""

from ._config import GLiClassConfig
from ._model import GLiClass

__all__ = ["GLiClass", "GLiClassConfig"]
