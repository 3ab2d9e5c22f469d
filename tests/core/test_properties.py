"""Properties that hold for any texts and labels: shape, order, range, batch and order invariance.

Texts mix scripts (CJK, right-to-left, emoji), zero-width characters, whitespace, empty strings and
look-alikes of the structure tokens; labels do too. Invariance is checked within the float32 bound of
tests/tolerances.py.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tolerances import FLOAT32

PIECES = [
    "the match", "i love it", "电池续航很好", "経済ニュース", "هذا رائع", "שלום עולם", "🙂👍🏽", "🇺🇦",
    "\u200b", "\u200d", "\ufeff", " ", "\t", "\n", "<<LABEL>>", "<<SEP>>", "<<EXAMPLE>>", "[CLS]", "</s>",
    "ünïcödé", "x" * 40,
]
texts_strategy = st.lists(
    st.lists(st.sampled_from(PIECES) | st.text(max_size=12), max_size=6).map("".join), min_size=1, max_size=9
)
labels_strategy = st.lists(
    (st.sampled_from(PIECES) | st.text(min_size=1, max_size=10)).filter(lambda label: label.strip()),
    min_size=1, max_size=5, unique=True,
)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(texts=texts_strategy, labels=labels_strategy, batch_size=st.integers(1, 5), multi_label=st.booleans())
def test_scores_have_the_callers_shape_and_order_whatever_the_batching(tiny_model, texts, labels, batch_size,
                                                                       multi_label):
    alone = tiny_model.predict_proba(texts, labels, multi_label=multi_label, batch_size=1)
    assert alone.shape == (len(texts), len(labels))
    assert np.all((alone >= 0) & (alone <= 1))
    if not multi_label:
        np.testing.assert_allclose(alone.sum(axis=1), 1.0, atol=1e-5)
    batched = tiny_model.predict_proba(texts, labels, multi_label=multi_label, batch_size=batch_size)
    np.testing.assert_allclose(batched, alone, atol=FLOAT32, rtol=0)
    order = np.random.default_rng(len(texts)).permutation(len(texts))
    shuffled = tiny_model.predict_proba([texts[i] for i in order], labels, multi_label=multi_label)
    np.testing.assert_allclose(shuffled, alone[order], atol=FLOAT32, rtol=0)


@SETTINGS
@given(texts=texts_strategy, labels=labels_strategy, chunk_size=st.integers(1, 4))
def test_a_stream_yields_one_row_per_text_in_order(tiny_model, texts, labels, chunk_size):
    streamed = list(tiny_model.iter_predict_proba(iter(texts), labels, chunk_size=chunk_size))
    assert len(streamed) == len(texts) and all(row.shape == (len(labels),) for row in streamed)
    np.testing.assert_allclose(np.stack(streamed), tiny_model.predict_proba(texts, labels), atol=FLOAT32, rtol=0)


@SETTINGS
@given(texts=texts_strategy, label_lists=st.lists(labels_strategy, min_size=9, max_size=9))
def test_per_text_labels_keep_their_count(tiny_model, texts, label_lists):
    rows = tiny_model.predict_proba(texts, label_lists[: len(texts)])
    assert [row.shape for row in rows] == [(len(labels),) for labels in label_lists[: len(texts)]]
    assert all(np.all((row >= 0) & (row <= 1)) for row in rows)
