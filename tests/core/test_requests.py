"""Argument checking and normalisation: clear errors that name the argument and the row."""

from __future__ import annotations

import numpy as np
import pytest

from gliclass_integrations.core._labels import flatten_labels, nest_scores
from gliclass_integrations.core._requests import Example, build_request, render_descriptions


def test_hierarchical_labels_flatten_depth_first_in_insertion_order():
    tree = {"sentiment": ["positive", "negative"], "topic": {"news": ["politics"], "sports": "football"}}
    assert flatten_labels(tree) == (
        "sentiment.positive", "sentiment.negative", "topic.news.politics", "topic.sports.football",
    )


def test_nested_scores_mirror_the_labels():
    tree = {"a": ["x", "y"], "b": {"c": "z"}}
    scores = {"a.x": 0.1, "a.y": 0.2, "b.c.z": 0.3}
    assert nest_scores(tree, scores) == {"a": {"x": 0.1, "y": 0.2}, "b": {"c": {"z": 0.3}}}
    assert nest_scores(["a.x", "b.c.z"], scores) == {"a.x": 0.1, "b.c.z": 0.3}


def test_shared_and_per_text_labels():
    shared = build_request(["t1", "t2"], np.array(["a", "b"]))
    assert shared.shared_labels == ("a", "b") and [row.labels for row in shared.rows] == [("a", "b")] * 2
    per_text = build_request(["t1", "t2"], [["a"], {"g": ["b", "c"]}])
    assert per_text.shared_labels is None
    assert [row.labels for row in per_text.rows] == [("a",), ("g.b", "g.c")]


def test_texts_accept_sequences_arrays_and_series():
    pandas = pytest.importorskip("pandas")
    for texts in (("a", "b"), np.array(["a", "b"]), pandas.Series(["a", "b"], index=[10, 20])):
        assert [row.text for row in build_request(texts, ["x"]).rows] == ["a", "b"]
    assert [row.text for row in build_request("one", ["x"]).rows] == ["one"]


@pytest.mark.parametrize(
    ("texts", "labels", "options", "error", "message"),
    [
        (["a", 3], ["x"], {}, TypeError, r"texts\[1\] is int"),
        (None, ["x"], {}, TypeError, "texts must be"),
        (np.array([["a"], ["b"]]), ["x"], {}, ValueError, "one-dimensional"),
        (["a"], "positive", {}, TypeError, "got the string"),
        (["a"], None, {}, TypeError, "labels must be"),
        (["a"], [], {}, ValueError, "labels is empty"),
        (["a"], ["x", "x"], {}, ValueError, r"repeats the label 'x' \(positions 0 and 1\)"),
        (["a"], ["x", " "], {}, ValueError, r"labels\[1\] is an empty label"),
        (["a"], ["x", 5], {}, TypeError, r"labels\[1\] must be a string, got int"),
        (["a", "b"], [["x"]], {}, ValueError, "1 per-text label lists for 2 texts"),
        (["a"], [["x", 1]], {}, TypeError, r"labels\[0\]\[1\] must be a string"),
        (["a"], {"g": [1]}, {}, TypeError, r"labels\['g'\] must hold strings"),
        (["a"], {"g": 2}, {}, TypeError, r"labels\['g'\] must be a dict"),
        (["a", "b"], ["x"], {"prompt": ["p"]}, ValueError, "prompt has 1 entries for 2 texts"),
        (["a"], ["x"], {"prompt": [3]}, TypeError, r"prompt\[0\] is int"),
        (["a"], ["x"], {"examples": [{"text": "e"}]}, ValueError, r"examples\[0\] has no 'labels'"),
        (["a"], ["x"], {"examples": [{"labels": ["x"]}]}, TypeError, r"examples\[0\]\['text'\] must be a string"),
        (["a"], ["x"], {"examples": [{"text": "e", "labels": [1]}]}, TypeError, "must be a list of strings"),
        (["a", "b"], ["x"], {"examples": [[{"text": "e", "labels": []}]]}, ValueError, "1 per-text lists for 2"),
        (["a"], ["x"], {"examples": [{"text": "e", "labels": []}, []]}, TypeError, "mixes dicts with lists"),
        (["a"], ["x"], {"label_descriptions": {"y": "why"}}, ValueError, "'y', which is not among the labels"),
        (["a"], ["x"], {"label_descriptions": {"x": ""}}, TypeError, "must be a non-empty string"),
    ],
)
def test_bad_arguments_name_the_problem(texts, labels, options, error, message):
    with pytest.raises(error, match=message):
        build_request(texts, labels, **options)


def test_examples_render_like_training():
    request = build_request(
        ["a", "b"], ["x"],
        examples=[[{"text": "e1", "labels": ["x", "y"]}, {"text": "e2", "true_labels": "z"}], None],
    )
    assert request.rows[0].examples == (Example("e1", "x, y"), Example("e2", "z"))
    assert request.rows[0].examples[0].body == "e1 \nLabels:\n x, y"
    assert request.rows[1].examples == ()


def test_descriptions_render_in_label_order_before_the_text():
    descriptions = {"neutral": "neither praise nor complaint", "positive": "praise"}
    assert render_descriptions(("positive", "negative", "neutral"), descriptions) == (
        "positive: praise neutral: neither praise nor complaint "
    )
    assert render_descriptions(("negative",), descriptions) == ""
    row = build_request("Fine.", ["neutral"], label_descriptions={"neutral": descriptions["neutral"]}).rows[0]
    assert row.lead + row.text == "neutral: neither praise nor complaint Fine."
