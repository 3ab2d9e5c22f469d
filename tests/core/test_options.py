"""The settings every entry point shares (core/_options.py) and the few-shot selector (core/_examples.py)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch

from gliclass_integrations.core import (
    check_device,
    check_dtype,
    check_positive_int,
    check_threshold,
    select_examples,
)

LABELS = ["positive", "negative", "neutral"]


@pytest.mark.parametrize(
    ("value", "name"),
    [("auto", "auto"), (None, "auto"), ("fp32", "float32"), ("BF16", "bfloat16"), (" float16 ", "float16"),
     ("fp64", "float64"), (torch.bfloat16, "bfloat16")],
)
def test_dtype_names_and_aliases(value, name):
    assert check_dtype(value) == name


@pytest.mark.parametrize("value", ["int8", "half", "", 16, torch.int8])
def test_other_dtypes_are_refused_with_the_names_that_work(value):
    with pytest.raises(ValueError, match=r"--dtype must be one of 'auto', 'float32'.*\(or 'fp32', 'bf16'"):
        check_dtype(value, "--dtype")


def test_device_strings_are_checked_for_their_form_only():
    assert [check_device(value) for value in ("auto", "cpu", "cuda:1", None)] == ["auto", "cpu", "cuda:1", None]
    for value, message in (("gpu", "use 'cuda'"), ("cuda:x", "not a device"), ("CPU", "not a device"),
                           (0, "must be a device string")):
        with pytest.raises((TypeError, ValueError), match=message):
            check_device(value)


def test_thresholds_and_positive_integers():
    assert check_threshold(np.float32(0.25)) == 0.25 and check_threshold(1) == 1.0
    for bad in (math.nan, -0.01, 1.01, True, "0.5", None):
        with pytest.raises(ValueError, match="must be a number from 0 to 1"):
            check_threshold(bad)
    assert check_positive_int(np.int64(3), "n") == 3 and check_positive_int(None, "n", optional=True) is None
    for bad in (0, 2.0, True, "3", None):
        with pytest.raises(ValueError, match="n must be a positive integer"):
            check_positive_int(bad, "n")


def test_classify_refuses_a_nan_threshold_instead_of_predicting_nothing(tiny_model):
    with pytest.raises(ValueError, match=r"threshold\[1\] must be a number from 0 to 1, got nan"):
        tiny_model.classify(["a", "b"], LABELS, threshold=[0.5, math.nan])


@pytest.mark.parametrize(
    "labels", [tuple(LABELS), np.array(LABELS), pd.Index(LABELS), pd.Series(LABELS, index=[5, 3, 9])],
    ids=["tuple", "ndarray", "Index", "Series"],
)
def test_any_ordered_collection_of_label_strings_is_the_list(tiny_model, labels):
    texts = ["i love it", "never again"]
    np.testing.assert_array_equal(tiny_model.predict_proba(texts, labels), tiny_model.predict_proba(texts, LABELS))


@pytest.mark.parametrize(
    ("labels", "error", "message"),
    [
        (set(LABELS), TypeError, "labels is a set, whose order is not defined"),
        (np.array([LABELS]), ValueError, r"labels must be one-dimensional, got an array of shape \(1, 3\)"),
        (["sport", 3], TypeError, r"labels\[1\] must be a string, got int: 3"),
    ],
)
def test_labels_without_a_defined_order_or_not_text_are_refused(tiny_model, labels, error, message):
    with pytest.raises(error, match=message):
        tiny_model.predict_proba(["a"], labels)


# -- the few-shot selector --------------------------------------------------------------------------------


def labelled_rows():
    texts = [f"text {i}" for i in range(30)] + ["   ", "no label here"]
    rows = [[LABELS[i % 3]] + (["neutral"] if i % 5 == 0 and i % 3 != 2 else []) for i in range(30)]
    return texts, [*rows, ["positive"], []]


def test_every_label_is_shown_before_any_is_shown_twice():
    texts, rows = labelled_rows()
    for seed in range(20):
        for n in range(1, 10):
            chosen = select_examples(texts, rows, n, LABELS, random_state=seed)
            assert len(chosen) == n and len({example["text"] for example in chosen}) == n
            firsts = Counter()
            for example in chosen[:3]:
                firsts.update(example["labels"])
            assert n < 3 or set(firsts) == set(LABELS)  # one round covers every label


def test_the_draw_is_seeded_and_takes_only_labelled_non_blank_texts():
    texts, rows = labelled_rows()
    draws = [select_examples(texts, rows, 5, LABELS, random_state=seed) for seed in range(10)]
    assert draws[3] == select_examples(texts, rows, 5, LABELS, random_state=np.random.RandomState(3))
    assert len({tuple(example["text"] for example in draw) for draw in draws}) > 1  # seeds differ
    taken = {example["text"] for draw in draws for example in draw}
    assert not taken & {"   ", "no label here"}
    everything = select_examples(texts, rows, 30, LABELS, random_state=0)
    assert all(example["labels"] == [label for label in LABELS if label in example["labels"]]
               for example in everything)  # in the order the model reads the labels


def test_asking_for_more_examples_than_there_are_is_an_error():
    texts, rows = labelled_rows()
    with pytest.raises(ValueError, match="n_examples=31 but only 30 texts"):
        select_examples(texts, rows, 31, LABELS)
    with pytest.raises(ValueError, match="include 'sports', which is not among the labels"):
        select_examples(["a"], [["sports"]], 1, LABELS)
