"""Streaming, automatic batch sizes under the token budget, and splitting batches on out-of-memory errors."""

from __future__ import annotations

import random
import warnings
from itertools import pairwise

import numpy as np
import pytest
import torch
from checkpoints import CORPUS
from tolerances import FLOAT32_LOGITS, FLOAT64

from gliclass_integrations.core._engine import plan_batches

WORDS = sorted({word for sentence in CORPUS for word in sentence.split()})
LABELS = ["positive", "negative", "sports"]
MIXED = [
    "i love this product",
    "terrible service and very slow shipping, never again, " * 6,
    "ok",
    "the election results were announced today after a long night of counting",
    "",
    "stocks fell sharply after the report " * 3,
    "das ist ein sehr gutes buch",
    "new smartphone released with a faster chip and a bigger screen " * 2,
    "great food friendly staff nice place",
    "i",
    "le film etait trop long",
]


def same_length_texts(n: int, n_words: int = 6) -> list[str]:
    """Distinct texts of the same token count (each corpus word is one token of the tiny tokenizer)."""
    rng = random.Random(0)
    return [" ".join(rng.sample(WORDS, n_words)) for _ in range(n)]


class Recorder:
    """An iterable of texts that counts how many were taken from it."""

    def __init__(self, texts: list[str]) -> None:
        self.texts, self.taken = texts, 0

    def __iter__(self):
        for text in self.texts:
            self.taken += 1
            yield text


def batch_shapes(model):
    shapes: list[tuple[int, int]] = []
    handle = model.network.register_forward_pre_hook(lambda _m, args: shapes.append(tuple(args[0].input_ids.shape)))
    return shapes, handle


# -- streaming ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 4, 100])
def test_streamed_logits_equal_the_list_call_in_input_order(load_model, chunk_size):
    model = load_model("deberta", "multilang", dtype="float64")
    expected = model.logits(MIXED, LABELS)
    streamed = list(model.iter_logits(iter(MIXED), LABELS, chunk_size=chunk_size))
    assert len(streamed) == len(MIXED)
    np.testing.assert_allclose(np.stack(streamed), expected, atol=FLOAT64, rtol=0)
    assert len({tuple(row) for row in expected}) == len(MIXED)  # distinct rows, so the order is checked


@pytest.mark.parametrize("multi_label", [True, False])
def test_streamed_scores_equal_predict_proba_with_every_option(load_model, multi_label):
    model = load_model("deberta", "instruct", dtype="float64")
    options = dict(
        prompt="Classify the review.", examples=[{"text": "great food", "labels": ["positive"]}],
        label_descriptions={"sports": "games and matches"},
    )
    expected = model.predict_proba(MIXED, LABELS, multi_label=multi_label, **options)
    streamed = model.iter_predict_proba(
        (text for text in MIXED), LABELS, multi_label=multi_label, chunk_size=3, batch_size=2, **options
    )
    np.testing.assert_allclose(np.stack(list(streamed)), expected, atol=FLOAT64, rtol=0)


def test_streaming_reads_the_texts_lazily_a_few_chunks_ahead(tiny_model):
    texts = Recorder(same_length_texts(60))
    stream = tiny_model.iter_logits(texts, LABELS, chunk_size=4)
    assert texts.taken == 0
    read_ahead = [texts.taken - yielded for yielded, _ in enumerate(stream, start=1)]
    assert len(read_ahead) == 60
    # At most: the rest of the chunk being yielded, three chunks queued for the network, two being prepared.
    assert 4 <= max(read_ahead) < 6 * 4


def test_streaming_checks_its_arguments_before_reading_any_text(tiny_model):
    texts = Recorder(same_length_texts(3))
    with pytest.raises(TypeError, match="shared by all texts"):
        tiny_model.iter_logits(texts, [["a"], ["b"], ["c"]])
    with pytest.raises(TypeError, match="one prompt string"):
        tiny_model.iter_predict_proba(texts, LABELS, prompt=["p1", "p2", "p3"])
    with pytest.raises(ValueError, match="chunk_size"):
        tiny_model.iter_logits(texts, LABELS, chunk_size=0)
    with pytest.raises(ValueError, match="not among the labels"):
        tiny_model.iter_logits(texts, LABELS, label_descriptions={"other": "x"})
    assert texts.taken == 0


def test_streaming_a_single_string_or_nothing(tiny_model):
    (row,) = tiny_model.iter_logits("one text", {"group": ["a", "b"]})
    np.testing.assert_allclose(row, tiny_model.logits("one text", {"group": ["a", "b"]})[0], atol=FLOAT32_LOGITS)
    assert list(tiny_model.iter_predict_proba([], LABELS)) == []


def test_streaming_warns_at_the_callers_line_when_texts_are_shortened(load_model):
    model = load_model("deberta", "multilang", max_length=24)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        list(model.iter_logits(["word " * 100], LABELS))
    assert "shortened" in str(caught[0].message) and caught[0].filename == __file__


# -- batch sizes ----------------------------------------------------------------------------------------


def test_without_batch_size_only_the_token_budget_limits_a_batch():
    lengths = [random.Random(seed).randint(1, 300) for seed in range(500)]
    plan = plan_batches(lengths, batch_size=None, max_batch_tokens=4096)
    assert sorted(i for batch in plan for i in batch) == list(range(500))
    for batch, following in pairwise(plan):
        longest = max(lengths[i] for i in batch)
        assert len(batch) * longest <= 4096
        assert (len(batch) + 1) * longest > 4096  # full: one more row would exceed the budget
        assert lengths[batch[0]] == longest >= lengths[following[0]]
    assert max(map(len, plan)) > 32  # short rows share batches larger than the old default of 32


def test_default_batches_fill_the_token_budget(load_model):
    model = load_model("deberta", "multilang", max_batch_tokens=1000)
    assert model.batch_size is None
    texts = same_length_texts(100)
    shapes, handle = batch_shapes(model)
    try:
        model.logits(texts, LABELS)
    finally:
        handle.remove()
    length = shapes[0][1]
    per_batch = 1000 // length
    full, rest = divmod(100, per_batch)
    assert [rows for rows, _ in shapes] == [per_batch] * full + ([rest] if rest else [])
    assert all(rows * width <= 1000 for rows, width in shapes)


def test_default_token_budget_on_the_cpu(tiny_model):
    assert tiny_model.device.type == "cpu" and tiny_model.max_batch_tokens == 1024
    shapes, handle = batch_shapes(tiny_model)
    try:
        tiny_model.logits(same_length_texts(300), LABELS)
    finally:
        handle.remove()
    assert len(shapes) > 1 and all(rows * width <= 1024 for rows, width in shapes)
    assert sum(rows for rows, _ in shapes) == 300


def test_batch_size_still_caps_rows(load_model):
    model = load_model("deberta", "multilang")
    shapes, handle = batch_shapes(model)
    try:
        model.logits(same_length_texts(10), LABELS, batch_size=3)
    finally:
        handle.remove()
    assert [rows for rows, _ in shapes] == [3, 3, 3, 1]


# -- out of memory ----------------------------------------------------------------------------------------


def fail_above(model, monkeypatch, most_rows: int) -> list[int]:
    """Make the network raise an out-of-memory error for batches of more than ``most_rows`` texts."""
    attempts: list[int] = []
    forward = model.network.forward

    def limited(batch):
        attempts.append(batch.input_ids.shape[0])
        if batch.input_ids.shape[0] > most_rows:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return forward(batch)

    monkeypatch.setattr(model.network, "forward", limited)
    return attempts


def test_out_of_memory_splits_the_batch_and_keeps_every_result_in_order(load_model, monkeypatch):
    model = load_model("deberta", "multilang", dtype="float64", max_batch_tokens=16384)
    texts = MIXED * 3
    expected = model.logits(texts, LABELS, batch_size=16)
    attempts = fail_above(model, monkeypatch, most_rows=3)
    with pytest.warns(RuntimeWarning, match="Out of device memory"):
        split = model.logits(texts, LABELS, batch_size=16)
    np.testing.assert_allclose(split, expected, atol=FLOAT64, rtol=0)
    assert max(attempts) == 16 and sum(rows for rows in attempts if rows <= 3) == len(texts)


def test_after_out_of_memory_later_batches_are_split_before_they_fail(load_model, monkeypatch):
    model = load_model("deberta", "multilang", dtype="float64")
    texts = same_length_texts(24)
    expected = list(model.iter_logits(texts, LABELS, batch_size=8, chunk_size=8))
    attempts = fail_above(model, monkeypatch, most_rows=2)
    with pytest.warns(RuntimeWarning):
        split = list(model.iter_logits(texts, LABELS, batch_size=8, chunk_size=8))
    np.testing.assert_allclose(np.stack(split), np.stack(expected), atol=FLOAT64, rtol=0)
    assert attempts == [8, 4] + [2] * 12  # two failures in the first batch, none afterwards


def test_out_of_memory_on_a_single_text_is_raised(load_model, monkeypatch):
    model = load_model("deberta", "multilang", dtype="float64")
    fail_above(model, monkeypatch, most_rows=0)
    with pytest.raises(torch.OutOfMemoryError):
        model.logits(["one text"], LABELS)
