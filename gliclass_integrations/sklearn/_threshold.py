"""``MultiLabelThresholdTuner``: one cross-validated threshold per label.

scikit-learn's ``TunedThresholdClassifierCV`` handles binary tasks only. Labels of a multi-label
zero-shot model are calibrated differently from one another, so one global threshold is rarely best
for all of them: this tuner picks, for each label, the threshold that maximises a metric on
out-of-fold scores.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    jaccard_score,
    precision_score,
    recall_score,
)
from sklearn.model_selection import check_cv
from sklearn.utils.validation import check_is_fitted

from ..core import text_column
from ._sklearn_compat import HasMethods, Interval, StrOptions, _fit_context
from ._targets import indicator, multilabel_rows

METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "f1": lambda truth, predicted: f1_score(truth, predicted, zero_division=0),
    "precision": lambda truth, predicted: precision_score(truth, predicted, zero_division=0),
    "recall": lambda truth, predicted: recall_score(truth, predicted, zero_division=0),
    "jaccard": lambda truth, predicted: jaccard_score(truth, predicted, zero_division=0),
    "accuracy": accuracy_score,
    "balanced_accuracy": balanced_accuracy_score,
}


class MultiLabelThresholdTuner(ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    """Tune one threshold per label of a multi-label classifier by cross-validation.

    ``fit`` scores every text out of fold (a clone of ``estimator`` fitted on the other folds, so
    few-shot examples never include the text being scored), then for each label picks the threshold
    that maximises ``scoring`` on those scores, and finally fits ``estimator`` on all the data with
    these thresholds. With ``ZeroShotClassifier``'s logit cache, a text is encoded once per few-shot
    context, not once per candidate threshold.

    Parameters
    ----------
    estimator : estimator with ``predict_proba`` and a ``threshold`` parameter
        A multi-label classifier, typically ``ZeroShotClassifier(multi_label=True, ...)``.
    scoring : {"f1", "precision", "recall", "jaccard", "accuracy", "balanced_accuracy"} or callable, \
default="f1"
        The per-label metric to maximise; a callable takes ``(y_true, y_pred)`` of one label (0/1
        arrays) and returns a float, higher being better.
    cv : int, cross-validation generator, iterable or "prefit", default=5
        How to split the data (``KFold`` for an int). "prefit": ``estimator`` is already fitted, and the
        thresholds are chosen on ``(X, y)`` as given (use held-out data).
    thresholds : int or array-like, default=None
        Candidate thresholds. None: every midpoint between consecutive distinct scores of a label (the
        exact optimum on the out-of-fold scores), plus 0 and 1. An int: that many evenly spaced values
        in (0, 1). An array: those values.

    Attributes
    ----------
    estimator_ : estimator
        ``estimator`` fitted on all the data with the tuned thresholds (with ``cv="prefit"``, a copy
        of ``estimator`` with the thresholds set).
    thresholds_ : ndarray of shape (n_classes,)
        The chosen threshold of each class, in ``classes_`` order.
    best_scores_ : ndarray of shape (n_classes,)
        Each label's metric at its threshold, on the out-of-fold scores.
    classes_ : ndarray
        The estimator's classes.

    Examples
    --------
    >>> from gliclass_integrations.sklearn import ZeroShotClassifier
    >>> texts = ["goal in extra time", "the senate votes", "a new phone chip", "the coach resigned"] * 3
    >>> y = [["sports"], ["politics"], ["tech"], ["sports", "politics"]] * 3
    >>> base = ZeroShotClassifier(checkpoint_dir, labels=["sports", "politics", "tech"], multi_label=True)
    >>> tuner = MultiLabelThresholdTuner(base, cv=3).fit(texts, y)
    >>> tuner.thresholds_.shape
    (3,)
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "scoring": [StrOptions(set(METRICS)), callable],
        "cv": ["cv_object", StrOptions({"prefit"})],
        "thresholds": [Interval(Integral, 1, None, closed="left"), "array-like", None],
    }

    def __init__(self, estimator: Any, *, scoring: str | Callable = "f1", cv: Any = 5, thresholds: Any = None) -> None:
        self.estimator = estimator
        self.scoring = scoring
        self.cv = cv
        self.thresholds = thresholds

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: Any, y: Any) -> MultiLabelThresholdTuner:
        """Pick each label's threshold on out-of-fold scores, then fit the estimator on all the data.

        Parameters
        ----------
        X : list, ndarray, Series or one-column DataFrame of str
        y : list of label lists, indicator matrix or DataFrame of 0/1 columns

        Returns
        -------
        self : MultiLabelThresholdTuner
        """
        texts = text_column(X)
        if self.cv == "prefit":
            check_is_fitted(self.estimator, "classes_")
            final = copy.deepcopy(self.estimator)  # holds no weights: cheap, and leaves the caller's unchanged
            scores = final.predict_proba(texts)
            truth = _truth(final, y)
        else:
            final = clone(self.estimator).fit(texts, y)
            truth = _truth(final, y)
            scores = self._out_of_fold_scores(final, texts, truth)
        metric = METRICS[self.scoring] if isinstance(self.scoring, str) else self.scoring
        best = [_best_threshold(truth[:, j], scores[:, j], metric, self.thresholds) for j in range(truth.shape[1])]
        self.thresholds_ = np.array([threshold for threshold, _ in best])
        self.best_scores_ = np.array([score for _, score in best])
        self.estimator_ = final.set_params(threshold=self.thresholds_.tolist())
        self.classes_ = final.classes_
        return self

    def _out_of_fold_scores(self, fitted: Any, texts: list[str], truth: np.ndarray) -> np.ndarray:
        # Every fold must score all of the full fit's classes, in the same order, whatever its y holds.
        fold_estimator = clone(self.estimator).set_params(labels=list(fitted.model_labels_))
        label_lists = [tuple(fitted.classes_[truth[i] == 1]) for i in range(len(texts))]
        scores = np.zeros(truth.shape, dtype=np.float64)
        for train, test in check_cv(self.cv).split(texts):
            model = clone(fold_estimator).fit([texts[i] for i in train], [label_lists[i] for i in train])
            scores[test] = model.predict_proba([texts[i] for i in test])
        return scores

    def predict(self, X: Any) -> np.ndarray:
        """Indicator matrix with each label's tuned threshold.

        Parameters
        ----------
        X : list, ndarray, Series or one-column DataFrame of str

        Returns
        -------
        ndarray of shape (n_samples, n_classes) of int
        """
        check_is_fitted(self)
        return self.estimator_.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        """The estimator's label scores.

        Parameters
        ----------
        X : list, ndarray, Series or one-column DataFrame of str

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The fitted estimator's score (subset accuracy for multi-label).

        Parameters
        ----------
        X : list, ndarray, Series or one-column DataFrame of str
        y : list of label lists, indicator matrix or DataFrame of 0/1 columns
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float
        """
        check_is_fitted(self)
        return self.estimator_.score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.classifier_tags.multi_label = True
        return tags


def _truth(fitted: Any, y: Any) -> np.ndarray:
    if not getattr(fitted, "multi_label_", False):
        raise ValueError(
            "MultiLabelThresholdTuner needs a multi-label classifier (multi_label=True, or y as label lists, an "
            "indicator matrix or a DataFrame); for a binary task use sklearn's TunedThresholdClassifierCV."
        )
    return indicator(multilabel_rows(y, fitted.model_labels_), fitted.classes_)


def _best_threshold(truth: np.ndarray, scores: np.ndarray, metric: Callable, candidates: Any) -> tuple[float, float]:
    """The candidate with the highest metric; the lowest such threshold on a tie."""
    if candidates is None:
        distinct = np.unique(scores)
        candidates = np.concatenate([[0.0], (distinct[:-1] + distinct[1:]) / 2, [1.0]])
    elif isinstance(candidates, Integral):
        candidates = np.linspace(0, 1, candidates + 2)[1:-1]
    candidates = np.sort(np.asarray(candidates, dtype=float))
    values = [metric(truth, (scores >= threshold).astype(int)) for threshold in candidates]
    best = int(np.argmax(values))
    return float(candidates[best]), float(values[best])
