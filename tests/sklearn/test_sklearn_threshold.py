"""MultiLabelThresholdTuner: per-label thresholds beat a global one, out-of-fold scoring, one encode per text."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_texts
from sklearn.metrics import f1_score
from sklearn.model_selection import KFold

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
