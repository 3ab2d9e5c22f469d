"""Batching: results independent of batch size and order, one forward and one host transfer per batch."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from checkpoints import HEADS
from tolerances import FLOAT32, FLOAT64

from gliclass_integrations.core._engine import plan_batches

TEXTS = [
    "i love this product",
    "terrible service and very slow shipping, never again, " * 6,
    "ok",
    "the election results were announced today after a long night of counting",
    "das ist ein sehr gutes buch",
    "",
    "stocks fell sharply after the report " * 3,
    "great food friendly staff nice place",
    "the battery died after two days",
    "le film etait trop long",
    "new smartphone released with a faster chip and a bigger screen " * 2,
    "i",
]
PER_TEXT_LABELS = [["positive", "negative", "neutral", "sports", "politics"][: 1 + i % 5] for i in range(len(TEXTS))]


def test_plan_batches_respects_both_limits_and_covers_every_row_once():
    lengths = [random.Random(seed).randint(1, 300) for seed in range(200)]
    plan = plan_batches(lengths, batch_size=16, max_batch_tokens=2048)
    assert sorted(i for batch in plan for i in batch) == list(range(200))
    for batch in plan:
        longest = max(lengths[i] for i in batch)
        assert len(batch) <= 16 and (len(batch) * longest <= 2048 or len(batch) == 1)
        assert lengths[batch[0]] == longest  # longest first: padding stays small
    assert plan_batches([5000], batch_size=8, max_batch_tokens=100) == [[0]]


def assert_batch_invariant(model, tolerance):
    for labels in (["positive", "negative", "sports"], PER_TEXT_LABELS):
        for multi_label in (True, False):
            alone = model.predict_proba(TEXTS, labels, multi_label=multi_label, batch_size=1)
            batched = model.predict_proba(TEXTS, labels, multi_label=multi_label, batch_size=8)
            order = list(reversed(range(len(TEXTS))))
            reordered_labels = [labels[i] for i in order] if labels is PER_TEXT_LABELS else labels
            shuffled = model.predict_proba([TEXTS[i] for i in order], reordered_labels, multi_label=multi_label)
            for i in range(len(TEXTS)):
                np.testing.assert_allclose(batched[i], alone[i], atol=tolerance, rtol=0)
                np.testing.assert_allclose(shuffled[order.index(i)], alone[i], atol=tolerance, rtol=0)


@pytest.mark.parametrize("head", sorted(HEADS))
@pytest.mark.parametrize("encoder", ["deberta", "modernbert", "t5"])
def test_scores_do_not_depend_on_batch_size_or_order_float64(encoder, head, load_model):
    """In float64, rounding is ~1e-16, so any influence of padding or of other texts would show."""
    assert_batch_invariant(load_model(encoder, head, dtype="float64"), tolerance=FLOAT64)


@pytest.mark.parametrize("head", ["multilang", "instruct", "simple-first", "hopfield-max", "weighted-dot-avg"])
@pytest.mark.parametrize("encoder", ["deberta", "modernbert", "t5", "bert"])
def test_scores_do_not_depend_on_batch_size_or_order_float32(encoder, head, load_model):
    """In float32 CPU kernels round differently for different batch shapes (about 1e-7 relative per
    operation); the fixtures' rescaled last layer amplifies that to up to 2e-5 on scores (tolerances.py)."""
    assert_batch_invariant(load_model(encoder, head), tolerance=FLOAT32)


def count_calls(model, monkeypatch):
    calls = {"forward": 0, "host": 0, "inference_mode": []}

    def before_forward(module, args):
        calls["forward"] += 1
        calls["inference_mode"].append(torch.is_inference_mode_enabled())

    handle = model.network.register_forward_pre_hook(before_forward)
    numpy = torch.Tensor.numpy

    def counting_numpy(tensor, *args, **kwargs):  # logits reach NumPy on the host (after .cpu() on a GPU)
        calls["host"] += 1
        return numpy(tensor, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "numpy", counting_numpy)
    return calls, handle


def test_one_forward_and_one_host_transfer_per_batch(tiny_model, monkeypatch):
    calls, handle = count_calls(tiny_model, monkeypatch)
    try:
        scores = tiny_model.predict_proba(TEXTS * 2, ["positive", "negative"], batch_size=5)
    finally:
        handle.remove()
    assert scores.shape == (24, 2)
    assert calls["forward"] == 5 and calls["host"] == 5  # ceil(24 / 5)
    assert all(calls["inference_mode"])


def test_token_budget_splits_batches(load_model, monkeypatch):
    model = load_model("deberta", "multilang", max_batch_tokens=64)
    calls, handle = count_calls(model, monkeypatch)
    try:
        model.logits(["word " * 40] * 4, ["a", "b"], batch_size=32)
    finally:
        handle.remove()
    assert calls["forward"] == 4  # each row is longer than 32 tokens: one per batch


def test_results_come_back_in_input_order(load_model):
    model = load_model("deberta", "multilang", dtype="float64")
    one_by_one = np.stack([model.logits(text, ["positive", "negative"])[0] for text in TEXTS])
    np.testing.assert_allclose(model.logits(TEXTS, ["positive", "negative"]), one_by_one, atol=FLOAT64, rtol=0)


def test_shapes_for_single_strings_and_empty_input(tiny_model):
    assert tiny_model.logits("one text", ["a", "b", "c"]).shape == (1, 3)
    assert tiny_model.logits([], ["a", "b"]).shape == (0, 2)
    per_text = tiny_model.logits(["a", "b"], [["x"], ["y", "z"]])
    assert isinstance(per_text, list) and [row.shape for row in per_text] == [(1,), (2,)]
