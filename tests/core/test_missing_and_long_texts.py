"""Missing texts (an error naming the row, or NaN with missing="skip") and long texts scored in windows."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from tolerances import FLOAT64

from gliclass_integrations.core import LogitCache
from gliclass_integrations.core._assembly import MAX_OVERLAP, text_windows
from gliclass_integrations.core._requests import build_request

LABELS = ["positive", "negative", "sports"]
TEXTS = ["i love this product", "our team won the match", "stocks fell sharply after the report"]


# -- missing texts --------------------------------------------------------------------------------------


@pytest.mark.parametrize("missing_value", [None, math.nan, np.float32("nan"), pd.NA, pd.NaT])
def test_a_missing_text_is_an_error_naming_the_first_one_and_counting_the_rest(tiny_model, missing_value):
    texts = ["fine", missing_value, "ok", None]
    with pytest.raises(ValueError, match=r"^texts\[1\] is missing \(.*\) \(and 1 more rows\)\. Pass missing='skip'"):
        tiny_model.predict_proba(texts, LABELS)


def test_the_callers_names_for_rows_appear_in_the_error(tiny_model):
    series = pd.Series(["fine", None], index=["a7", "b9"])
    with pytest.raises(ValueError, match=r"^row 'b9' is missing"):
        tiny_model.logits(series, LABELS, row_names=[f"row {label!r}" for label in series.index])
    with pytest.raises(ValueError, match=r"^reviews\[1\] is missing"):
        tiny_model.logits(series, LABELS, row_names="reviews")


def test_a_stream_names_a_missing_text_by_its_position_in_the_whole_stream(tiny_model):
    stream = tiny_model.iter_logits(iter(["a", "b", "c", "d", "e", None, "g"]), LABELS, chunk_size=2)
    with pytest.raises(ValueError, match=r"^texts\[5\] is missing"):
        list(stream)


@pytest.mark.parametrize("value", [3, b"bytes", ["a list"]])
def test_other_non_strings_are_always_errors(tiny_model, value):
    with pytest.raises(TypeError, match=r"texts\[1\] is \w+ .*; expected str"):
        tiny_model.predict_proba(["fine", value], LABELS, missing="skip")


def test_skipped_rows_get_nan_and_the_others_their_own_scores(load_model):
    model = load_model("deberta", "multilang", dtype="float64")
    texts = [TEXTS[0], None, TEXTS[1], math.nan, TEXTS[2], ""]
    scores = model.predict_proba(texts, LABELS, missing="skip")
    assert scores.shape == (6, 3)
    assert np.isnan(scores[[1, 3]]).all() and not np.isnan(scores[[0, 2, 4, 5]]).any()
    expected = model.predict_proba([TEXTS[0], TEXTS[1], TEXTS[2], ""], LABELS)  # an empty string is a text
    np.testing.assert_allclose(scores[[0, 2, 4, 5]], expected, atol=FLOAT64, rtol=0)
    assert model.classify(texts, LABELS, missing="skip")[1] is None
    per_text = model.logits(["fine", None], [["positive"], ["negative", "sports"]], missing="skip")
    assert per_text[1].shape == (2,) and np.isnan(per_text[1]).all()
    streamed = np.stack(list(model.iter_predict_proba(iter(texts), LABELS, chunk_size=4, missing="skip")))
    np.testing.assert_allclose(streamed, scores, atol=FLOAT64, rtol=0)
    cached = model.predict_proba(texts, LABELS, missing="skip", cache=LogitCache())
    np.testing.assert_allclose(cached, scores, atol=FLOAT64, rtol=0)


def test_missing_must_be_raise_or_skip(tiny_model):
    with pytest.raises(ValueError, match="missing must be one of 'raise', 'skip', got 'drop'"):
        tiny_model.predict_proba(["a"], LABELS, missing="drop")


# -- long texts ---------------------------------------------------------------------------------------------

WORDS = [
    "the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "i", "love", "this", "product", "and",
    "would", "buy", "it", "again",
]


def long_text(n_words: int, seed: int = 0) -> str:
    """Words in a seeded random order, so that every window of the text reads differently."""
    rng = np.random.default_rng(seed)
    return " ".join(rng.choice(WORDS, size=n_words))


def window_size(model, labels, **options) -> int:
    """Text tokens one sequence can hold beside everything else (every WORD is one token here)."""
    (row,) = model.encode(build_request(["fox"], labels, **options))
    return model.max_length - (len(row.ids) - 1)


@pytest.mark.parametrize("head", ["multilang", "simple-first"])  # the text after the labels, and before them
@pytest.mark.parametrize("aggregation", ["max", "mean"])
def test_a_chunked_text_scores_as_its_windows_combined(load_model, head, aggregation):
    model = load_model("bert", head, dtype="float64", max_length=64)  # WordPiece: each of WORDS is one token
    options = {"prompt": "what is this about", "label_descriptions": {"sports": "games and matches"}}
    size = window_size(model, LABELS, **options)
    text = long_text(3 * size + 7)
    windows = text_windows(3 * size + 7, size)
    assert len(windows) > 3 and windows[-1][1] == 3 * size + 7
    assert all(b - a == size for a, b in windows)
    assert windows[1][0] == size - min(MAX_OVERLAP, size // 4)  # neighbours overlap by a quarter of a window
    words = text.split()
    per_window = model.logits([" ".join(words[a:b]) for a, b in windows], LABELS, **options)
    expected = per_window.max(axis=0) if aggregation == "max" else per_window.mean(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing was shortened
        found = model.logits([text], LABELS, long_texts="chunk", chunk_aggregation=aggregation, **options)
    np.testing.assert_allclose(found[0], expected, atol=FLOAT64, rtol=0)


def test_texts_that_fit_score_the_same_either_way(load_model):
    model = load_model("bert", "multilang", dtype="float64", max_length=64)
    texts = [TEXTS[0], long_text(200), TEXTS[2]]
    chunked = model.logits(texts, LABELS, long_texts="chunk")
    with pytest.warns(UserWarning, match=r"1 of 3 texts were shortened .*texts\[1\].*long_texts='chunk'"):
        truncated = model.logits(texts, LABELS)
    np.testing.assert_allclose(chunked[[0, 2]], truncated[[0, 2]], atol=FLOAT64, rtol=0)
    assert np.abs(chunked[1] - truncated[1]).max() > 1e-6  # the long one is not scored on its first window only


def test_chunking_keeps_few_shot_examples_unless_they_leave_too_little_room(load_model):
    model = load_model("bert", "multilang", dtype="float64", max_length=128)
    examples = [{"text": long_text(20), "labels": ["positive"]}, {"text": long_text(45), "labels": ["sports"]}]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.logits([long_text(300)], LABELS, examples=examples[:1], long_texts="chunk")
        model.logits([long_text(300)], LABELS, examples=examples, long_texts="chunk")
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "1 texts lost few-shot examples (texts[0] first)" in messages[0]


def test_the_cache_keeps_chunked_and_shortened_logits_apart(load_model):
    model = load_model("bert", "multilang", dtype="float64", max_length=64)
    cache = LogitCache()
    with pytest.warns(UserWarning):
        truncated = model.logits([long_text(200)], LABELS, cache=cache)
    chunked = model.logits([long_text(200)], LABELS, cache=cache, long_texts="chunk")
    np.testing.assert_array_equal(chunked, model.logits([long_text(200)], LABELS, long_texts="chunk"))
    assert np.abs(chunked - truncated).max() > 1e-6 and cache.misses == 2


def test_long_text_settings_are_checked(tiny_model):
    with pytest.raises(ValueError, match="long_texts must be one of 'truncate', 'chunk'"):
        tiny_model.logits(["a"], LABELS, long_texts="split")
    with pytest.raises(ValueError, match="chunk_aggregation must be one of 'max', 'mean'"):
        tiny_model.logits(["a"], LABELS, long_texts="chunk", chunk_aggregation="median")


def test_windows_cover_the_text_once_aligned_to_its_end():
    assert text_windows(10, 16) == [(0, 10)]
    assert text_windows(100, 40) == [(0, 40), (30, 70), (60, 100)]
    for n in range(1, 400, 7):
        for size in (5, 16, 64, 600):
            windows = text_windows(n, size)
            covered = set().union(*(range(a, b) for a, b in windows))
            assert covered == set(range(n)) and windows[-1][1] == n and windows[0][0] == 0


def test_a_stream_reports_shortened_texts_once_by_their_place_in_the_stream(load_model):
    from gliclass_integrations.errors import TextsShortenedWarning

    model = load_model("bert", "multilang", max_length=64)
    texts = ["short"] * 5 + [long_text(200)] + ["short"] * 3 + [long_text(150, seed=1)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = list(model.iter_logits(iter(texts), LABELS, chunk_size=2))
    assert len(rows) == 10
    (warning,) = [w for w in caught if issubclass(w.category, TextsShortenedWarning)]
    assert "2 of 10 texts were shortened from the end (texts[5] lost" in str(warning.message)
    assert (warning.message.shortened, warning.message.total) == (2, 10) and warning.filename == __file__
