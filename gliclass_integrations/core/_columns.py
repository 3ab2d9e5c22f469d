"""Scores and predictions as named columns: what the table-shaped adapters (pandas, Ray Data, Spark) add to a
table, computed one way for all of them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._labels import flatten_labels
from ._options import check_chunk_aggregation, check_long_texts, check_missing, check_positive_int, check_threshold


def label_thresholds(threshold: float | Mapping[str, float], labels: Sequence[str]) -> np.ndarray:
    """One cut-off per label: ``threshold`` for all, or ``{label: threshold}`` covering every label."""
    if not isinstance(threshold, Mapping):
        return np.full(len(labels), check_threshold(threshold))
    missing = [label for label in labels if label not in threshold]
    unknown = [label for label in threshold if label not in set(labels)]
    if missing or unknown:
        raise ValueError(f"threshold must give one value for every label; missing: {missing}, not a label: {unknown}.")
    return np.array([check_threshold(threshold[label], f"threshold[{label!r}]") for label in labels])


def predicted_labels(scores: np.ndarray, labels: Sequence[str], cuts: np.ndarray, multi_label: bool) -> Any:
    """The labels at or above their cut-off, in label order (multi-label), or the best label; None for a row
    of NaN (a skipped missing text)."""
    if np.isnan(scores).any():
        return None
    if multi_label:
        return [label for label, score, cut in zip(labels, scores, cuts) if score >= cut]
    return labels[int(np.argmax(scores))]


def score_columns(
    model: Any,
    texts: Sequence[Any],
    labels: Any,
    *,
    multi_label: bool = True,
    threshold: float | Mapping[str, float] = 0.5,
    prefix: str = "",
    predicted: str | None = "predicted",
    **options: Any,
) -> dict[str, Any]:
    """``{prefix + label: scores}`` for every label (float arrays), then ``{predicted: labels}`` (a list).

    ``options`` go to ``model.predict_proba`` (prompt, examples, label_descriptions, missing, long_texts,
    chunk_aggregation, batch_size, row_names, cache).
    """
    flat = list(flatten_labels(labels))
    cuts = label_thresholds(threshold, flat) if predicted is not None else None
    matrix = model.predict_proba(list(texts), labels, multi_label=multi_label, **options)
    columns: dict[str, Any] = {f"{prefix}{label}": matrix[:, j] for j, label in enumerate(flat)}
    if predicted is not None:
        columns[predicted] = [predicted_labels(row, flat, cuts, multi_label) for row in matrix]
    return columns


def column_settings(
    labels: Any,
    *,
    multi_label: bool = True,
    threshold: float | Mapping[str, float] = 0.5,
    prompt: str | None = None,
    examples: list[dict[str, Any]] | None = None,
    label_descriptions: Mapping[str, str] | None = None,
    missing: str = "raise",
    long_texts: str = "truncate",
    chunk_aggregation: str = "max",
    prefix: str = "",
    predicted: str | None = "predicted",
    batch_size: int | None = None,
) -> dict[str, Any]:
    """The settings of ``score_columns``, checked now (on a driver) rather than in the first batch (on a
    worker); returns them as keyword arguments for it."""
    label_thresholds(threshold, list(flatten_labels(labels)))
    return {
        "multi_label": multi_label, "threshold": threshold, "prompt": prompt, "examples": examples,
        "label_descriptions": label_descriptions, "missing": check_missing(missing),
        "long_texts": check_long_texts(long_texts), "chunk_aggregation": check_chunk_aggregation(chunk_aggregation),
        "prefix": prefix, "predicted": predicted,
        "batch_size": check_positive_int(batch_size, "batch_size", optional=True),
    }
