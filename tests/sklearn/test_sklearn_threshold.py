"""MultiLabelThresholdTuner: per-label thresholds beat a global one, out-of-fold scoring, one encode per text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import make_texts
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    fbeta_score,
    get_scorer,
    hamming_loss,
    jaccard_score,
    make_scorer,
    matthews_corrcoef,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from tolerances import FLOAT32

from gliclass_integrations import MultiLabelThresholdTuner, ZeroShotClassifier

LABELS = ["sports", "politics", "tech"]


@pytest.fixture
def base(tiny_checkpoint):
    return ZeroShotClassifier(str(tiny_checkpoint), labels=LABELS, multi_label=True)


def synthetic_task(base, cuts, n_train=90, n_test=60):
    """Labels whose true thresholds on the model's own scores differ: label j is on iff score_j >= cuts[j]."""
    train, test = make_texts(n_train, seed=11), make_texts(n_test, seed=12)
    fitted = base.fit(train)
    truth = [(fitted.predict_proba(texts) >= cuts).astype(int) for texts in (train, test)]
    return train, test, truth[0], truth[1]


def macro_f1(truth, predicted):
    return f1_score(truth, predicted, average="macro", zero_division=0)


def test_per_label_thresholds_beat_the_best_global_threshold(base):
    scores = base.fit(["x"]).predict_proba(make_texts(90, seed=11))
    cuts = np.array([np.quantile(scores[:, 0], 0.2), np.quantile(scores[:, 1], 0.8), np.quantile(scores[:, 2], 0.5)])
    assert np.ptp(cuts) > 0.1  # the best thresholds really differ per label
    train, test, y_train, y_test = synthetic_task(base, cuts)
    tuner = MultiLabelThresholdTuner(base, cv=KFold(3)).fit(train, y_train)
    tuned = macro_f1(y_test, tuner.predict(test))
    test_scores = tuner.predict_proba(test)
    best_global = max(macro_f1(y_test, (test_scores >= t).astype(int)) for t in np.linspace(0, 1, 201))
    assert tuned > best_global + 0.05, (tuned, best_global)
    assert tuned > 0.9
    np.testing.assert_allclose(tuner.thresholds_, cuts, atol=0.1)
    assert tuner.estimator_.threshold == tuner.thresholds_.tolist()
    assert tuner.classes_.tolist() == LABELS and np.all(tuner.best_scores_ > 0.9)


def test_each_text_is_encoded_once_across_folds_and_candidates(base, encoded):
    texts = make_texts(30, seed=13)
    y = [[LABELS[i % 3]] for i in range(30)]
    MultiLabelThresholdTuner(base, cv=3, thresholds=50).fit(texts, y)
    assert sum(encoded) == 30


@pytest.mark.filterwarnings("ignore:MultiLabelThresholdTuner")  # random scores: some thresholds are degenerate
def test_few_shot_folds_never_see_the_text_they_score(base, monkeypatch):
    texts = make_texts(12, seed=14)
    y = [[LABELS[i % 3]] for i in range(12)]
    seen = []
    original = ZeroShotClassifier.predict_proba

    def recording(self, X):
        seen.append((set(X), {example["text"] for example in self.examples_}))
        return original(self, X)

    monkeypatch.setattr(ZeroShotClassifier, "predict_proba", recording)
    MultiLabelThresholdTuner(base.set_params(n_examples=3, random_state=0), cv=3).fit(texts, y)
    assert len(seen) == 3 and all(scored and not scored & examples for scored, examples in seen)


@pytest.mark.filterwarnings("ignore:MultiLabelThresholdTuner")
def test_prefit_tunes_on_the_data_given(base):
    texts = make_texts(20, seed=15)
    y = [[LABELS[i % 3]] for i in range(20)]
    fitted = base.fit(texts[:5])
    tuner = MultiLabelThresholdTuner(fitted, cv="prefit", thresholds=[0.25, 0.5, 0.75]).fit(texts, y)
    assert set(tuner.thresholds_) <= {0.25, 0.5, 0.75}
    assert fitted.threshold == 0.5 and tuner.estimator_.examples_ == fitted.examples_  # a copy was tuned
    scores = fitted.predict_proba(texts)
    truth = np.array([[int(LABELS[i % 3] == label) for label in LABELS] for i in range(20)])
    for j in range(3):
        best = max(f1_score(truth[:, j], (scores[:, j] >= t).astype(int), zero_division=0) for t in (0.25, 0.5, 0.75))
        assert tuner.best_scores_[j] == pytest.approx(best)


def test_callable_scoring_is_maximised(base):
    texts = make_texts(15, seed=16)
    y = [[LABELS[i % 3]] for i in range(15)]
    predicted_positive_rate = lambda truth, predicted: -abs(predicted.mean() - 0.5)  # noqa: E731
    tuner = MultiLabelThresholdTuner(base, cv="prefit", scoring=predicted_positive_rate)
    tuner.set_params(estimator=base.fit(texts)).fit(texts, y)
    rates = tuner.predict(texts).mean(axis=0)
    assert np.all(np.abs(rates - 0.5) <= 1 / 15 + 1e-9)


def test_a_single_label_estimator_is_refused(tiny_checkpoint):
    single = ZeroShotClassifier(str(tiny_checkpoint), labels=LABELS)
    with pytest.raises(ValueError, match="needs a multi-label classifier"):
        MultiLabelThresholdTuner(single, cv=2).fit(["a", "b"], ["sports", "tech"])


# -- the search, scoring forms and what the tuner stores --------------------------------------------------


class FixedScores(ClassifierMixin, BaseEstimator):
    """A multi-label classifier whose scores are given: the text "i" gets row i of ``scores``."""

    def __init__(self, scores=None, threshold=0.5):
        self.scores = scores
        self.threshold = threshold

    def fit(self, X, y=None):
        self.classes_ = np.array([f"label{j}" for j in range(self.scores.shape[1])], dtype=object)
        return self

    def predict_proba(self, X):
        return self.scores[[int(x) for x in X]]

    def predict(self, X):
        return (self.predict_proba(X) >= np.asarray(self.threshold)).astype(int)


def random_task(seed, n=60, n_labels=3, decimals=1):
    """Scores rounded to ``decimals`` (many equal scores, so many equal metric values) and noisy labels."""
    rng = np.random.default_rng(seed)
    scores = np.round(rng.random((n, n_labels)), decimals)
    truth = (scores + rng.normal(0, 0.3, scores.shape) > 0.5).astype(int)
    truth[:, -1] = rng.random(n) < 0.1  # a rare label
    return [str(i) for i in range(n)], scores, truth


def brute_force(truth, scores, candidates, metric):
    """The first (lowest) candidate with the highest metric, one metric call per candidate."""
    values = [metric(truth, (scores >= t).astype(int)) for t in candidates]
    best = int(np.argmax(values))
    return candidates[best], values[best]


def midpoints(scores):
    distinct = np.unique(scores)
    return np.concatenate([[0.0], (distinct[:-1] + distinct[1:]) / 2, [1.0]])


METRICS = {
    "f1": lambda t, p: f1_score(t, p, zero_division=0),
    "precision": lambda t, p: precision_score(t, p, zero_division=0),
    "recall": lambda t, p: recall_score(t, p, zero_division=0),
    "jaccard": lambda t, p: jaccard_score(t, p, zero_division=0),
    "accuracy": accuracy_score,
    "balanced_accuracy": balanced_accuracy_score,
    "matthews_corrcoef": matthews_corrcoef,
}


@pytest.mark.filterwarnings("ignore")  # degenerate thresholds and sklearn's own warnings on ill-defined metrics
@pytest.mark.parametrize("name", sorted(METRICS))
def test_the_sorted_pass_equals_a_brute_force_search(name):
    for seed in range(8):
        texts, scores, truth = random_task(seed, n=40, decimals=1 + seed % 3)
        for thresholds in (None, 7, [0.05, 0.3, 0.3, 0.5, 0.95]):
            tuner = MultiLabelThresholdTuner(FixedScores(scores).fit(texts), scoring=name, cv="prefit",
                                             thresholds=thresholds).fit(texts, truth)
            for j in range(scores.shape[1]):
                if thresholds is None:
                    candidates = midpoints(scores[:, j])
                elif isinstance(thresholds, int):
                    candidates = np.linspace(0, 1, thresholds + 2)[1:-1]
                else:
                    candidates = np.sort(thresholds)
                expected = brute_force(truth[:, j], scores[:, j], candidates, METRICS[name])
                assert (tuner.thresholds_[j], tuner.best_scores_[j]) == expected, (name, seed, thresholds, j)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(
    ("forms", "callable_metric"),
    [
        (["f1", "f1_macro", "f1_weighted", make_scorer(f1_score), get_scorer("f1_macro")], METRICS["f1"]),
        (["precision", make_scorer(precision_score, zero_division=0)], METRICS["precision"]),
        (["recall_weighted", make_scorer(recall_score, average="macro")], METRICS["recall"]),
        ([make_scorer(fbeta_score, beta=2)], lambda t, p: fbeta_score(t, p, beta=2, zero_division=0)),
        (["balanced_accuracy", make_scorer(balanced_accuracy_score)], METRICS["balanced_accuracy"]),
        ([make_scorer(hamming_loss, greater_is_better=False)], lambda t, p: -hamming_loss(t, p)),
        ([make_scorer(precision_score, pos_label=0, zero_division=0)],
         lambda t, p: precision_score(t, p, pos_label=0, zero_division=0)),
    ],
)
def test_every_scoring_form_gives_the_thresholds_of_the_equivalent_callable(forms, callable_metric):
    texts, scores, truth = random_task(3, n=80, n_labels=4, decimals=2)
    fitted = FixedScores(scores).fit(texts)
    expected = MultiLabelThresholdTuner(fitted, scoring=callable_metric, cv="prefit").fit(texts, truth)
    for form in forms:
        tuner = MultiLabelThresholdTuner(fitted, scoring=form, cv="prefit").fit(texts, truth)
        np.testing.assert_array_equal(tuner.thresholds_, expected.thresholds_, err_msg=str(form))
        np.testing.assert_allclose(tuner.best_scores_, expected.best_scores_, rtol=0, atol=1e-12, err_msg=str(form))


@pytest.mark.parametrize(
    ("scoring", "message"),
    [
        ("f1_micro", "pools all labels' predictions"),
        ("precision_samples", "pools all labels' predictions"),
        (make_scorer(f1_score, average="micro"), "pools all labels' predictions"),
        ("roc_auc", "does not depend on the threshold"),
        ("neg_log_loss", "does not depend on the threshold"),
        (make_scorer(roc_auc_score, response_method="predict_proba"), "does not depend on the threshold"),
        ("f2", "not a metric the tuner knows"),
    ],
)
def test_scoring_that_cannot_be_tuned_per_label_is_refused(scoring, message):
    texts, scores, truth = random_task(0)
    with pytest.raises(ValueError, match=message):
        MultiLabelThresholdTuner(FixedScores(scores).fit(texts), scoring=scoring, cv="prefit").fit(texts, truth)


@pytest.mark.filterwarnings("ignore:MultiLabelThresholdTuner")
def test_cv_results_and_out_of_fold_scores_are_what_the_choice_was_made_on():
    texts, scores, truth = random_task(5, n=40, decimals=2)
    tuner = MultiLabelThresholdTuner(FixedScores(scores), cv=KFold(4)).fit(texts, truth)
    np.testing.assert_array_equal(tuner.oof_scores_, scores)  # fixed scores: every fold gives the same rows
    results = pd.DataFrame(tuner.cv_results_)
    assert list(results.columns) == ["label", "threshold", "score"]
    for j, label in enumerate(tuner.classes_):
        rows = results[results.label == label]
        np.testing.assert_array_equal(rows.threshold, midpoints(scores[:, j]))
        expected = [METRICS["f1"](truth[:, j], (scores[:, j] >= t).astype(int)) for t in rows.threshold]
        np.testing.assert_array_equal(rows.score, expected)
        assert rows.score.max() == tuner.best_scores_[j]
        assert rows.threshold[rows.score == rows.score.max()].min() == tuner.thresholds_[j]


def test_degenerate_thresholds_are_reported():
    texts, scores, truth = random_task(1, n=30)
    truth[:, 1] = 0  # no text carries label1
    scores[:, 2] = 0.3  # label2 scores are all equal: nothing separates its texts
    with pytest.warns(UserWarning, match=r"no text in y carries 'label1'.*predicts 'label2' \(threshold 0\) for every"):
        MultiLabelThresholdTuner(FixedScores(scores).fit(texts), cv="prefit").fit(texts, truth)


def test_an_estimator_without_a_threshold_is_refused():
    with pytest.raises(TypeError, match=r"needs a classifier with a 'threshold' parameter.*LogisticRegression"):
        MultiLabelThresholdTuner(LogisticRegression(), cv=2).fit(["a", "b"], [["x"], ["y"]])


# -- inside a Pipeline -------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:MultiLabelThresholdTuner")
def test_the_tuner_reaches_the_zero_shot_step_of_a_pipeline(tiny_checkpoint):
    texts = make_texts(24, seed=17)
    y = [[LABELS[i % 3]] + ([LABELS[(i + 1) % 3]] if i % 4 == 0 else []) for i in range(24)]
    upper = FunctionTransformer(lambda X: [text.upper() for text in X])
    pipeline = Pipeline([("upper", upper), ("zs", ZeroShotClassifier(str(tiny_checkpoint), multi_label=True))])
    tuner = MultiLabelThresholdTuner(pipeline, cv=KFold(3)).fit(texts, y)
    assert tuner.estimator_.named_steps["zs"].threshold == tuner.thresholds_.tolist()
    assert tuner.classes_.tolist() == sorted(LABELS)  # no labels given: the classes come from y
    # the out-of-fold scores are those of each fold's clone, fitted on the other folds, on upper-cased texts
    direct = ZeroShotClassifier(str(tiny_checkpoint), labels=sorted(LABELS), multi_label=True).fit(["x"])
    np.testing.assert_allclose(tuner.oof_scores_, direct.predict_proba([t.upper() for t in texts]), atol=FLOAT32)
    expected = (tuner.predict_proba(texts) >= tuner.thresholds_).astype(int)
    np.testing.assert_array_equal(tuner.predict(texts), expected)
    single = Pipeline([("upper", upper), ("zs", ZeroShotClassifier(str(tiny_checkpoint), labels=LABELS))])
    with pytest.raises(ValueError, match="ZeroShotClassifier was fitted as single-label"):
        MultiLabelThresholdTuner(single, cv=2).fit(texts[:4], ["sports", "tech", "sports", "politics"])
