"""The pandas accessors: the core's scores, row for row, under the caller's index and column names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tolerances import FLOAT32

import gliclass_integrations.pandas  # noqa: F401  (registers .gliclass)
from gliclass_integrations.core import shared_logit_cache, shared_model

LABELS = ["positive", "negative", "politics"]
TEXTS = ["i love this product", "the election results were announced today", "", "stocks fell sharply",
         "das ist ein sehr gutes buch"]


@pytest.fixture
def column(tiny_checkpoint):
    return pd.Series(TEXTS, index=[f"r{i}" for i in range(5)], name="review")


@pytest.fixture
def model(tiny_checkpoint):
    return str(tiny_checkpoint)


@pytest.mark.parametrize(
    "index",
    [
        pd.Index(["r0", "r1", "r2", "r3", "r4"]),
        pd.Index([7, 7, 3, 3, 1]),  # duplicated
        pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1), ("b", 2), ("c", 1)], names=["shop", "n"]),
    ],
    ids=["labels", "duplicated", "multiindex"],
)
def test_scores_are_the_cores_row_for_row_under_the_same_index(tiny_model, model, index):
    column = pd.Series(TEXTS, index=index)
    scores = column.gliclass.scores(LABELS, model=model)
    assert scores.index.equals(index) and scores.columns.tolist() == LABELS
    np.testing.assert_allclose(scores.to_numpy(), tiny_model.predict_proba(TEXTS, LABELS), atol=FLOAT32, rtol=0)
    single = column.gliclass.scores(LABELS, model=model, multi_label=False, prefix="p_")
    assert single.columns.tolist() == ["p_positive", "p_negative", "p_politics"]
    np.testing.assert_allclose(single.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("dtype", ["object", "string", "category"])
def test_missing_texts_raise_with_their_index_label_or_get_nan(column, model, dtype):
    values = pd.Series([TEXTS[0], None, TEXTS[1], np.nan, ""], index=column.index, name="review").astype(dtype)
    with pytest.raises(ValueError, match=r"^'review' at index 'r1' is missing .* \(and 1 more rows\)"):
        values.gliclass.scores(LABELS, model=model)
    scores = values.gliclass.scores(LABELS, model=model, missing="skip")
    assert scores.index.equals(column.index) and scores.loc[["r1", "r3"]].isna().all().all()
    present = values.dropna().astype(object)
    expected = present.gliclass.scores(LABELS, model=model)
    np.testing.assert_allclose(scores.loc[present.index].to_numpy(), expected.to_numpy(), atol=FLOAT32, rtol=0)
    predicted = values.gliclass.predict(LABELS, model=model, missing="skip")
    assert predicted.loc["r1"] is None and isinstance(predicted.loc["r4"], list)  # an empty string is a text


def test_predictions_follow_the_thresholds_or_the_best_label(column, model):
    scores = column.gliclass.scores(LABELS, model=model)
    cuts = {"positive": 0.2, "negative": 0.6, "politics": 0.4}
    predicted = column.gliclass.predict(LABELS, model=model, threshold=cuts)
    expected = [[label for label in LABELS if scores.loc[key, label] >= cuts[label]] for key in column.index]
    assert predicted.name == "predicted" and predicted.tolist() == expected and predicted.index.equals(column.index)
    best = column.gliclass.predict(LABELS, model=model, multi_label=False)
    softmax = column.gliclass.scores(LABELS, model=model, multi_label=False)
    assert best.tolist() == softmax.idxmax(axis=1).tolist()
    with pytest.raises(ValueError, match=r"missing: \['politics'\]"):
        column.gliclass.predict(LABELS, model=model, threshold={"positive": 0.2, "negative": 0.6})


def test_top_k_is_a_long_table_best_first(column, model):
    top = column.gliclass.top_k(LABELS, 2, model=model)
    scores = column.gliclass.scores(LABELS, model=model)
    assert top.columns.tolist() == ["rank", "label", "score"] and len(top) == 10
    assert top.index.tolist() == [key for key in column.index for _ in range(2)]
    for key, rows in top.groupby(level=0):
        ordered = scores.loc[key].sort_values(ascending=False)
        assert rows["label"].tolist() == ordered.index[:2].tolist() and rows["rank"].tolist() == [1, 2]
        np.testing.assert_allclose(rows["score"], ordered.iloc[:2])
    assert len(column.gliclass.top_k(LABELS, 10, model=model)) == 15  # k larger than the label count


def test_label_groups_give_multiindex_columns(column, model):
    tree = {"sentiment": ["positive", "negative"], "topic": {"news": ["politics"]}}
    scores = column.gliclass.scores(tree, model=model)
    assert scores.columns.tolist() == [("sentiment", "positive", ""), ("sentiment", "negative", ""),
                                       ("topic", "news", "politics")]
    flat = column.gliclass.scores(["sentiment.positive", "sentiment.negative", "topic.news.politics"], model=model)
    np.testing.assert_array_equal(scores.to_numpy(), flat.to_numpy())
    assert scores["sentiment"].columns.tolist() == [("positive", ""), ("negative", "")]


def test_classify_adds_scores_and_predictions_beside_the_frame(column, model):
    frame = pd.DataFrame({"body": column, "stars": [5, 4, 3, 2, 1]})
    out = frame.gliclass.classify("body", LABELS, model=model, prefix="score_")
    assert out.columns.tolist() == ["body", "stars", "score_positive", "score_negative", "score_politics", "predicted"]
    assert out.index.equals(frame.index) and frame.columns.tolist() == ["body", "stars"]  # the frame is unchanged
    np.testing.assert_array_equal(out[["score_positive", "score_negative", "score_politics"]].to_numpy(),
                                  column.gliclass.scores(LABELS, model=model).to_numpy())
    with pytest.raises(ValueError, match=r"would overwrite the column.*'stars'"):
        frame.gliclass.classify("body", ["stars", "positive"], model=model)
    with pytest.raises(KeyError, match="no column 'text'"):
        frame.gliclass.classify(labels=LABELS, model=model)


def test_scores_then_predict_encode_each_text_once(column, tiny_checkpoint):
    shared_logit_cache().clear()
    network = shared_model(tiny_checkpoint).network
    rows: list[int] = []
    handle = network.register_forward_pre_hook(lambda _module, args: rows.append(args[0].input_ids.shape[0]))
    try:
        column.gliclass.scores(LABELS, model=str(tiny_checkpoint))
        column.gliclass.predict(LABELS, model=str(tiny_checkpoint), threshold=0.3)
        column.gliclass.top_k(LABELS, 1, model=str(tiny_checkpoint))
    finally:
        handle.remove()
    assert sum(rows) == len(TEXTS)


def test_a_loaded_model_can_be_passed(column, tiny_model):
    scores = column.gliclass.scores(LABELS, model=tiny_model, cache=False)
    np.testing.assert_allclose(scores.to_numpy(), tiny_model.predict_proba(TEXTS, LABELS), atol=FLOAT32, rtol=0)
    with pytest.raises(TypeError, match="model must be a hub id, a checkpoint path or a GLiClass"):
        column.gliclass.scores(LABELS, model=3)
