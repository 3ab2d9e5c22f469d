"""From logits to scores and predictions: NumPy only, so no threshold ever re-runs the model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._labels import nest_scores


def _result_dtype(logits: np.ndarray) -> np.dtype:
    return np.float64 if np.asarray(logits).dtype == np.float64 else np.float32


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Independent label probabilities (multi-label); float32 unless the logits are float64."""
    x = np.asarray(logits, dtype=np.float64)
    out = np.empty_like(x)
    positive = x >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-x[positive]))
    exp_x = np.exp(x[~positive])
    out[~positive] = exp_x / (1.0 + exp_x)
    return out.astype(_result_dtype(logits))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities over each row's labels (single-label); float32 unless the logits are float64."""
    x = np.asarray(logits, dtype=np.float64)
    exp_x = np.exp(x - x.max(axis=-1, keepdims=True))
    return (exp_x / exp_x.sum(axis=-1, keepdims=True)).astype(_result_dtype(logits))


def probabilities(logits: np.ndarray, multi_label: bool) -> np.ndarray:
    """Scores from logits: a sigmoid per label (multi-label), or a softmax over each row (single-label)."""
    return sigmoid(logits) if multi_label else softmax(logits)


def predictions(
    labels: Sequence[str], scores: np.ndarray, *, threshold: float, multi_label: bool
) -> list[dict[str, Any]]:
    """``[{"label", "score"}]``: labels at or above the threshold in label order, or the single argmax."""
    if not multi_label:
        best = int(np.argmax(scores))  # the first label wins a tie
        return [{"label": labels[best], "score": float(scores[best])}]
    return [
        {"label": label, "score": float(score)} for label, score in zip(labels, scores) if score >= threshold
    ]


def nested_scores(structure: Any, labels: Sequence[str], scores: np.ndarray) -> dict[str, Any]:
    return nest_scores(structure, {label: float(score) for label, score in zip(labels, scores)})
