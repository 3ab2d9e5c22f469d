"""One label's metric at every candidate threshold, from a single sorted pass over its scores.

A metric of thresholded predictions depends only on the confusion counts (tp, fp, fn, tn), and the
counts at all candidates come from one sort of the scores and a cumulative sum: O(n log n) per label
instead of one metric call per candidate. The formulas are scikit-learn's own, term for term, so the
values (and so the ties) are those of ``f1_score`` and the others. A metric that is not one of them
is called once per candidate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn import metrics

from ._sklearn_compat import get_scorer_names, scorer_parts

Counts = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # tp, fp, fn, tn as floats


@dataclass(frozen=True)
class LabelMetric:
    """What the tuner maximises for each label: from counts (fast) or from (y_true, y_pred) (any metric)."""

    name: str
    from_counts: Callable[[Counts], np.ndarray] | None = None
    from_predictions: Callable[[np.ndarray, np.ndarray], float] | None = None


def metric_curve(truth: np.ndarray, scores: np.ndarray, candidates: np.ndarray, metric: LabelMetric) -> np.ndarray:
    """The metric of ``scores >= t`` against ``truth`` (0/1) for every ``t`` in ``candidates``."""
    if metric.from_counts is None:
        return np.array([metric.from_predictions(truth, (scores >= t).astype(int)) for t in candidates], dtype=float)
    order = np.argsort(scores, kind="stable")
    below = np.searchsorted(scores[order], candidates, side="left")  # how many scores are < t
    positives_below = np.concatenate([[0], np.cumsum(truth[order])])[below]
    n, positives = float(len(truth)), float(truth.sum())
    tp = positives - positives_below
    fp = (n - below) - tp
    fn = positives - tp
    tn = (n - positives) - fp
    return metric.from_counts((tp, fp, fn, tn))


# -- scikit-learn's formulas on confusion counts -----------------------------------------------------------


def _divide(numerator: np.ndarray, denominator: np.ndarray, zero_division: Any) -> np.ndarray:
    fill = np.nan if zero_division is np.nan else (0.0 if zero_division == "warn" else float(zero_division))
    out = np.full(np.shape(numerator), fill, dtype=float)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _fbeta(beta: float, zero_division: Any) -> Callable[[Counts], np.ndarray]:
    beta2 = beta**2

    def score(counts: Counts) -> np.ndarray:
        tp, fp, fn, _ = counts
        return _divide((1 + beta2) * tp, beta2 * (tp + fn) + (tp + fp), zero_division)

    return score


def _precision(zero_division: Any) -> Callable[[Counts], np.ndarray]:
    return lambda counts: _divide(counts[0], counts[0] + counts[1], zero_division)


def _recall(zero_division: Any) -> Callable[[Counts], np.ndarray]:
    return lambda counts: _divide(counts[0], counts[0] + counts[2], zero_division)


def _jaccard(zero_division: Any) -> Callable[[Counts], np.ndarray]:
    return lambda counts: _divide(counts[0], counts[0] + counts[1] + counts[2], zero_division)


def _accuracy(counts: Counts) -> np.ndarray:
    tp, fp, fn, tn = counts
    return (tp + tn) / (tp + fp + fn + tn)


def _balanced_accuracy(counts: Counts) -> np.ndarray:
    tp, fp, fn, tn = counts
    positives, negatives = tp + fn, tn + fp  # the same at every threshold
    if positives[0] and negatives[0]:
        return (tn / negatives + tp / positives) / 2
    return tp / positives if positives[0] else tn / negatives


def _matthews(counts: Counts) -> np.ndarray:
    tp, fp, fn, tn = counts
    n = tp + fp + fn + tn
    true_0, true_1, pred_0, pred_1 = tn + fp, tp + fn, tn + fn, tp + fp
    cov_true_pred = (tp + tn) * n - (true_0 * pred_0 + true_1 * pred_1)
    cov_pred = n**2 - (pred_0 * pred_0 + pred_1 * pred_1)
    cov_true = n**2 - (true_0 * true_0 + true_1 * true_1)
    product = cov_true * cov_pred
    out = np.zeros(np.shape(tp), dtype=float)
    np.divide(cov_true_pred, np.sqrt(product), out=out, where=product != 0)
    return out


# -- what users pass as ``scoring`` --------------------------------------------------------------------------

_AVERAGED = ("f1", "precision", "recall", "jaccard")  # have _macro / _weighted / _micro / _samples scorers
_BY_NAME: dict[str, Callable[[Counts], np.ndarray]] = {
    "f1": _fbeta(1.0, 0.0),
    "precision": _precision(0.0),
    "recall": _recall(0.0),
    "jaccard": _jaccard(0.0),
    "accuracy": _accuracy,
    "balanced_accuracy": _balanced_accuracy,
    "matthews_corrcoef": _matthews,
}
NAMES = (*_BY_NAME, *(f"{name}_{average}" for name in _AVERAGED for average in ("macro", "weighted")))

_FUNCTIONS: dict[Callable, str] = {
    metrics.f1_score: "f1", metrics.fbeta_score: "fbeta", metrics.precision_score: "precision",
    metrics.recall_score: "recall", metrics.jaccard_score: "jaccard", metrics.accuracy_score: "accuracy",
    metrics.balanced_accuracy_score: "balanced_accuracy", metrics.matthews_corrcoef: "matthews_corrcoef",
}


def resolve_scoring(scoring: Any) -> LabelMetric:
    """A metric name, a scorer from ``make_scorer`` / ``get_scorer``, or a ``(y_true, y_pred)`` callable."""
    if isinstance(scoring, str):
        return _from_name(scoring)
    parts = scorer_parts(scoring)
    if parts is not None:
        return _from_scorer(*parts)
    if callable(scoring):
        return LabelMetric(getattr(scoring, "__name__", "scoring"), from_predictions=scoring)
    raise TypeError(f"scoring must be a metric name, a scorer or a callable, got {type(scoring).__name__}.")


def _from_name(name: str) -> LabelMetric:
    base, _, average = name.rpartition("_")
    if base in _AVERAGED and average in ("micro", "samples"):
        raise ValueError(_not_per_label(name))
    if name in NAMES:
        return LabelMetric(name, from_counts=_BY_NAME[base if base in _AVERAGED else name])
    if name in get_scorer_names():
        raise ValueError(_not_thresholded(repr(name)))
    raise ValueError(f"scoring={name!r} is not a metric the tuner knows; use one of {', '.join(NAMES)}, a scorer "
                     "from make_scorer, or a (y_true, y_pred) callable.")


def _from_scorer(function: Callable, kwargs: dict, sign: int, response_method: Any) -> LabelMetric:
    methods = [response_method] if isinstance(response_method, str) else list(response_method)
    name = getattr(function, "__name__", "scorer")
    if methods != ["predict"]:
        raise ValueError(_not_thresholded(f"the scorer of {name} (response_method={response_method!r})"))
    kind = _FUNCTIONS.get(function)
    average = kwargs.get("average", "binary")
    if kind in ("f1", "fbeta", "precision", "recall", "jaccard") and average in ("micro", "samples"):
        raise ValueError(_not_per_label(f"{name} with average={average!r}"))
    fast = _counts_function(kind, kwargs)
    if fast is not None:
        return LabelMetric(name, from_counts=fast if sign > 0 else (lambda counts: sign * fast(counts)))
    return LabelMetric(name, from_predictions=lambda truth, predicted: sign * function(truth, predicted, **kwargs))


def _counts_function(kind: str | None, kwargs: dict) -> Callable[[Counts], np.ndarray] | None:
    """The counts formula of a known metric with settings that keep it per label; None otherwise."""
    options = dict(kwargs)
    options.pop("average", None)  # binary, macro or weighted: per label, the label's own binary metric
    if options.pop("pos_label", 1) not in (1, None):  # the averaged scorers of get_scorer carry None
        return None
    zero_division = options.pop("zero_division", "warn")
    if kind in ("f1", "fbeta"):
        beta = options.pop("beta", 1.0)
        return None if options else _fbeta(beta, zero_division)
    if kind in ("precision", "recall", "jaccard") and not options:
        return {"precision": _precision, "recall": _recall, "jaccard": _jaccard}[kind](zero_division)
    if kind in ("accuracy", "balanced_accuracy", "matthews_corrcoef") and not options and "average" not in kwargs:
        return _BY_NAME[kind]
    return None


def _not_per_label(what: str) -> str:
    return (
        f"scoring={what} pools all labels' predictions, so no threshold of one label has a best value on its own; "
        "use the per-label metric (e.g. 'f1': tuning each label for it also maximises the macro and weighted "
        "averages over labels)."
    )


def _not_thresholded(what: str) -> str:
    return (
        f"scoring={what} reads scores, not thresholded predictions, so it does not depend on the threshold; use "
        "a metric of predicted labels such as 'f1', 'precision', 'recall' or 'balanced_accuracy'."
    )
