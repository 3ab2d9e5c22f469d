"""ThresholdCurveDisplay: the drawn curves are scikit-learn's metrics at every threshold, marks sit where asked."""

from __future__ import annotations

import sys
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score
from test_sklearn_threshold import FixedScores, random_task

from gliclass_integrations import MultiLabelThresholdTuner
from gliclass_integrations.sklearn import ThresholdCurveDisplay

matplotlib.use("Agg")
import matplotlib.pyplot as plt

LABELS = ["sports", "politics", "tech"]
METRIC_FUNCTIONS = {"precision": precision_score, "recall": recall_score, "f1": f1_score}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def task():
    """60 texts, 3 labels, scores with ties (1 decimal), the last label rare."""
    texts, scores, truth = random_task(5, n=60, n_labels=3, decimals=1)
    return texts, scores, truth


def drawn_value(line, threshold):
    """The y of a ``steps-pre`` line at x = threshold: y[i] holds on (x[i-1], x[i]]."""
    x, y = line.get_data()
    return y[np.searchsorted(x, threshold, side="left")]


def test_one_axes_per_label_with_a_line_per_metric_axis_labels_and_one_legend(task):
    _, scores, truth = task
    display = ThresholdCurveDisplay.from_predictions(truth, scores, labels=LABELS, thresholds=[0.3, 0.5, 0.7])
    assert set(display.lines_) == {(label, metric) for label in LABELS for metric in ("precision", "recall", "f1")}
    assert list(display.axes_) == LABELS and display.ax_ is None
    assert all(axis.figure is display.figure_ for axis in display.axes_.values())
    for (label, _), line in display.lines_.items():
        assert line.axes is display.axes_[label]
    assert display.axes_["sports"].get_ylabel() == "Score"
    assert {axis.get_xlabel() for axis in display.axes_.values()} == {"Threshold"}  # one row: all at the bottom
    assert display.axes_["politics"].get_title() == "politics (threshold 0.5)"
    (legend,) = display.figure_.legends
    assert [text.get_text() for text in legend.get_texts()] == ["Precision", "Recall", "F1", "Chosen threshold"]
    colours = {metric: display.lines_["sports", metric].get_color() for metric in ("precision", "recall", "f1")}
    assert len(set(colours.values())) == 3
    assert all(display.lines_["tech", metric].get_color() == colour for metric, colour in colours.items())


def test_a_grid_labels_only_its_outer_axes():
    rng = np.random.default_rng(0)
    scores = rng.random((20, 5))
    display = ThresholdCurveDisplay.from_predictions(scores > 0.5, scores, n_cols=3)
    axes = display.axes_
    assert [axes[f"label {j}"].get_ylabel() for j in range(5)] == ["Score", "", "", "Score", ""]
    # "label 2" has no axes below it (the grid's sixth cell is empty), so it keeps its x axis label
    assert [axes[f"label {j}"].get_xlabel() for j in range(5)] == ["", "", "Threshold", "Threshold", "Threshold"]
    assert len(display.figure_.axes) == 5


@pytest.mark.parametrize(
    ("thresholds", "expected"),
    [
        ([0.25, 0.5, 0.75], {"sports": 0.25, "politics": 0.5, "tech": 0.75}),
        (np.array([0.25, 0.5, 0.75]), {"sports": 0.25, "politics": 0.5, "tech": 0.75}),
        ({"tech": 0.35}, {"tech": 0.35}),
        (0.4, {"sports": 0.4, "politics": 0.4, "tech": 0.4}),
        (None, {}),
    ],
)
def test_threshold_lines_sit_at_the_given_thresholds(task, thresholds, expected):
    _, scores, truth = task
    display = ThresholdCurveDisplay.from_predictions(truth, scores, labels=LABELS, thresholds=thresholds)
    assert display.thresholds == expected
    assert {label: line.get_xdata()[0] for label, line in display.threshold_lines_.items()} == expected
    for label, line in display.threshold_lines_.items():
        assert line.axes is display.axes_[label] and list(line.get_xdata()) == [expected[label]] * 2


def test_curves_and_drawn_lines_equal_scikit_learn_metrics_at_every_threshold(task):
    _, scores, truth = task
    display = ThresholdCurveDisplay.from_predictions(truth, scores)
    for j in range(3):
        label, observed = f"label {j}", display.curves[f"label {j}"]["threshold"]
        np.testing.assert_array_equal(observed, np.unique(scores[:, j]))
        midpoints = (observed[:-1] + observed[1:]) / 2
        for threshold in [0.0, *observed, *midpoints, 1.0]:
            predicted = (scores[:, j] >= threshold).astype(int)
            for metric, function in METRIC_FUNCTIONS.items():
                expected = pytest.approx(function(truth[:, j], predicted, zero_division=0), abs=1e-12)
                assert drawn_value(display.lines_[label, metric], threshold) == expected
                if threshold in observed:
                    assert display.curves[label][metric][np.searchsorted(observed, threshold)] == expected


@pytest.mark.filterwarnings("ignore:MultiLabelThresholdTuner")
def test_from_estimator_marks_a_fitted_tuners_thresholds_and_shows_what_it_maximised(task):
    texts, scores, truth = task
    tuner = MultiLabelThresholdTuner(FixedScores(scores).fit(texts), cv="prefit").fit(texts, truth)
    display = ThresholdCurveDisplay.from_estimator(tuner, texts, truth)
    classes = list(tuner.classes_)
    assert list(display.axes_) == classes
    for j, label in enumerate(classes):
        assert display.threshold_lines_[label].get_xdata()[0] == tuner.thresholds_[j]
        f1 = display.lines_[label, "f1"]
        assert drawn_value(f1, tuner.thresholds_[j]) == pytest.approx(tuner.best_scores_[j], abs=1e-12)
        assert display.curves[label]["f1"].max() == pytest.approx(tuner.best_scores_[j], abs=1e-12)


def test_from_estimator_marks_the_threshold_the_classifier_predicts_with(task):
    texts, scores, truth = task
    classifier = FixedScores(scores, threshold=[0.2, 0.4, 0.6]).fit(texts)
    marked = ThresholdCurveDisplay.from_estimator(classifier, texts, truth).thresholds
    assert marked == {"label0": 0.2, "label1": 0.4, "label2": 0.6}
    assert ThresholdCurveDisplay.from_estimator(classifier, texts, truth, thresholds=None).threshold_lines_ == {}
    label_lists = [[f"label{j}" for j in np.flatnonzero(row)] for row in truth]
    from_lists = ThresholdCurveDisplay.from_estimator(classifier, texts, label_lists, labels=["label2"])
    np.testing.assert_array_equal(from_lists.curves["label2"]["recall"], marked_curve(truth, scores, 2, "recall"))
    assert list(from_lists.axes_) == ["label2"] and from_lists.ax_ is from_lists.axes_["label2"]


def marked_curve(truth, scores, j, metric):
    return ThresholdCurveDisplay.from_predictions(truth[:, j], scores[:, j]).curves["label 0"][metric]


def test_plot_draws_a_subset_of_labels_in_the_order_asked(task):
    _, scores, truth = task
    display = ThresholdCurveDisplay.from_predictions(truth, scores, labels=LABELS, thresholds=[0.3, 0.5, 0.7])
    display.plot(labels=["tech", "sports"])
    assert list(display.axes_) == ["tech", "sports"]
    assert {label for label, _ in display.lines_} == {"tech", "sports"} and set(display.threshold_lines_) == {
        "tech", "sports"}
    display.plot(labels="politics", curve_kwargs={"linewidth": 3}, threshold_kwargs={"color": "red"})
    assert display.ax_ is display.axes_["politics"] and display.ax_.get_xlabel() == "Threshold"
    assert display.lines_["politics", "f1"].get_linewidth() == 3
    assert display.threshold_lines_["politics"].get_color() == "red"


def test_dataframes_name_the_labels_and_are_matched_by_column(task):
    _, scores, truth = task
    y_score = pd.DataFrame(scores, columns=LABELS)
    y_true = pd.DataFrame(truth, columns=LABELS)[["tech", "sports", "politics"]]  # another column order
    display = ThresholdCurveDisplay.from_predictions(y_true, y_score, thresholds={"politics": 0.5})
    assert list(display.curves) == LABELS
    reference = ThresholdCurveDisplay.from_predictions(truth, scores, labels=LABELS)
    for label in LABELS:
        for key, values in reference.curves[label].items():
            np.testing.assert_array_equal(display.curves[label][key], values)
    y_true_in_score_order = pd.DataFrame(truth, columns=LABELS)
    chosen = ThresholdCurveDisplay.from_predictions(y_true_in_score_order, scores, labels=["politics"])
    assert list(chosen.curves) == ["politics"]
    np.testing.assert_array_equal(chosen.curves["politics"]["f1"], reference.curves["politics"]["f1"])
    one = ThresholdCurveDisplay.from_predictions(truth[:, 1], pd.Series(scores[:, 1], name="politics"))
    assert list(one.curves) == ["politics"] and one.ax_.get_title() == "politics"


def test_rows_with_nan_scores_are_left_out(task):
    _, scores, truth = task
    with_missing = np.vstack([scores, np.full((2, 3), np.nan)])
    truth_missing = np.vstack([truth, [[1, 1, 1], [0, 0, 0]]])
    display = ThresholdCurveDisplay.from_predictions(truth_missing, with_missing)
    reference = ThresholdCurveDisplay.from_predictions(truth, scores)
    for label in reference.curves:
        for key, values in reference.curves[label].items():
            np.testing.assert_array_equal(display.curves[label][key], values)
    assert display.prevalence == reference.prevalence


def test_a_label_no_text_carries_is_drawn_at_zero_without_warnings(task):
    _, scores, truth = task
    truth = truth.copy()
    truth[:, 2] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        display = ThresholdCurveDisplay.from_predictions(truth, scores, labels=LABELS)
    assert display.prevalence["tech"] == 0 and display.axes_["tech"].get_title() == "tech: no positive texts"
    for metric in ("precision", "recall", "f1"):
        assert not display.curves["tech"][metric].any()
        assert not display.lines_["tech", metric].get_ydata().any()


def test_metrics_choose_the_curves(task):
    _, scores, truth = task
    display = ThresholdCurveDisplay.from_predictions(truth, scores, metrics=["f1"])
    assert {metric for _, metric in display.lines_} == {"f1"}
    assert set(display.curves["label 0"]) == {"threshold", "f1"}


def test_draws_into_the_axes_it_is_given(task):
    _, scores, truth = task
    figure, axes = plt.subplots(1, 2)
    display = ThresholdCurveDisplay.from_predictions(truth[:, :2], scores[:, :2], ax=axes)
    assert [display.axes_[f"label {j}"] for j in range(2)] == list(axes) and display.figure_ is figure
    assert axes[0].get_legend() is not None and not figure.legends
    _, single = plt.subplots()
    assert ThresholdCurveDisplay.from_predictions(truth[:, 0], scores[:, 0], ax=single).ax_ is single


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t, s: ThresholdCurveDisplay.from_predictions(t[:, :2], s), r"y_true has shape \(60, 2\) but y_score"),
        (lambda t, s: ThresholdCurveDisplay.from_predictions(t, s, labels=["a", "b"]), "labels has 2 names but"),
        (lambda t, s: ThresholdCurveDisplay.from_predictions(t, s, labels=["a", "a", "b"]), "must be unique"),
        (lambda t, s: ThresholdCurveDisplay.from_predictions(t, s, thresholds=[0.5, 0.5]), "thresholds has 2 values"),
        (lambda t, s: ThresholdCurveDisplay.from_predictions(t, s, thresholds={"art": 0.5}), "Unknown label 'art'"),
        (lambda t, s: ThresholdCurveDisplay.from_predictions(t, s, thresholds=[0.5, np.nan, 0.5]),
         r"thresholds\[1\] must be a finite number"),
        (lambda t, s: ThresholdCurveDisplay.from_predictions(t * 2, s), r"y_true\[\d+, \d\] is 2.0; true labels"),
        (lambda t, s: ThresholdCurveDisplay.from_predictions(t, s, metrics=["accuracy"]), "metrics must be one or"),
        (lambda t, s: ThresholdCurveDisplay.from_predictions(t, s * np.nan), "Every row has a NaN score"),
        (lambda t, s: ThresholdCurveDisplay.from_predictions(
            pd.DataFrame(t, columns=LABELS), pd.DataFrame(s, columns=["sports", "politics", "art"])),
         "y_true and y_score name different labels: 'tech' only in y_true, 'art' only in y_score"),
        (lambda t, s: ThresholdCurveDisplay.from_predictions(pd.DataFrame(t, columns=LABELS), s, labels=["art"]),
         r"Unknown label 'art'; the labels are 'sports', 'politics', 'tech'"),
        (lambda t, s: ThresholdCurveDisplay.from_predictions(t, s).plot(labels=["art", "label 0"]),
         "Unknown label 'art'"),
        (lambda t, s: ThresholdCurveDisplay.from_predictions(t, s).plot(labels=[]), "labels is empty"),
        (lambda t, s: ThresholdCurveDisplay.from_predictions(t, s, ax=plt.subplots()[1]),
         "3 labels need 3 axes, got 1"),
        (lambda t, s: ThresholdCurveDisplay.from_predictions(t, s, n_cols=0), "n_cols must be a positive integer"),
    ],
)
def test_clear_errors(task, call, message):
    _, scores, truth = task
    with pytest.raises(ValueError, match=message):
        call(truth, scores)


def test_from_estimator_errors(task):
    texts, scores, truth = task
    classifier = FixedScores(scores).fit(texts)
    with pytest.raises(ValueError, match=r"for multi-label classifiers.*ConfusionMatrixDisplay"):
        ThresholdCurveDisplay.from_estimator(classifier, texts, ["label0"] * 60)
    with pytest.raises(ValueError, match=r"y has shape \(60, 2\) but FixedScores.predict_proba\(X\) has shape"):
        ThresholdCurveDisplay.from_estimator(classifier, texts, truth[:, :2])
    with pytest.raises(ValueError, match="y has label 'art' that FixedScores does not predict"):
        ThresholdCurveDisplay.from_estimator(classifier, texts, [["art"]] + [["label0"]] * 59)
    with pytest.raises(ValueError, match="y and the classes name different labels"):
        ThresholdCurveDisplay.from_estimator(classifier, texts, pd.DataFrame(truth, columns=LABELS))
    with pytest.raises(ValueError, match="Unknown label 'sports'"):
        ThresholdCurveDisplay.from_estimator(classifier, texts, truth, labels=["sports"])
    classifier.multi_label_ = False  # as a ZeroShotClassifier fitted on one label per text
    with pytest.raises(ValueError, match="FixedScores was fitted as single-label"):
        ThresholdCurveDisplay.from_estimator(classifier, texts, truth)


def test_missing_matplotlib_names_the_extra(monkeypatch, task):
    _, scores, truth = task
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "gliclass-integrations\[plot\]"'):
        ThresholdCurveDisplay.from_predictions(truth, scores)


def test_exported_lazily_from_the_package():
    import gliclass_integrations

    assert gliclass_integrations.ThresholdCurveDisplay is ThresholdCurveDisplay
    assert "ThresholdCurveDisplay" in gliclass_integrations.__all__
