"""Post-processing: from logits to scores and predictions, checked against hand-computed values."""

from __future__ import annotations

import math

import numpy as np

from gliclass_integrations.core._scores import nested_scores, predictions, sigmoid, softmax


def test_sigmoid_matches_the_formula_and_is_stable():
    logits = np.array([[-1000.0, -2.0, 0.0, 3.0, 1000.0]], dtype=np.float32)
    expected = [0.0, 1 / (1 + math.exp(2)), 0.5, 1 / (1 + math.exp(-3)), 1.0]
    np.testing.assert_allclose(sigmoid(logits)[0], expected, atol=1e-7)
    assert sigmoid(logits).dtype == np.float32


def test_softmax_is_per_row():
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1000.0]])
    exp = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(softmax(logits)[0], exp / exp.sum(), rtol=1e-6)
    np.testing.assert_allclose(softmax(logits)[1], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(softmax(np.array([0.5, 0.5])), [0.5, 0.5])


def test_multi_label_predictions_keep_label_order_and_include_the_threshold():
    scores = np.array([0.9, 0.5, 0.2, 0.7], dtype=np.float32)
    result = predictions(["a", "b", "c", "d"], scores, threshold=0.5, multi_label=True)
    assert [item["label"] for item in result] == ["a", "b", "d"]
    assert predictions(["a", "b", "c", "d"], scores, threshold=0.95, multi_label=True) == []


def test_single_label_prediction_is_the_first_maximum():
    result = predictions(["a", "b", "c"], np.array([0.2, 0.4, 0.4]), threshold=0.99, multi_label=False)
    assert result == [{"label": "b", "score": 0.4}]


def test_nested_scores_hold_every_label():
    tree = {"sentiment": ["positive", "negative"], "topic": "sports"}
    flat = ["sentiment.positive", "sentiment.negative", "topic.sports"]
    assert nested_scores(tree, flat, np.array([0.25, 0.5, 0.75])) == {
        "sentiment": {"positive": 0.25, "negative": 0.5}, "topic": {"sports": 0.75},
    }
