"""``ThresholdCurveDisplay``: precision, recall and F1 against the decision threshold, per label.

A multi-label classifier predicts a label when its score is at least the label's threshold. This
display draws, for each label, how precision, recall and F1 change with that threshold, from scores
that already exist (it never runs a model), and marks the thresholds in use. It follows the
conventions of scikit-learn's Display classes: the computed values live on the object,
``from_predictions`` and ``from_estimator`` compute and draw, and ``plot`` (re)draws and keeps the
matplotlib artists. matplotlib is imported only when something is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve
from sklearn.utils.validation import check_is_fitted

from ..core import check_positive_int
from ._targets import indicator, is_multilabel_target, multilabel_rows
from ._threshold import MultiLabelThresholdTuner, threshold_parameter

METRICS = ("precision", "recall", "f1")
_METRIC_NAMES = {"precision": "Precision", "recall": "Recall", "f1": "F1"}
_METRIC_COLORS = {"precision": "C0", "recall": "C1", "f1": "C2"}  # the same colour for a metric on every axes


class ThresholdCurveDisplay:
    """Precision, recall and F1 against the decision threshold, one small plot per label.

    Build it with ``from_predictions`` (true labels and scores you already have) or
    ``from_estimator`` (scores from ``estimator.predict_proba``); both compute the curves and
    draw them. The constructor only stores values; ``plot`` draws them.

    A label is predicted when its score is at least the threshold, as ``ZeroShotClassifier.predict``
    does, so each metric is a step function of the threshold that changes only at the label's
    distinct scores. The curves are computed with scikit-learn's ``precision_recall_curve`` and
    hold one value per distinct score; F1 is computed from precision and recall.

    Parameters
    ----------
    curves : dict of str to dict of str to ndarray
        ``{label: {"threshold": t, "precision": ..., "recall": ..., "f1": ...}}``: for each label,
        its distinct scores in increasing order (``t``) and the metrics of predicting the label when
        the score is at least ``t[i]``. Any subset of the three metrics may be present.
    thresholds : dict of str to float, default=None
        Thresholds to mark with a vertical line, for some or all labels.
    prevalence : dict of str to float, default=None
        The fraction of texts that carry each label. A label with prevalence 0 is titled "no
        positive texts".

    Attributes
    ----------
    lines_ : dict of (str, str) to matplotlib Line2D
        ``{(label, metric): line}`` for every curve drawn.
    threshold_lines_ : dict of str to matplotlib Line2D
        ``{label: line}``: the vertical line of each marked threshold.
    axes_ : dict of str to matplotlib Axes
        ``{label: axes}``: the axes each label is drawn on.
    ax_ : matplotlib Axes or None
        The axes, when a single label is drawn; None when several are.
    figure_ : matplotlib Figure
        The figure holding the axes.

    See Also
    --------
    MultiLabelThresholdTuner : Cross-validated per-label thresholds, to be marked on these curves.
    sklearn.metrics.ConfusionMatrixDisplay : For single-label classifiers (see docs/sklearn.md).

    Notes
    -----
    One axes per label, in a grid, rather than all curves on one axes: three metrics for each of
    ten labels on one axes would be thirty lines to tell apart, while small multiples with a shared
    threshold axis read at a glance, whatever the number of labels. Colours stand for metrics and
    are the same on every axes.

    Outside its scores a label's curves are extended to the ends of the threshold axis: below its
    lowest score every text is predicted (the values at the lowest score); above its highest score
    none is, and precision, recall and F1 are drawn as 0, scikit-learn's value with
    ``zero_division=0`` (the convention ``MultiLabelThresholdTuner`` uses too). A label that no
    text carries has no true positives at any threshold, so its three curves are 0 throughout; its
    title says "no positive texts".

    There is no ``from_tuner``: a fitted ``MultiLabelThresholdTuner`` keeps the out-of-fold scores
    its thresholds were chosen on (``oof_scores_``) but not the ``y`` of ``fit``, and storing a copy
    of every training target on the estimator only for plotting is not worth it. Pass that ``y``
    yourself: ``from_predictions(y, tuner.oof_scores_, labels=tuner.classes_,
    thresholds=tuner.thresholds_)`` draws exactly the curves the tuner maximised.

    Examples
    --------
    >>> import numpy as np
    >>> y_true = np.array([[1, 0], [1, 1], [0, 1], [0, 0], [1, 0]])
    >>> y_score = np.array([[0.9, 0.2], [0.6, 0.7], [0.4, 0.8], [0.1, 0.3], [0.7, 0.1]])
    >>> display = ThresholdCurveDisplay.from_predictions(
    ...     y_true, y_score, labels=["sports", "politics"], thresholds=[0.5, 0.25]
    ... )
    >>> display.curves["sports"]["threshold"]
    array([0.1, 0.4, 0.6, 0.7, 0.9])
    >>> display.curves["sports"]["recall"]
    array([1.        , 1.        , 1.        , 0.66666667, 0.33333333])
    >>> sorted(display.lines_)[:3]
    [('politics', 'f1'), ('politics', 'precision'), ('politics', 'recall')]
    >>> display.threshold_lines_["sports"].get_xdata()
    [0.5, 0.5]
    >>> import matplotlib.pyplot as plt
    >>> plt.close(display.figure_)
    """

    def __init__(
        self,
        curves: Mapping[Any, Mapping[str, np.ndarray]],
        *,
        thresholds: Mapping[Any, float] | None = None,
        prevalence: Mapping[Any, float] | None = None,
    ) -> None:
        self.curves = curves
        self.thresholds = thresholds
        self.prevalence = prevalence

    @classmethod
    def from_predictions(
        cls,
        y_true: Any,
        y_score: Any,
        *,
        labels: Sequence[Any] | None = None,
        thresholds: Any = None,
        metrics: Sequence[str] = METRICS,
        ax: Any = None,
        n_cols: int = 3,
        curve_kwargs: dict[str, Any] | None = None,
        threshold_kwargs: dict[str, Any] | None = None,
    ) -> ThresholdCurveDisplay:
        """Compute the curves of each label from true labels and scores, and draw them.

        Parameters
        ----------
        y_true : array-like of shape (n_samples, n_labels) or (n_samples,)
            An indicator matrix (ndarray, sparse matrix, or DataFrame of 0/1 columns named by
            label), or a 0/1 array for one label.
        y_score : array-like of shape (n_samples, n_labels) or (n_samples,)
            The scores, column for column with ``y_true`` (ndarray or DataFrame; a Series for one
            label), e.g. from ``predict_proba`` or ``MultiLabelThresholdTuner.oof_scores_``. Rows
            with a NaN score (texts skipped as missing with ``missing="skip"``) are left out of
            every curve, as ``MultiLabelThresholdTuner`` leaves them out of its search.
        labels : sequence of str, default=None
            The labels of the curves. When the columns have names (DataFrame columns, a Series'
            name), the labels to draw, in this order (default: all). Otherwise one name per
            column, in column order (default: ``"label 0"``, ``"label 1"``, ...).
        thresholds : float, array-like or dict of str to float, default=None
            Thresholds to mark: one for every label, one per column of ``y_score`` in column order
            (``MultiLabelThresholdTuner.thresholds_`` is one), or ``{label: threshold}`` for some
            labels. None marks none.
        metrics : sequence of {"precision", "recall", "f1"}, default=("precision", "recall", "f1")
            The curves to compute and draw.
        ax : matplotlib Axes or sequence of Axes, default=None
            Where to draw; see ``plot``.
        n_cols : int, default=3
            Columns of the grid of axes created when ``ax`` is None.
        curve_kwargs : dict, default=None
            Keyword arguments for matplotlib's ``plot`` for every curve.
        threshold_kwargs : dict, default=None
            Keyword arguments for matplotlib's ``axvline`` for every threshold mark.

        Returns
        -------
        display : ThresholdCurveDisplay
        """
        _pyplot()  # fail before any work when matplotlib is missing
        columns = _Columns.read(y_true, y_score, labels)
        marked = _marked_thresholds(thresholds, columns.names)
        display = cls._compute(columns, marked, _check_metrics(metrics))
        return display.plot(ax, n_cols=n_cols, curve_kwargs=curve_kwargs, threshold_kwargs=threshold_kwargs)

    @classmethod
    def from_estimator(
        cls,
        estimator: Any,
        X: Any,
        y: Any,
        *,
        labels: Sequence[Any] | None = None,
        thresholds: Any = "auto",
        metrics: Sequence[str] = METRICS,
        ax: Any = None,
        n_cols: int = 3,
        curve_kwargs: dict[str, Any] | None = None,
        threshold_kwargs: dict[str, Any] | None = None,
    ) -> ThresholdCurveDisplay:
        """Score ``X`` with a fitted multi-label classifier, and draw the curves of each label.

        Parameters
        ----------
        estimator : fitted multi-label classifier
            Anything with ``predict_proba`` and ``classes_``: a ``MultiLabelThresholdTuner``, a
            ``ZeroShotClassifier(multi_label=True)``, or a Pipeline ending in one.
        X : list, ndarray, Series or one-column DataFrame of str
            The texts to score; use texts the estimator did not learn from (few-shot examples) to
            see how its thresholds generalise.
        y : list of label lists, indicator matrix or DataFrame of 0/1 columns
            Their true labels, in any format the estimator's ``fit`` accepts (an indicator matrix's
            columns follow ``classes_``).
        labels : sequence of str, default=None
            The labels to draw, in this order (default: all of ``classes_``).
        thresholds : "auto", None, float, array-like or dict of str to float, default="auto"
            Thresholds to mark. "auto": a ``MultiLabelThresholdTuner``'s ``thresholds_``, or the
            ``threshold`` the estimator (or the step it ends in) predicts with; None: none; other
            values as in ``from_predictions``, columns following ``classes_``.
        metrics : sequence of {"precision", "recall", "f1"}, default=("precision", "recall", "f1")
            The curves to compute and draw.
        ax : matplotlib Axes or sequence of Axes, default=None
            Where to draw; see ``plot``.
        n_cols : int, default=3
            Columns of the grid of axes created when ``ax`` is None.
        curve_kwargs : dict, default=None
            Keyword arguments for matplotlib's ``plot`` for every curve.
        threshold_kwargs : dict, default=None
            Keyword arguments for matplotlib's ``axvline`` for every threshold mark.

        Returns
        -------
        display : ThresholdCurveDisplay
        """
        _pyplot()
        check_is_fitted(estimator)
        classes = list(estimator.classes_)
        truth = _estimator_truth(estimator, y, classes)
        scores = np.asarray(estimator.predict_proba(X), dtype=np.float64)
        if truth.shape != scores.shape:
            raise ValueError(
                f"y has shape {truth.shape} but {type(estimator).__name__}.predict_proba(X) has shape {scores.shape}; "
                f"y needs one row per text and one column per class ({_listed(classes)})."
            )
        columns = _Columns(truth, scores, classes, classes if labels is None else _known(labels, classes))
        if isinstance(thresholds, str) and thresholds == "auto":
            thresholds = _estimator_thresholds(estimator)
        marked = _marked_thresholds(thresholds, classes)
        display = cls._compute(columns, marked, _check_metrics(metrics))
        return display.plot(ax, n_cols=n_cols, curve_kwargs=curve_kwargs, threshold_kwargs=threshold_kwargs)

    @classmethod
    def _compute(cls, columns: _Columns, marked: dict[Any, float], metrics: tuple[str, ...]) -> ThresholdCurveDisplay:
        truth, scores = columns.scored_rows()
        curves, prevalence = {}, {}
        for label in columns.selected:
            j = columns.names.index(label)
            curves[label] = _label_curves(truth[:, j], scores[:, j], metrics)
            prevalence[label] = float(truth[:, j].mean())
        shown = {label: marked[label] for label in columns.selected if label in marked}
        return cls(curves, thresholds=shown, prevalence=prevalence)

    def plot(
        self,
        ax: Any = None,
        *,
        labels: Sequence[Any] | None = None,
        n_cols: int = 3,
        curve_kwargs: dict[str, Any] | None = None,
        threshold_kwargs: dict[str, Any] | None = None,
    ) -> ThresholdCurveDisplay:
        """Draw the curves, one axes per label, and mark the thresholds.

        Parameters
        ----------
        ax : matplotlib Axes or sequence of Axes, default=None
            None: a new figure with a grid of axes, ``n_cols`` wide, sharing their axes. One Axes,
            when one label is drawn. A sequence (or array) of Axes, one per label drawn, in order.
        labels : sequence of str, default=None
            The labels to draw, in this order (default: all).
        n_cols : int, default=3
            Columns of the grid created when ``ax`` is None.
        curve_kwargs : dict, default=None
            Keyword arguments for matplotlib's ``plot`` for every curve, over the defaults (a
            colour per metric, ``drawstyle="steps-pre"``).
        threshold_kwargs : dict, default=None
            Keyword arguments for matplotlib's ``axvline`` for every threshold mark.

        Returns
        -------
        display : ThresholdCurveDisplay
            The display, with ``lines_``, ``threshold_lines_``, ``axes_``, ``ax_`` and ``figure_``.
        """
        shown = list(self.curves) if labels is None else _known(labels, list(self.curves))
        axes = _axes_for(ax, len(shown), check_positive_int(n_cols, "n_cols"))
        low, high = self._threshold_range(shown)
        self.lines_, self.threshold_lines_, self.axes_ = {}, {}, {}
        for label, axis in zip(shown, axes):
            self.axes_[label] = axis
            self._draw_label(axis, label, (low, high), curve_kwargs or {}, threshold_kwargs or {})
        self.ax_ = axes[0] if len(axes) == 1 else None
        self.figure_ = axes[0].figure
        _label_outer_axes(axes)
        self._add_legend(axes[0], below_the_grid=ax is None)
        return self

    def _add_legend(self, first: Any, below_the_grid: bool) -> None:
        """One legend: under a grid this display made (its layout has room), else on the first axes."""
        handles = [line for (label, _), line in self.lines_.items() if first is self.axes_[label]]
        handles += list(self.threshold_lines_.values())[:1]
        if below_the_grid:
            self.figure_.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize="small")
        else:
            first.legend(handles=handles, loc="lower left", fontsize="small")

    def _threshold_range(self, shown: list[Any]) -> tuple[float, float]:
        """From 0 to 1 (probabilities), widened to every score and mark (logits, say), plus a margin.

        The margin keeps a mark at 0 or 1 off the frame of the axes.
        """
        values = [0.0, 1.0]
        for label in shown:
            values.extend(self.curves[label]["threshold"][[0, -1]])
            if self._mark(label) is not None:
                values.append(self._mark(label))
        low, high = float(min(values)), float(max(values))
        margin = 0.02 * (high - low)
        return low - margin, high + margin

    def _draw_label(
        self, axis: Any, label: Any, span: tuple[float, float], curve_kwargs: dict, threshold_kwargs: dict
    ) -> None:
        curve = self.curves[label]
        for metric in (name for name in METRICS if name in curve):
            x, y = _extended_steps(curve["threshold"], curve[metric], span)
            style = {"color": _METRIC_COLORS[metric], "drawstyle": "steps-pre", "label": _METRIC_NAMES[metric]}
            (self.lines_[label, metric],) = axis.plot(x, y, **{**style, **curve_kwargs})
        marked = self._mark(label)
        if marked is not None:
            style = {"color": "0.25", "linestyle": "--", "linewidth": 1, "label": "Chosen threshold"}
            self.threshold_lines_[label] = axis.axvline(marked, **{**style, **threshold_kwargs})
        axis.set(xlim=span, ylim=(-0.03, 1.03), xlabel="Threshold", ylabel="Score", title=self._title(label))

    def _title(self, label: Any) -> str:
        if (self.prevalence or {}).get(label) == 0:
            return f"{label}: no positive texts"
        marked = self._mark(label)
        return f"{label} (threshold {marked:.3g})" if marked is not None else str(label)

    def _mark(self, label: Any) -> float | None:
        return (self.thresholds or {}).get(label)


@dataclass
class _Columns:
    """True labels and scores as (n_samples, n_labels) arrays, the name of each column, the labels to draw."""

    truth: np.ndarray
    scores: np.ndarray
    names: list[Any]
    selected: list[Any]

    def __post_init__(self) -> None:
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"Label names must be unique, got {_listed(self.names)}.")
        _check_indicator(self.truth)

    @classmethod
    def read(cls, y_true: Any, y_score: Any, labels: Sequence[Any] | None) -> _Columns:
        truth, scores = _matrix(y_true, "y_true"), _matrix(y_score, "y_score")
        if truth.shape != scores.shape:
            raise ValueError(f"y_true has shape {truth.shape} but y_score has shape {scores.shape}; they must match.")
        truth_names, score_names = _column_names(y_true), _column_names(y_score)
        if truth_names is not None and score_names is not None:
            truth = truth[:, _reorder(truth_names, score_names, ("y_true", "y_score"))]
        names = score_names or truth_names
        if names is not None:
            return cls(truth, scores, names, names if labels is None else _known(labels, names))
        names = [f"label {j}" for j in range(scores.shape[1])] if labels is None else _as_list(labels)
        if len(names) != scores.shape[1]:
            raise ValueError(
                f"labels has {len(names)} names but y_score has {scores.shape[1]} columns: name every column, in "
                "column order. To draw some labels only, call plot(labels=[...]) on the display."
            )
        return cls(truth, scores, names, names)

    def scored_rows(self) -> tuple[np.ndarray, np.ndarray]:
        scored = ~np.isnan(self.scores).any(axis=1)
        if not scored.any():
            raise ValueError("Every row has a NaN score: there is nothing to draw.")
        return self.truth[scored], self.scores[scored]


def _matrix(values: Any, what: str) -> np.ndarray:
    if hasattr(values, "toarray"):
        values = values.toarray()
    matrix = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    if matrix.ndim != 2 or not matrix.size:
        raise ValueError(f"{what} must be a non-empty 1-D or 2-D array, got shape {np.shape(values)}.")
    return matrix


def _column_names(values: Any) -> list[Any] | None:
    if hasattr(values, "columns"):
        return list(values.columns)
    name = getattr(values, "name", None) if getattr(values, "ndim", 0) == 1 else None
    return None if name is None else [name]


def _reorder(truth_names: list[Any], score_names: list[Any], where: tuple[str, str]) -> list[int]:
    """Positions in ``truth_names`` of each of ``score_names``: the true labels' columns in the scores' order."""
    only_truth = [name for name in truth_names if name not in score_names]
    only_scores = [name for name in score_names if name not in truth_names]
    if only_truth or only_scores:
        raise ValueError(
            f"{where[0]} and {where[1]} name different labels: {_listed(only_truth) or 'none'} only in {where[0]}, "
            f"{_listed(only_scores) or 'none'} only in {where[1]}."
        )
    return [truth_names.index(name) for name in score_names]


def _known(labels: Any, names: list[Any]) -> list[Any]:
    """``labels`` as a list, each of them one of ``names``."""
    labels = _as_list(labels)
    unknown = [label for label in labels if label not in names]
    if unknown:
        plural = "s" * (len(unknown) > 1)
        raise ValueError(f"Unknown label{plural} {_listed(unknown)}; the labels are {_listed(names)}.")
    if not labels:
        raise ValueError("labels is empty: name at least one label.")
    return labels


def _as_list(labels: Any) -> list[Any]:
    return [labels] if isinstance(labels, str) else list(labels)


def _check_indicator(truth: np.ndarray) -> None:
    bad = np.argwhere(~np.isin(truth, (0, 1)))
    if len(bad):
        row, column = bad[0]
        raise ValueError(f"y_true[{row}, {column}] is {truth[row, column].item()!r}; true labels must be 0 or 1.")


def _check_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    chosen = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    unknown = [metric for metric in chosen if metric not in METRICS]
    if unknown or not chosen:
        raise ValueError(f"metrics must be one or more of {_listed(METRICS)}; got {_listed(chosen) or 'none'}.")
    return chosen


def _marked_thresholds(thresholds: Any, names: list[Any]) -> dict[Any, float]:
    """``{label: threshold}`` from None, one number, one number per column, or a dict."""
    if thresholds is None or (isinstance(thresholds, Mapping) and not thresholds):
        return {}
    if isinstance(thresholds, Mapping):
        _known(thresholds.keys(), names)
        return {label: _finite(value, f"thresholds[{label!r}]") for label, value in thresholds.items()}
    if isinstance(thresholds, Real):
        return dict.fromkeys(names, _finite(thresholds, "thresholds"))
    values = np.ravel(np.asarray(thresholds, dtype=object))
    if len(values) != len(names):
        raise ValueError(
            f"thresholds has {len(values)} values but there are {len(names)} labels ({_listed(names)}): give one per "
            "label, in column order, or a {label: threshold} dict."
        )
    return {label: _finite(value, f"thresholds[{j}]") for j, (label, value) in enumerate(zip(names, values))}


def _finite(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{where} must be a finite number, got {value!r}.")
    return float(value)


def _label_curves(truth: np.ndarray, scores: np.ndarray, metrics: tuple[str, ...]) -> dict[str, np.ndarray]:
    """One label's metrics at each of its distinct scores (as thresholds), with zero_division=0."""
    if not truth.any():  # every predicted text is a false positive, and recall is 0/0
        thresholds = np.unique(scores)
        values = dict.fromkeys(METRICS, np.zeros(len(thresholds)))
    else:
        precision, recall, thresholds = precision_recall_curve(truth, scores, pos_label=1)
        precision, recall = precision[:-1], recall[:-1]  # the last pair, "nothing predicted", has no threshold
        total = precision + recall
        f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
        values = {"precision": precision, "recall": recall, "f1": f1}
    return {"threshold": thresholds, **{metric: values[metric] for metric in metrics}}


def _extended_steps(thresholds: np.ndarray, values: np.ndarray, span: tuple[float, float]) -> tuple:
    """The points of a ``steps-pre`` line over the whole span: values hold on (t[i-1], t[i]]."""
    # below the lowest score every text is predicted; above the highest none is, and every metric is 0
    x = np.concatenate([[span[0]], thresholds, [span[1]]])
    y = np.concatenate([[values[0]], values, [0.0]])
    return x, y


def _estimator_truth(estimator: Any, y: Any, classes: list[Any]) -> np.ndarray:
    """``y`` as an indicator matrix whose columns follow ``classes``."""
    if not is_multilabel_target(y):
        raise ValueError(
            "ThresholdCurveDisplay is for multi-label classifiers; y must hold label lists, an indicator matrix or a "
            "DataFrame of 0/1 columns. For a single-label classifier use scikit-learn's ConfusionMatrixDisplay "
            "(see docs/sklearn.md)."
        )
    if getattr(estimator, "multi_label_", True) is False:
        raise ValueError(
            f"{type(estimator).__name__} was fitted as single-label; ThresholdCurveDisplay needs multi_label=True. "
            "For a single-label classifier use scikit-learn's ConfusionMatrixDisplay (see docs/sklearn.md)."
        )
    if hasattr(y, "columns"):
        return _matrix(y, "y")[:, _reorder(list(y.columns), classes, ("y", "the classes"))]
    if hasattr(y, "toarray") or isinstance(y, np.ndarray):
        return _matrix(y, "y")
    rows = multilabel_rows(y, tuple(classes))
    unknown = sorted({label for row in rows for label in row} - set(classes))
    if unknown:
        raise ValueError(
            f"y has label{'s' * (len(unknown) > 1)} {_listed(unknown)} that {type(estimator).__name__} does not "
            f"predict; its classes are {_listed(classes)}."
        )
    return indicator(rows, classes).astype(np.float64)


def _estimator_thresholds(estimator: Any) -> Any:
    """The thresholds ``estimator.predict`` uses, or None when it has none."""
    if isinstance(estimator, MultiLabelThresholdTuner):
        return estimator.thresholds_
    try:
        parameter = threshold_parameter(estimator)
    except TypeError:
        return None
    return estimator.get_params(deep=True)[parameter]


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as pyplot
    except ImportError as error:
        raise ImportError(
            'ThresholdCurveDisplay needs matplotlib: pip install "gliclass-integrations[plot]"'
        ) from error
    return pyplot


def _axes_for(ax: Any, n_labels: int, n_cols: int) -> list[Any]:
    """One axes per label: given by the caller, or a new grid sharing its threshold and score axes."""
    if ax is None:
        n_cols = min(n_cols, n_labels)
        n_rows = math.ceil(n_labels / n_cols)
        _, grid = _pyplot().subplots(
            n_rows, n_cols, sharex=True, sharey=True, squeeze=False, layout="constrained",
            figsize=(max(3.4 * n_cols, 5.0), 2.6 * n_rows + 0.4),  # at least as wide as the legend below
        )
        for unused in grid.flat[n_labels:]:
            unused.remove()
        return list(grid.flat[:n_labels])
    axes = list(np.ravel(np.asarray(ax, dtype=object)))
    if len(axes) != n_labels:
        raise ValueError(
            f"plot draws one axes per label: {n_labels} label{'s' * (n_labels > 1)} need {n_labels} axes, got "
            f"{len(axes)}. Pass that many axes, choose labels with labels=[...], or leave ax=None for a new grid."
        )
    return axes


def _label_outer_axes(axes: list[Any]) -> None:
    """In a grid, axis labels only at the left and bottom edges (tick labels where no axes sits below)."""
    for axis in axes:
        spec = axis.get_subplotspec()
        if spec is None:
            continue
        if not spec.is_first_col():
            axis.set_ylabel("")
        below = [other for other in axes if _directly_below(other, spec)]
        if below:
            axis.set_xlabel("")
        else:
            axis.xaxis.set_tick_params(labelbottom=True)


def _directly_below(other: Any, spec: Any) -> bool:
    other_spec = other.get_subplotspec()
    return (
        other_spec is not None
        and other_spec.get_gridspec() is spec.get_gridspec()
        and other_spec.rowspan.start == spec.rowspan.stop
        and other_spec.colspan.start == spec.colspan.start
    )


def _listed(values: Any) -> str:
    return ", ".join(repr(value) for value in values)
