"""scikit-learn's own tools around the estimator: cross_val_predict, cross_validate, stacking, threshold tuning.

Several of them label-encode ``y`` before the estimator sees it (``cross_val_predict`` for the
probability methods, ``StackingClassifier`` always), so these tests also pin the rule for integer
codes: code k is the k-th label of ``sorted(labels)``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import make_texts
from sklearn.base import clone
from sklearn.ensemble import StackingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, TunedThresholdClassifierCV, cross_val_predict, cross_validate
from sklearn.multioutput import MultiOutputClassifier
from tolerances import FLOAT32

from gliclass_integrations import ZeroShotClassifier

TASKS = {
    "binary": (["negative", "positive"], lambda i: ["positive", "negative"][i % 2]),
    "multiclass": (["politics", "sports", "tech"], lambda i: ["sports", "politics", "tech", "sports"][i % 4]),
}
METHODS = ["predict", "predict_proba", "decision_function", "predict_log_proba"]


def task(kind, n=18):
    labels, label_of = TASKS[kind]
    return make_texts(n, seed=20), labels, [label_of(i) for i in range(n)]


@pytest.fixture
def make(tiny_checkpoint):
    def build(**params):
        return ZeroShotClassifier(str(tiny_checkpoint), **params)

    return build


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", sorted(TASKS))
def test_cross_val_predict_equals_each_folds_own_predictions(make, kind, method):
    texts, labels, y = task(kind)
    clf = make(labels=labels, n_examples=2, random_state=0)  # few-shot: each fold's model differs
    folds = KFold(3)
    found = cross_val_predict(clf, texts, y, cv=folds, method=method)
    expected = [None] * len(texts)
    for train, test in folds.split(texts):
        fold = clone(clf).fit([texts[i] for i in train], [y[i] for i in train])
        for i, row in zip(test, getattr(fold, method)([texts[i] for i in test])):
            expected[i] = row
    if method == "predict":
        assert found.tolist() == list(expected) and set(found) <= set(labels)
    else:
        np.testing.assert_allclose(found, np.array(expected), atol=FLOAT32 if method == "predict_proba" else 4e-4)
    if method == "predict_proba":
        np.testing.assert_allclose(found.sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "decision_function", "predict_log_proba"])
def test_cross_val_predict_multi_label(make, method):
    texts = make_texts(12, seed=21)
    Y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]] * 3)
    clf = make(labels=["sports", "politics", "tech"], multi_label=True, threshold=0.4)
    found = cross_val_predict(clf, texts, Y, cv=3, method=method)
    expected = getattr(clone(clf).fit(texts, Y), method)(texts)  # zero-shot: every fold scores the same way
    assert found.shape == (12, 3)
    np.testing.assert_allclose(found, expected, atol=FLOAT32 if method != "decision_function" else 4e-4)


def test_integer_codes_are_positions_in_the_sorted_labels(make):
    texts, labels, y = task("multiclass", n=9)
    codes = [sorted(labels).index(label) for label in y]
    named, coded = make(labels=labels).fit(texts, y), make(labels=labels).fit(texts, codes)
    assert coded.classes_.tolist() == [0, 1, 2] and named.classes_.tolist() == sorted(labels)
    np.testing.assert_array_equal(coded.predict_proba(texts), named.predict_proba(texts))
    assert coded.predict(texts).tolist() == [sorted(labels).index(label) for label in named.predict(texts)]
    assert coded.score(texts, codes) == named.score(texts, y)
    few_shot = make(labels=labels, n_examples=3, random_state=0)
    assert clone(few_shot).fit(texts, codes).examples_ == clone(few_shot).fit(texts, y).examples_
    with pytest.warns(UserWarning, match=r"read as positions in sorted\(labels\): 0 = 'politics', 1 = 'sports'"):
        make(labels=["tech", "sports", "politics"]).fit(texts, codes)


def test_cross_validate_returns_fitted_estimators_that_scored_their_folds(make):
    texts, labels, y = task("multiclass", n=12)
    folds = KFold(3)
    results = cross_validate(make(labels=labels, n_examples=2, random_state=1), texts, y, cv=folds,
                             return_estimator=True)
    for estimator, (train, test), score in zip(results["estimator"], folds.split(texts), results["test_score"]):
        assert estimator.classes_.tolist() == sorted(labels)
        assert {example["text"] for example in estimator.examples_} <= {texts[i] for i in train}
        assert estimator.score([texts[i] for i in test], [y[i] for i in test]) == score


@pytest.mark.parametrize("kind", sorted(TASKS))
def test_stacking_fits_on_out_of_fold_scores_and_predicts_classes(make, kind):
    texts, labels, y = task(kind, n=24)
    zero_shot = make(labels=labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sorted labels: no warning about codes
        stack = StackingClassifier([("zs", zero_shot)], LogisticRegression(), cv=3).fit(texts, y)
    base = stack.named_estimators_["zs"]
    assert base.classes_.tolist() == list(range(len(labels)))  # StackingClassifier hands it integer codes
    scores = make(labels=labels).fit(texts).predict_proba(texts)
    expected = scores[:, 1:] if kind == "binary" else scores  # binary: sklearn keeps one column
    np.testing.assert_allclose(stack.transform(texts), expected, atol=FLOAT32)
    assert set(stack.predict(texts)) <= set(labels) and stack.classes_.tolist() == sorted(labels)


def test_stacking_a_multi_label_task(make):
    texts = make_texts(24, seed=22)
    Y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]] * 6)
    zero_shot = make(labels=["sports", "politics", "tech"], multi_label=True)
    stack = StackingClassifier([("zs", zero_shot)], MultiOutputClassifier(LogisticRegression()), cv=3)
    assert stack.fit(texts, Y).predict(texts).shape == (24, 3)


def test_stacking_without_labels_explains_what_is_missing(make):
    texts, _, y = task("multiclass", n=12)
    with pytest.raises(ValueError, match=r"integer class codes .* pass labels="):
        StackingClassifier([("zs", make())], LogisticRegression(), cv=3).fit(texts, y)


def test_tuned_threshold_classifier_on_a_binary_task(make):
    texts, labels, y = task("binary", n=24)
    tuned = TunedThresholdClassifierCV(make(labels=labels), cv=3, scoring="balanced_accuracy").fit(texts, y)
    assert 0 < tuned.best_threshold_ < 1
    positive = make(labels=labels).fit(texts).predict_proba(texts)[:, 1]
    expected = np.where(positive >= tuned.best_threshold_, "positive", "negative")
    assert tuned.predict(texts).tolist() == expected.tolist()


def test_log_probabilities_match_the_probabilities(make):
    texts = make_texts(6, seed=23)
    for multi_label in (False, True):
        clf = make(labels=["sports", "politics", "tech"], multi_label=multi_label).fit(texts)
        np.testing.assert_allclose(np.exp(clf.predict_log_proba(texts)), clf.predict_proba(texts), rtol=1e-12)
