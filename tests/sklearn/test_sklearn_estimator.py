"""ZeroShotClassifier: scikit-learn conventions, every y format, scores equal to the core's, the cache."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse
from conftest import make_texts
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, make_scorer
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import estimator_checks
from sklearn.utils._param_validation import InvalidParameterError
from tolerances import FLOAT32, FLOAT32_LOGITS

from gliclass_integrations import GLiClass, ZeroShotClassifier

LABELS = ["sports", "politics", "tech"]


@pytest.fixture(scope="module")
def core_model(tiny_checkpoint):
    return GLiClass.from_pretrained(tiny_checkpoint, device="cpu")


@pytest.fixture
def make(tiny_checkpoint):
    def make_classifier(**params) -> ZeroShotClassifier:
        return ZeroShotClassifier(str(tiny_checkpoint), **params)

    return make_classifier


# -- conventions -----------------------------------------------------------------------------------


def test_constructor_only_stores_and_params_round_trip(make):
    clf = make(labels=LABELS, threshold={"sports": 0.3, "politics": 0.4, "tech": 0.5}, n_examples=2)
    params = clf.get_params()
    assert params["labels"] is clf.labels and params["threshold"]["sports"] == 0.3
    assert not [name for name in vars(clf) if name.endswith("_")]
    cloned = clone(clf)
    assert cloned.get_params() == params and cloned is not clf
    clf.set_params(threshold=0.7, prompt="Topic?")
    assert clf.threshold == 0.7 and clf.prompt == "Topic?"


def test_every_parameter_has_a_constraint():
    assert set(ZeroShotClassifier._parameter_constraints) == set(ZeroShotClassifier().get_params())


# These scikit-learn API checks need no numeric data; with string input tags, check_estimator itself
# skips everything, so they are called by name.
API_CHECKS = [
    "check_estimator_cloneable",
    "check_no_attributes_set_in_init",
    "check_estimator_repr",
    "check_get_params_invariance",
    "check_set_params",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_valid_tag_types",
    "check_mixin_order",
    "check_parameters_default_constructible",
]


@pytest.mark.parametrize("check", API_CHECKS)
def test_scikit_learn_api_checks(check):
    getattr(estimator_checks, check)(type(ZeroShotClassifier()).__name__, ZeroShotClassifier())


def test_tags_declare_string_input():
    tags = ZeroShotClassifier().__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array
    assert tags.estimator_type == "classifier" and tags.classifier_tags.multi_label


def test_bad_parameters_fail_at_fit_with_sklearn_errors(make):
    with pytest.raises(InvalidParameterError, match="The 'n_examples' parameter of ZeroShotClassifier must be"):
        make(labels=LABELS, n_examples=-1).fit(["a"])
    with pytest.raises(InvalidParameterError, match="ZeroShotClassifier: threshold must be a number from 0 to 1"):
        make(labels=LABELS, threshold=1.5).fit(["a"])
    with pytest.raises(InvalidParameterError, match="ZeroShotClassifier: dtype must be one of"):
        make(labels=LABELS, dtype="int8").fit(["a"])
    with pytest.raises(ValueError, match="threshold has 2 values for 3 classes"):
        make(labels=LABELS, multi_label=True, threshold=[0.1, 0.2]).fit(["a"])
    with pytest.raises(ValueError, match="missing: \\['tech'\\]"):
        make(labels=LABELS, multi_label=True, threshold={"sports": 0.1, "politics": 0.2}).fit(["a"])
    with pytest.raises(ValueError, match="per-label threshold applies to multi-label"):
        make(labels=LABELS, threshold=[0.1, 0.2, 0.3]).fit(["a"])


def test_predicting_before_fit_raises_not_fitted(make):
    with pytest.raises(NotFittedError):
        make(labels=LABELS).predict(["a"])


# -- scores ----------------------------------------------------------------------------------------


def test_single_label_scores_equal_the_core_with_classes_sorted(make, core_model):
    texts = make_texts(6)
    clf = make(labels=LABELS).fit(texts)
    assert clf.classes_.tolist() == ["politics", "sports", "tech"] and clf.model_labels_ == tuple(LABELS)
    expected = core_model.predict_proba(texts, LABELS, multi_label=False)[:, [1, 0, 2]]
    proba = clf.predict_proba(texts)
    assert proba.dtype == np.float64
    np.testing.assert_allclose(proba, expected, atol=FLOAT32)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert clf.predict(texts).tolist() == [clf.classes_[i] for i in expected.argmax(axis=1)]
    logits = core_model.logits(texts, LABELS)[:, [1, 0, 2]]
    np.testing.assert_allclose(clf.decision_function(texts), logits, atol=FLOAT32_LOGITS)


def test_binary_decision_function_is_one_dimensional_and_agrees_with_predict(make):
    texts = make_texts(8)
    clf = make(labels=["positive", "negative"]).fit(texts)
    decision = clf.decision_function(texts)
    assert decision.shape == (8,)
    assert clf.classes_.tolist() == ["negative", "positive"]
    assert (np.where(decision > 0, "positive", "negative") == clf.predict(texts)).all()
    np.testing.assert_allclose(1 / (1 + np.exp(-decision)), clf.predict_proba(texts)[:, 1], atol=1e-9)


def test_multi_label_scores_and_thresholds(make, core_model):
    texts = make_texts(6)
    clf = make(labels=LABELS, multi_label=True, threshold=[0.2, 0.5, 0.8]).fit(texts)
    assert clf.classes_.tolist() == LABELS
    expected = core_model.predict_proba(texts, LABELS)
    np.testing.assert_allclose(clf.predict_proba(texts), expected, atol=FLOAT32)
    np.testing.assert_array_equal(clf.predict(texts), (expected >= [0.2, 0.5, 0.8]).astype(int))
    clf.set_params(threshold={"tech": 0.1, "sports": 0.9, "politics": 0.5})  # no refit needed
    np.testing.assert_array_equal(clf.predict(texts), (expected >= [0.9, 0.5, 0.1]).astype(int))


def test_hierarchical_labels_prompt_and_descriptions_reach_the_model(make, core_model):
    texts = make_texts(4)
    tree = {"topic": ["sports", "politics"], "tone": ["calm", "angry"]}
    flat = ["topic.sports", "topic.politics", "tone.calm", "tone.angry"]
    descriptions = {"tone.angry": "upset or hostile"}
    clf = make(labels=tree, multi_label=True, prompt="Tag it.", label_descriptions=descriptions).fit(texts)
    assert clf.classes_.tolist() == flat
    expected = core_model.predict_proba(texts, flat, prompt="Tag it.", label_descriptions=descriptions)
    np.testing.assert_allclose(clf.predict_proba(texts), expected, atol=FLOAT32)


# -- y formats and input checks --------------------------------------------------------------------


def test_every_multi_label_y_format_gives_the_same_fit(make):
    texts = make_texts(6)
    lists = [["sports"], ["politics", "tech"], [], ["tech"], ["sports", "politics"], ["politics"]]
    matrix = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0], [0, 0, 1], [1, 1, 0], [0, 1, 0]])
    frame = pd.DataFrame(matrix[:, [2, 0, 1]], columns=["tech", "sports", "politics"])
    fits = [
        make(labels=LABELS, n_examples=4, random_state=0).fit(texts, y)
        for y in (lists, matrix, frame, scipy.sparse.csr_matrix(matrix))
    ]
    for fitted in fits:
        assert fitted.multi_label_ and fitted.classes_.tolist() == LABELS
        assert fitted.examples_ == fits[0].examples_
    assert make(labels=LABELS, multi_label=True).fit(texts, lists).score(texts, frame) == pytest.approx(
        make(labels=LABELS, multi_label=True).fit(texts, lists).score(texts, matrix)
    )
    # without labels, the DataFrame's columns are the classes, in their order
    assert make().fit(texts, frame).classes_.tolist() == ["tech", "sports", "politics"]


def test_classes_come_from_y_when_no_labels_are_given(make):
    texts = make_texts(4)
    clf = make().fit(texts, ["tech", "sports", "tech", "politics"])
    assert clf.classes_.tolist() == ["politics", "sports", "tech"] and not clf.multi_label_


@pytest.mark.parametrize(
    ("params", "X", "y", "error", "match"),
    [
        ({"labels": LABELS}, ["a", "b"], ["sports", "cooking"], ValueError, r"y\[1\] has the label 'cooking'"),
        ({"labels": LABELS}, [], None, ValueError, "X is empty"),
        ({"labels": LABELS}, ["a", None, "c"], None, ValueError, r"X\[1\] is missing \(None\). Pass missing='skip'"),
        ({"labels": LABELS}, ["a", 3, "c"], None, TypeError, r"X\[1\] is int \(3\); expected str"),
        ({"labels": LABELS, "missing": "drop"}, ["a"], None, ValueError, "missing must be one of 'raise', 'skip'"),
        ({"labels": LABELS}, "a single text", None, TypeError, "wrap a single text in a list"),
        ({"labels": LABELS}, pd.DataFrame({"a": ["x"], "b": ["y"]}), None, ValueError, "DataFrame with 2 columns"),
        ({}, ["a", "b"], [0, 1], ValueError, r"y holds integer class codes \(0, ...\) .* pass labels="),
        ({"labels": LABELS}, ["a", "b"], [0, 3], ValueError, r"y\[1\] is the class code 3, but 3 labels give"),
        ({"labels": LABELS}, ["a", "b"], [0, "tech"], TypeError, r"y\[1\] is 'tech' \(str\), but y\[0\] is an integer"),
        ({}, ["a", "b"], [True, False], TypeError, r"y\[0\] is True \(bool\); class names must be strings"),
        ({"labels": set(LABELS)}, ["a"], None, ValueError, "labels is a set, whose order is not defined"),
        ({"labels": np.array([LABELS])}, ["a"], None, ValueError, "labels must be one-dimensional"),
        ({}, ["a", "b"], ["x", "x"], ValueError, "single class"),
        ({}, ["a"], None, ValueError, "Nothing to classify into"),
        ({"labels": LABELS}, ["a", "b"], ["sports"], ValueError, "X has 2 texts but y has 1 rows"),
        ({"labels": LABELS, "multi_label": False}, ["a"], [["sports"]], ValueError, "multi_label=False"),
        ({"labels": LABELS, "n_examples": 2}, ["a"], None, ValueError, "n_examples=2 needs labelled texts"),
        ({"labels": LABELS, "n_examples": 3}, ["a", "b"], ["tech", "sports"], ValueError, "only 2 texts"),
        ({}, ["a"], np.array([[1, 0]]), ValueError, "indicator matrix y has no label names"),
        ({"labels": ["x", "y"]}, ["a"], np.array([[1, 2]]), ValueError, r"y\[0, 1\] is 2"),
        ({"labels": ["x"]}, ["a"], pd.DataFrame({"x": [1], "z": [0]}), ValueError, "column for the label 'z'"),
    ],
)
def test_bad_input_gets_a_clear_error(make, params, X, y, error, match):
    with pytest.raises(error, match=match):
        make(**params).fit(X, y)


def test_labels_changed_after_fit_is_an_error(make):
    clf = make(labels=LABELS).fit(["a"])
    clf.set_params(labels=["sports", "tech"])
    with pytest.raises(ValueError, match="labels changed since fit"):
        clf.predict(["a"])


# -- few-shot --------------------------------------------------------------------------------------


def test_few_shot_examples_are_stratified_reproducible_and_used(make, core_model):
    texts = make_texts(30, seed=3)
    y = ["sports"] * 20 + ["politics"] * 8 + ["tech"] * 2
    clf = make(labels=LABELS, n_examples=3, random_state=7).fit(texts, y)
    assert sorted(example["labels"][0] for example in clf.examples_) == ["politics", "sports", "tech"]
    assert clf.examples_ == make(labels=LABELS, n_examples=3, random_state=7).fit(texts, y).examples_
    assert all(example["text"] in texts for example in clf.examples_)
    query = make_texts(3, seed=99)
    expected = core_model.predict_proba(query, LABELS, multi_label=False, examples=clf.examples_)[:, [1, 0, 2]]
    zero_shot = core_model.predict_proba(query, LABELS, multi_label=False)[:, [1, 0, 2]]
    np.testing.assert_allclose(clf.predict_proba(query), expected, atol=FLOAT32)
    assert np.abs(expected - zero_shot).max() > 1e-3  # the examples change the scores


# -- pandas, pipelines, search ---------------------------------------------------------------------


def test_pandas_in_and_out_keeps_the_index(make):
    texts = pd.Series(make_texts(5), index=[10, 11, 12, 13, 14], name="text")
    clf = make(labels=LABELS, multi_label=True).fit(texts).set_output(transform="pandas")
    frame = clf.transform(texts)
    assert isinstance(frame, pd.DataFrame)
    assert frame.index.tolist() == [10, 11, 12, 13, 14] and frame.columns.tolist() == LABELS
    np.testing.assert_allclose(frame.to_numpy(), clf.predict_proba(texts.tolist()), atol=1e-12)
    one_column = texts.to_frame()
    np.testing.assert_allclose(clf.predict_proba(one_column), frame.to_numpy(), atol=1e-12)
    assert clf.get_feature_names_out().tolist() == LABELS


def test_pipeline_with_preprocessing_and_cross_validate(make):
    texts = make_texts(12, seed=1)
    y = ["sports", "politics", "tech"] * 4
    pipeline = make_pipeline(FunctionTransformer(lambda X: [text.upper() for text in X]), make(labels=LABELS))
    results = cross_validate(pipeline, texts, y, cv=3, scoring=["accuracy", "neg_log_loss"])
    assert len(results["test_accuracy"]) == 3
    assert np.all(results["test_neg_log_loss"] < 0)
    direct = make(labels=LABELS).fit(texts).predict([text.upper() for text in texts])
    assert pipeline.fit(texts, y).predict(texts).tolist() == direct.tolist()


def test_scores_feed_a_downstream_model(make):
    texts = make_texts(24, seed=2)
    scores = make(labels=LABELS, multi_label=True).fit(texts).predict_proba(texts)
    y = np.where(scores[:, 0] > np.median(scores[:, 0]), "yes", "no")  # learnable from the scores
    stacked = make_pipeline(make(labels=LABELS, multi_label=True), LogisticRegression(C=100.0)).fit(texts, y)
    assert stacked.score(texts, y) >= 0.9
    assert stacked[-1].coef_.shape == (1, 3)


def test_column_transformer_feeds_the_text_column(make):
    from sklearn.compose import ColumnTransformer

    frame = pd.DataFrame({"text": make_texts(6, seed=9), "stars": [1, 5, 3, 4, 2, 5]})
    scorer = make(labels=LABELS, multi_label=True)
    columns = ColumnTransformer([("zero_shot", scorer, ["text"])], remainder="passthrough")
    features = columns.fit_transform(frame, ["a", "b"] * 3)  # the downstream target is not read by the scorer
    expected = make(labels=LABELS, multi_label=True).fit(frame["text"]).predict_proba(frame["text"])
    np.testing.assert_allclose(features[:, :3], expected, atol=1e-12)
    np.testing.assert_array_equal(features[:, 3], frame["stars"])
    assert columns.get_feature_names_out()[:3].tolist() == [f"zero_shot__{label}" for label in LABELS]


@pytest.mark.parametrize("cache", [True, False])
def test_grid_search_over_threshold_encodes_each_text_once_per_context(make, encoded, cache):
    texts = make_texts(30, seed=4)
    y = pd.DataFrame(np.random.default_rng(0).integers(0, 2, size=(30, 3)), columns=LABELS)
    search = GridSearchCV(
        make(labels=LABELS, multi_label=True, cache=cache),
        {"threshold": [0.1, 0.3, 0.5, 0.7, 0.9]}, cv=KFold(3),
    ).fit(texts, y)
    assert search.best_params_["threshold"] in (0.1, 0.3, 0.5, 0.7, 0.9)
    assert sum(encoded) == (30 if cache else 5 * 30)


def test_grid_search_with_few_shot_encodes_once_per_fold_context(make, encoded):
    texts = make_texts(30, seed=5)
    y = ["sports", "politics", "tech"] * 10
    search = GridSearchCV(
        make(labels=LABELS, n_examples=3, random_state=0), {"threshold": [0.2, 0.4, 0.6, 0.8, 1.0]}, cv=3
    )
    search.fit(texts, y)
    assert sum(encoded) == 30  # each text once, in the context of the fold that tests it
    # a second search reuses every fold context
    search.fit(texts, y)
    assert sum(encoded) == 30


def test_binary_threshold_tuning_with_scikit_learn_scores_each_text_once(make, encoded):
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import FixedThresholdClassifier, TunedThresholdClassifierCV

    texts = make_texts(20, seed=6)
    y = ["positive", "negative"] * 10
    clf = make(labels=["positive", "negative"]).fit(texts, y)
    f1_positive = make_scorer(f1_score, pos_label="positive")
    tuned = TunedThresholdClassifierCV(FrozenEstimator(clf), scoring=f1_positive, cv=KFold(2)).fit(texts, y)
    assert 0 <= tuned.best_threshold_ <= 1
    proba = clf.predict_proba(texts)[:, list(clf.classes_).index("positive")]
    assert tuned.predict(texts).tolist() == np.where(proba >= tuned.best_threshold_, "positive", "negative").tolist()
    fixed = FixedThresholdClassifier(FrozenEstimator(clf), threshold=0.5, pos_label="positive").fit(texts, y)
    assert fixed.predict(texts).tolist() == np.where(proba >= 0.5, "positive", "negative").tolist()
    assert sum(encoded) == 20


# -- persistence -----------------------------------------------------------------------------------


def test_pickled_pipeline_is_small_and_predicts_identically_in_a_fresh_process(make, tmp_path, tiny_checkpoint):
    texts = make_texts(8, seed=8)
    pipeline = make_pipeline(make(labels=LABELS, multi_label=True, n_examples=2, random_state=0))
    pipeline.fit(texts, [["sports"], ["tech"], ["politics"], [], ["sports"], ["tech"], ["politics"], ["tech"]])
    payload = pickle.dumps(pipeline)
    assert len(payload) < 4096  # parameters, classes and examples: no weights
    path = tmp_path / "pipeline.joblib"
    joblib.dump(pipeline, path)
    expected = pipeline.predict_proba(texts)
    np.save(tmp_path / "expected.npy", expected)
    script = textwrap.dedent(f"""
        import sys, joblib, numpy as np
        texts = {texts!r}
        pipeline = joblib.load({str(path)!r})
        assert "torch" not in sys.modules  # loading the pickle loads no model
        np.testing.assert_array_equal(pipeline.predict_proba(texts), np.load({str(tmp_path / "expected.npy")!r}))
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_clone_and_unpickle_share_the_process_model(make, tiny_checkpoint):
    from gliclass_integrations.core import shared_model

    clf = make(labels=LABELS).fit(["a"])
    restored, cloned = pickle.loads(pickle.dumps(clf)), clone(clf)
    assert all(not hasattr(value, "network") for value in [*vars(restored).values(), *vars(cloned).values()])
    model = shared_model(tiny_checkpoint)
    loads = []
    handle = model.network.register_forward_pre_hook(lambda module, args: loads.append(1))
    try:
        assert restored.predict_proba(["a"]).tolist() == clf.predict_proba(["a"]).tolist()
        cloned.fit(["a"]).predict_proba(["b"])
    finally:
        handle.remove()
    assert loads and shared_model(str(tiny_checkpoint), device="cpu") is model  # the same weights served all three


def test_threads_share_one_model_and_agree(make, fresh_caches):
    from joblib import Parallel, delayed, parallel_config

    texts = make_texts(40, seed=10)
    clf = make(labels=LABELS, multi_label=True, cache=False).fit(texts)
    alone = clf.predict_proba(texts)
    with parallel_config(backend="threading", n_jobs=4):
        parts = Parallel()(delayed(clf.predict_proba)(texts[i::4]) for i in range(4))
    for i, part in enumerate(parts):
        np.testing.assert_allclose(part, alone[i::4], atol=FLOAT32)


def test_batches_follow_the_core_token_budget_unless_batch_size_is_given(make, encoded, tiny_checkpoint):
    from gliclass_integrations.core import shared_model

    texts = ["goal", "vote", "chip", "rain"] * 30  # rows of equal length, under 20 tokens
    assert shared_model(tiny_checkpoint).max_batch_tokens == 1024  # the core's CPU default
    make(labels=LABELS, cache=False).fit(texts).predict_proba(texts)
    # full batches of budget // row length rows (more than the adapters' old cap of 32), then the rest
    assert sum(encoded) == 120 and encoded[0] == encoded[1] > 32 and encoded[-1] <= encoded[0]
    encoded.clear()
    make(labels=LABELS, cache=False, batch_size=8).fit(texts).predict_proba(texts)
    assert max(encoded) == 8 and len(encoded) == 15


def test_missing_texts_raise_by_default_or_get_nan_scores(make, core_model):
    texts = pd.Series(["the match", None, "the senate votes", np.nan], index=[10, 11, 12, 13])
    with pytest.raises(ValueError, match=r"X\[1\] is missing \((None|nan)\) \(and 1 more rows\)"):
        make(labels=LABELS).fit(["a"]).predict_proba(texts)
    single = make(labels=LABELS, missing="skip").fit(["a"])
    proba = single.predict_proba(texts)
    assert np.isnan(proba[[1, 3]]).all() and not np.isnan(proba[[0, 2]]).any()
    expected = core_model.predict_proba(["the match", "the senate votes"], LABELS, multi_label=False)[:, [1, 0, 2]]
    np.testing.assert_allclose(proba[[0, 2]], expected, atol=FLOAT32)
    best = [single.classes_[i] for i in expected.argmax(axis=1)]
    assert single.predict(texts).tolist() == [best[0], None, best[1], None]
    multi = make(labels=LABELS, multi_label=True, missing="skip").fit(["a"]).predict(texts)
    assert multi.dtype == float and np.isnan(multi[1]).all() and set(np.unique(multi[[0, 2]])) <= {0.0, 1.0}


def test_missing_texts_never_become_few_shot_examples(make):
    texts = ["goal", None, "vote", "chip", None, "match"]
    y = ["sports", "sports", "politics", "tech", "tech", "sports"]
    clf = make(labels=LABELS, n_examples=4, random_state=0, missing="skip").fit(texts, y)
    assert {example["text"] for example in clf.examples_} == {"goal", "vote", "chip", "match"}


def test_long_texts_can_be_scored_in_windows(make, core_model):
    long_text = "the match went to extra time and penalties " * 200
    clf = make(labels=LABELS, long_texts="chunk", chunk_aggregation="mean").fit(["a"])
    chunked = clf.decision_function([long_text])
    expected = core_model.logits([long_text], LABELS, long_texts="chunk", chunk_aggregation="mean")[:, [1, 0, 2]]
    np.testing.assert_allclose(chunked, expected, atol=FLOAT32_LOGITS)
    with pytest.warns(UserWarning, match=r"X\[0\] lost"):
        make(labels=LABELS).fit(["a"]).predict_proba([long_text])
