"""The inference core: loading, input assembly, the GLiClass head and the batching engine.

Adapters (scikit-learn, spaCy, pandas, the command line) use the names exported here, never the
private modules, and take their setting checks and defaults from here too.
"""

from ._cache import LogitCache, shared_logit_cache
from ._checkpoint import checkpoint_contents, copy_checkpoint, hub_offline, resolve_checkpoint, write_checkpoint
from ._columns import column_settings, label_thresholds, predicted_labels, score_columns
from ._config import GLiClassConfig
from ._cpu import CpuCapabilities, cpu_capabilities
from ._examples import select_examples
from ._labels import flatten_labels, label_paths
from ._model import DEFAULT_CHUNK_SIZE, DEFAULT_MAX_LENGTH, GLiClass
from ._options import (
    CHUNK_AGGREGATIONS,
    DEFAULT_MODEL,
    DTYPE_ALIASES,
    DTYPE_NAMES,
    LONG_TEXT_POLICIES,
    MISSING_POLICIES,
    check_chunk_aggregation,
    check_descriptions,
    check_device,
    check_dtype,
    check_long_texts,
    check_missing,
    check_positive_int,
    check_prompt,
    check_threshold,
)
from ._registry import clear_model_cache, shared_model
from ._requests import RowNames, check_examples, check_texts, text_column, text_values
from ._scores import predictions, probabilities

__all__ = [
    "CHUNK_AGGREGATIONS",
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_LENGTH",
    "DEFAULT_MODEL",
    "DTYPE_ALIASES",
    "DTYPE_NAMES",
    "LONG_TEXT_POLICIES",
    "MISSING_POLICIES",
    "CpuCapabilities",
    "GLiClass",
    "GLiClassConfig",
    "LogitCache",
    "RowNames",
    "check_chunk_aggregation",
    "check_descriptions",
    "check_device",
    "check_dtype",
    "check_examples",
    "check_long_texts",
    "check_missing",
    "check_positive_int",
    "check_prompt",
    "check_texts",
    "check_threshold",
    "checkpoint_contents",
    "clear_model_cache",
    "column_settings",
    "copy_checkpoint",
    "cpu_capabilities",
    "flatten_labels",
    "hub_offline",
    "label_paths",
    "label_thresholds",
    "predicted_labels",
    "predictions",
    "probabilities",
    "resolve_checkpoint",
    "score_columns",
    "select_examples",
    "shared_logit_cache",
    "shared_model",
    "text_column",
    "text_values",
    "write_checkpoint",
]
