"""``MultiLabelThresholdTuner``: one cross-validated threshold per label.

scikit-learn's ``TunedThresholdClassifierCV`` handles binary tasks only. Labels of a multi-label
zero-shot model are calibrated differently from one another, so one global threshold is rarely best
for all of them: this tuner picks, for each label, the threshold that maximises a metric on
out-of-fold scores.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.model_selection import check_cv
from sklearn.utils.validation import check_is_fitted

from ..core import check_threshold, text_values
from ._label_metrics import NAMES, LabelMetric, metric_curve, resolve_scoring
from ._sklearn_compat import HasMethods, Interval, StrOptions, _fit_context
from ._targets import indicator, multilabel_rows


class MultiLabelThresholdTuner(ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    """Tune one threshold per label of a multi-label classifier by cross-validation.

    ``fit`` scores every text out of fold (a clone of ``estimator`` fitted on the other folds, so
    few-shot examples never include the text being scored), then for each label picks the threshold
    that maximises ``scoring`` on those scores, and finally fits ``estimator`` on all the data with
    these thresholds. With ``ZeroShotClassifier``'s logit cache, a text is encoded once per few-shot
    context, not once per candidate threshold; the search itself is one sorted pass per label.

    Parameters
    ----------
    estimator : estimator with ``predict_proba``
        A multi-label classifier with a ``threshold`` parameter, typically
        ``ZeroShotClassifier(multi_label=True, ...)``, or a Pipeline (or another meta-estimator with an
        ``estimator`` parameter) ending in one; the threshold is set through ``set_params`` with the
        step's name (``"zs__threshold"``).
    scoring : str, scorer or callable, default="f1"
        The metric to maximise, label by label: a name (``"f1"``, ``"precision"``, ``"recall"``,
        ``"jaccard"``, ``"accuracy"``, ``"balanced_accuracy"``, ``"matthews_corrcoef"``, or the
        ``_macro`` / ``_weighted`` averages of the first four, which each label's best threshold also
        maximises), a scorer from ``make_scorer`` of a metric of predicted labels, or a callable
        ``(y_true, y_pred) -> float`` of one label's 0/1 arrays, higher being better. Names and
        scikit-learn's own metrics are computed for every candidate in one sorted pass; any other
        metric is called once per candidate.
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
        The chosen threshold of each class, in ``classes_`` order; the lowest of equally good ones.
    best_scores_ : ndarray of shape (n_classes,)
        Each label's metric at its threshold, on the out-of-fold scores.
    cv_results_ : dict of ndarray
        One entry per label and candidate threshold: ``"label"``, ``"threshold"`` and ``"score"``
        (the metric on the out-of-fold scores); ``pandas.DataFrame(tuner.cv_results_)`` gives a table
        to plot.
    oof_scores_ : ndarray of shape (n_samples, n_classes)
        The out-of-fold scores the thresholds were chosen on (with ``cv="prefit"``, the scores of ``X``).
    classes_ : ndarray
        The estimator's classes.

    Warns
    -----
    UserWarning
        When a tuned threshold predicts a label for every text or for none (on the out-of-fold scores),
        or when no text in ``y`` carries a label: such a threshold says the scores do not separate
        the label on these data.

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
        "scoring": [StrOptions(set(NAMES)), str, callable],
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
        texts = text_values(X)
        metric = resolve_scoring(self.scoring)
        parameter = threshold_parameter(self.estimator)
        if self.cv == "prefit":
            check_is_fitted(self.estimator)
            final = copy.deepcopy(self.estimator)  # holds no weights: cheap, and leaves the caller's unchanged
            truth = _truth(_owner(final, parameter), y)
            scores = np.asarray(final.predict_proba(texts), dtype=np.float64)
        else:
            final = clone(self.estimator).fit(texts, y)
            truth = _truth(_owner(final, parameter), y)
            scores = self._out_of_fold_scores(final, parameter, texts, truth)
        classes = _owner(final, parameter).classes_
        self._choose(truth, scores, classes, metric)
        self.estimator_ = final.set_params(**{parameter: self.thresholds_.tolist()})
        self.classes_ = classes
        return self

    def _out_of_fold_scores(self, fitted: Any, parameter: str, texts: list[str], truth: np.ndarray) -> np.ndarray:
        # Every fold must score all of the full fit's classes, in the same order, whatever its y holds.
        owner = _owner(fitted, parameter)
        fold_estimator = clone(self.estimator)
        labels = _sibling(parameter, "labels")
        if labels in fold_estimator.get_params(deep=True) and hasattr(owner, "model_labels_"):
            fold_estimator.set_params(**{labels: list(owner.model_labels_)})
        label_lists = [tuple(owner.classes_[truth[i] == 1]) for i in range(len(texts))]
        scores = np.zeros(truth.shape, dtype=np.float64)
        for train, test in check_cv(self.cv).split(texts):
            model = clone(fold_estimator).fit([texts[i] for i in train], [label_lists[i] for i in train])
            scores[test] = model.predict_proba([texts[i] for i in test])
        return scores

    def _choose(self, truth: np.ndarray, scores: np.ndarray, classes: np.ndarray, metric: LabelMetric) -> None:
        chosen, best, rows = [], [], {"label": [], "threshold": [], "score": []}
        scored = ~np.isnan(scores).any(axis=1)  # texts skipped as missing are left out of the search
        for j, label in enumerate(classes):
            candidates = _candidates(scores[scored, j], self.thresholds)
            values = metric_curve(truth[scored, j], scores[scored, j], candidates, metric)
            index = int(np.argmax(np.where(np.isnan(values), -np.inf, values)))  # the first (lowest) of ties
            chosen.append(float(candidates[index]))
            best.append(float(values[index]))
            rows["label"].append(np.full(len(candidates), label, dtype=object))
            rows["threshold"].append(candidates)
            rows["score"].append(values)
        self.thresholds_ = np.array(chosen)
        self.best_scores_ = np.array(best)
        self.cv_results_ = {key: np.concatenate(parts) for key, parts in rows.items()}
        self.oof_scores_ = scores
        _warn_about_degenerate_thresholds(truth[scored], scores[scored], self.thresholds_, classes)

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


def threshold_parameter(estimator: Any) -> str:
    """The name, for ``set_params``, of the ``threshold`` of ``estimator`` or of the step it ends in."""
    params = estimator.get_params(deep=False)
    if "threshold" in params:
        return "threshold"
    steps = params.get("steps")
    if steps:  # a Pipeline: its last step
        name, last = steps[-1]
        if hasattr(last, "get_params"):
            return f"{name}__{threshold_parameter(last)}"
    inner = params.get("estimator")
    if inner is not None and hasattr(inner, "get_params"):
        return f"estimator__{threshold_parameter(inner)}"
    raise TypeError(
        f"MultiLabelThresholdTuner needs a classifier with a 'threshold' parameter, such as ZeroShotClassifier("
        f"multi_label=True), or a Pipeline ending in one; {type(estimator).__name__} has none."
    )


def _owner(estimator: Any, parameter: str) -> Any:
    """The (sub-)estimator that holds ``parameter``."""
    path = parameter.rpartition("__")[0]
    return estimator.get_params(deep=True)[path] if path else estimator


def _sibling(parameter: str, name: str) -> str:
    path = parameter.rpartition("__")[0]
    return f"{path}__{name}" if path else name


def _truth(owner: Any, y: Any) -> np.ndarray:
    if getattr(owner, "multi_label_", True) is False:
        raise ValueError(
            f"MultiLabelThresholdTuner needs a multi-label classifier, but {type(owner).__name__} was fitted as "
            "single-label: set multi_label=True, or give y as label lists, an indicator matrix or a DataFrame. "
            "For a binary task use scikit-learn's TunedThresholdClassifierCV."
        )
    return indicator(multilabel_rows(y, tuple(getattr(owner, "model_labels_", owner.classes_))), owner.classes_)


def _candidates(scores: np.ndarray, thresholds: Any) -> np.ndarray:
    if thresholds is None:
        distinct = np.unique(scores)
        return np.concatenate([[0.0], (distinct[:-1] + distinct[1:]) / 2, [1.0]])
    if isinstance(thresholds, Integral):
        return np.linspace(0, 1, thresholds + 2)[1:-1]
    values = [check_threshold(value, f"thresholds[{i}]") for i, value in enumerate(np.ravel(thresholds))]
    return np.sort(np.array(values, dtype=float))


def _warn_about_degenerate_thresholds(
    truth: np.ndarray, scores: np.ndarray, thresholds: np.ndarray, classes: np.ndarray
) -> None:
    absent, always, never = [], [], []
    for j, label in enumerate(classes):
        predicted = int((scores[:, j] >= thresholds[j]).sum())
        if not truth[:, j].any():
            absent.append(repr(label))
        elif predicted == len(scores):
            always.append(f"{label!r} (threshold {thresholds[j]:.3g})")
        elif predicted == 0:
            never.append(f"{label!r} (threshold {thresholds[j]:.3g})")
    problems = []
    if absent:
        problems.append(f"no text in y carries {', '.join(absent)}, so its threshold means nothing")
    if always:
        problems.append(f"the tuned threshold predicts {', '.join(always)} for every text")
    if never:
        problems.append(f"the tuned threshold predicts {', '.join(never)} for no text")
    if problems:
        warnings.warn(
            "MultiLabelThresholdTuner: " + "; ".join(problems) + ". The scores do not separate these labels on "
            "these data: check the label wording, add few-shot examples or labelled texts, or drop the label.",
            UserWarning,
            stacklevel=3,
        )
