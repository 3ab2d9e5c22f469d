"""The spaCy component "gliclass": doc.cats, batching, serialization, evaluation, initialize, sentences."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tolerances import FLOAT32

spacy = pytest.importorskip("spacy")

from spacy.scorer import Scorer  # noqa: E402
from spacy.tokens import DocBin  # noqa: E402
from spacy.training import Example  # noqa: E402

from gliclass_integrations.core import select_examples  # noqa: E402

LABELS = ["positive", "negative", "sports"]
TEXTS = [
    "i love this product", "the election results were announced today", "our team won the match last night",
    "terrible service and very slow shipping", "great food friendly staff nice place",
]


def make_nlp(checkpoint, **config):
    nlp = spacy.blank("en")
    nlp.add_pipe("gliclass", config={"model": str(checkpoint), "labels": LABELS, **config})
    return nlp


@pytest.fixture(scope="module")
def own_checkpoint(tmp_path_factory, tiny_checkpoint) -> Path:
    """A private copy of the tiny checkpoint, which a test may delete."""
    target = tmp_path_factory.mktemp("own") / "checkpoint"
    shutil.copytree(tiny_checkpoint, target)
    return target


@pytest.mark.parametrize("multi_label", [True, False])
def test_cats_hold_every_label_with_the_core_scores(tiny_checkpoint, tiny_model, multi_label):
    nlp = make_nlp(tiny_checkpoint, multi_label=multi_label)
    expected = tiny_model.predict_proba(TEXTS, LABELS, multi_label=multi_label)
    for text, row in zip(TEXTS, expected):
        cats = nlp(text).cats
        assert list(cats) == LABELS
        assert all(0.0 <= score <= 1.0 for score in cats.values())
        np.testing.assert_allclose(list(cats.values()), row, atol=FLOAT32)
        if not multi_label:
            assert sum(cats.values()) == pytest.approx(1.0, abs=1e-5)


def test_hierarchical_labels_prompt_descriptions_and_examples(tiny_checkpoint, tiny_model):
    tree = {"sentiment": ["positive", "negative"], "topic": ["sports", "politics"]}
    options = {
        "prompt": "Classify the text.", "label_descriptions": {"topic.sports": "games and teams"},
        "examples": [{"text": "we lost the final", "labels": ["sentiment.negative", "topic.sports"]}],
    }
    nlp = spacy.blank("en")
    nlp.add_pipe("gliclass", config={"model": str(tiny_checkpoint), "labels": tree, **options})
    cats = nlp(TEXTS[2]).cats
    assert list(cats) == ["sentiment.positive", "sentiment.negative", "topic.sports", "topic.politics"]
    expected = tiny_model.predict_proba(TEXTS[2], tree, **options)[0]
    np.testing.assert_allclose(list(cats.values()), expected, atol=FLOAT32)


def test_cats_of_other_components_are_kept(tiny_checkpoint):
    nlp = make_nlp(tiny_checkpoint)
    doc = nlp.make_doc(TEXTS[0])
    doc.cats["from_elsewhere"] = 1.0
    assert set(nlp.get_pipe("gliclass")(doc).cats) == {"from_elsewhere", *LABELS}


def test_pipe_batches_across_docs_and_equals_one_by_one(tiny_checkpoint):
    nlp = make_nlp(tiny_checkpoint)
    texts = [f"{TEXTS[i % len(TEXTS)]} number {i}" for i in range(50)]
    one_by_one = [nlp(text).cats for text in texts]
    rows: list[int] = []
    network = nlp.get_pipe("gliclass").load_model().network
    hook = network.register_forward_pre_hook(lambda _module, args: rows.append(args[0].input_ids.shape[0]))
    try:
        batched = [doc.cats for doc in nlp.pipe(texts, batch_size=16)]
    finally:
        hook.remove()
    assert rows == [16, 16, 16, 2]  # one forward pass per spaCy batch (16 short docs fit the token budget)
    rows.clear()
    capped = make_nlp(tiny_checkpoint, batch_size=5)
    hook = capped.get_pipe("gliclass").load_model().network.register_forward_pre_hook(
        lambda _module, args: rows.append(args[0].input_ids.shape[0])
    )
    try:
        list(capped.pipe(texts[:16], batch_size=16))
    finally:
        hook.remove()
    assert rows == [5, 5, 5, 1]  # a batch_size caps the rows of a forward pass
    for single, many in zip(one_by_one, batched):
        np.testing.assert_allclose(list(single.values()), list(many.values()), atol=FLOAT32)  # float32 batch rounding


def test_per_call_labels_and_prompt_through_component_cfg(tiny_checkpoint, tiny_model):
    nlp = make_nlp(tiny_checkpoint)
    other = ["politics", "technology"]
    cfg = {"gliclass": {"labels": other, "prompt": "What is the topic?"}}
    docs = list(nlp.pipe(TEXTS[:2], component_cfg=cfg))
    expected = tiny_model.predict_proba(TEXTS[:2], other, prompt="What is the topic?")
    for doc, row in zip(docs, expected):
        assert list(doc.cats) == other
        np.testing.assert_allclose(list(doc.cats.values()), row, atol=FLOAT32)
    assert list(nlp(TEXTS[0], component_cfg=cfg).cats) == other
    assert nlp.get_pipe("gliclass").labels == tuple(LABELS)


def test_saved_pipeline_is_self_contained_and_loads_offline(tmp_path, own_checkpoint, monkeypatch):
    prompt = "Total in ${x}, not $5: {{ raw }}"
    nlp = make_nlp(own_checkpoint, prompt=prompt, label_descriptions={"sports": "costs ${price}"})
    before = [nlp(text).cats for text in TEXTS]
    nlp.to_disk(tmp_path / "pipeline")
    config_text = (tmp_path / "pipeline" / "config.cfg").read_text(encoding="utf-8")
    assert "${x}" not in config_text and "${price}" not in config_text
    saved = sorted(path.name for path in (tmp_path / "pipeline" / "gliclass" / "model").iterdir())
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= set(saved)

    shutil.rmtree(own_checkpoint)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = spacy.load(tmp_path / "pipeline")
    component = loaded.get_pipe("gliclass")
    assert component.prompt == prompt and component.label_descriptions == {"sports": "costs ${price}"}
    assert [loaded(text).cats for text in TEXTS] == before

    loaded.to_disk(tmp_path / "again")  # saving a loaded pipeline works too, also onto itself
    loaded.to_disk(tmp_path / "pipeline")
    assert spacy.load(tmp_path / "again").get_pipe("gliclass").prompt == prompt


def test_bytes_round_trip(tiny_checkpoint):
    nlp = make_nlp(tiny_checkpoint, multi_label=False, prompt="Is it ${x}?")
    before = [nlp(text).cats for text in TEXTS]
    data = nlp.to_bytes()
    other = spacy.blank("en")
    other.add_pipe("gliclass", config={"model": "nowhere/not-a-model", "multi_label": False})
    other.from_bytes(data)
    assert other.get_pipe("gliclass").prompt == "Is it ${x}?"
    assert [other(text).cats for text in TEXTS] == before


def gold_examples(nlp):
    golds = [{"positive": 1.0, "negative": 0.0, "sports": 0.0}, {"positive": 0.0, "negative": 0.0, "sports": 0.0},
             {"positive": 1.0, "negative": 0.0, "sports": 1.0}, {"positive": 0.0, "negative": 1.0, "sports": 0.0},
             {"positive": 1.0, "negative": 0.0, "sports": 0.0}]
    return [Example.from_dict(nlp.make_doc(text), {"cats": cats}) for text, cats in zip(TEXTS, golds)]


@pytest.mark.parametrize("multi_label", [True, False])
def test_evaluate_reports_cats_scores(tiny_checkpoint, multi_label):
    nlp = make_nlp(tiny_checkpoint, multi_label=multi_label, threshold=0.7)
    scores = nlp.evaluate(gold_examples(nlp))
    predicted = [Example(nlp(eg.text), eg.reference) for eg in gold_examples(nlp)]
    expected = Scorer.score_cats(predicted, "cats", labels=LABELS, multi_label=multi_label, threshold=0.7)
    for key in ("cats_score", "cats_micro_f", "cats_macro_auc", "cats_f_per_type"):
        assert scores[key] == expected[key]
    weights = nlp.get_pipe_meta("gliclass").default_score_weights
    assert weights["cats_score"] == 1.0 and "cats_micro_f" in weights


def test_spacy_evaluate_command_line(tmp_path, tiny_checkpoint):
    nlp = make_nlp(tiny_checkpoint)
    nlp.to_disk(tmp_path / "pipeline")
    DocBin(docs=[eg.reference for eg in gold_examples(nlp)]).to_disk(tmp_path / "dev.spacy")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-m", "spacy", "evaluate", str(tmp_path / "pipeline"), str(tmp_path / "dev.spacy"),
         "--output", str(tmp_path / "metrics.json")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert 0.0 <= metrics["cats_score"] <= 1.0 and "cats_f_per_type" in metrics


def test_factory_found_through_the_entry_point_without_heavy_imports(tiny_checkpoint):
    script = """
import sys
import spacy
nlp = spacy.blank("en")
assert nlp.has_factory("gliclass")
assert "gliclass_integrations.spacy" in sys.modules, "the entry point was not imported"
# thinc imports torch itself when it is installed; our core and transformers load on first use
heavy = {"transformers", "gliclass_integrations.core", "gliclass_integrations.spacy._component"} & set(sys.modules)
nlp.add_pipe("gliclass", config={"model": sys.argv[1], "labels": ["positive", "negative"]})
print(sorted(heavy), sorted(nlp("i love it").cats))
"""
    result = subprocess.run([sys.executable, "-c", script, str(tiny_checkpoint)], capture_output=True, text=True,
                            timeout=300, cwd=Path(tiny_checkpoint).parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "['negative',", "'positive']"]


def test_initialize_takes_labels_and_few_shot_examples_from_the_data(tiny_checkpoint):
    nlp = spacy.blank("en")
    component = nlp.add_pipe("gliclass", config={"model": str(tiny_checkpoint)})
    with pytest.raises(ValueError, match=r"has no labels.*initialize"):
        nlp("no labels yet")
    examples = gold_examples(nlp)
    nlp.initialize(lambda: examples)
    assert component.labels == tuple(LABELS) and component.examples is None

    component.initialize(lambda: examples, nlp=nlp, labels=["sports", "politics"], n_examples=1)
    assert component.labels == ("sports", "politics")
    assert component.examples == [{"text": TEXTS[2], "labels": ["sports"]}]  # the only one with those labels
    with pytest.raises(ValueError, match=r"'n_examples'=2 but only 1 texts .* carry one of the labels"):
        component.initialize(lambda: examples, nlp=nlp, labels=["sports", "politics"], n_examples=2)

    # the core's stratified draw: with three labels and three examples, every label is shown
    component.initialize(lambda: examples, nlp=nlp, labels=LABELS, n_examples=3, seed=4)
    chosen = component.examples
    assert {label for example in chosen for label in example["labels"]} == set(LABELS)
    assert all(example["labels"] == [label for label in LABELS if label in example["labels"]] for example in chosen)
    texts, row_labels = zip(*[(eg.reference.text, [k for k, v in eg.reference.cats.items() if v >= 0.5])
                              for eg in examples])
    assert chosen == select_examples(texts, row_labels, 3, LABELS, random_state=4)  # the estimator's selector too
    assert list(nlp(TEXTS[0]).cats) == LABELS


def test_initialize_without_any_labels_fails_clearly(tiny_checkpoint):
    nlp = spacy.blank("en")
    nlp.add_pipe("gliclass", config={"model": str(tiny_checkpoint)})
    with pytest.raises(ValueError, match="has no labels"):
        nlp.initialize()


def test_sentence_scope(tiny_checkpoint, tiny_model):
    sentences = ["i love this product.", "the battery died after two days.", "great food!"]
    for multi_label in (True, False):
        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
        nlp.add_pipe("gliclass", config={"model": str(tiny_checkpoint), "labels": LABELS, "scope": "sents",
                                         "multi_label": multi_label})
        doc = nlp(" ".join(sentences))
        sents = list(doc.sents)
        per_sentence = tiny_model.predict_proba([s.text for s in sents], LABELS, multi_label=multi_label)
        for sent, row in zip(sents, per_sentence):
            assert list(sent._.gliclass_cats) == LABELS
            np.testing.assert_allclose(list(sent._.gliclass_cats.values()), row, atol=FLOAT32)
        if multi_label:
            expected = per_sentence.max(axis=0)
        else:
            weights = np.array([len(s) for s in sents], dtype=float)[:, None]
            expected = (per_sentence * weights).sum(axis=0) / weights.sum()
            assert sum(doc.cats.values()) == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(list(doc.cats.values()), expected, atol=FLOAT32)


def test_sentence_scope_needs_sentence_boundaries_and_the_error_handler_sees_it(tiny_checkpoint):
    nlp = make_nlp(tiny_checkpoint, scope="sents")
    assert "sentencizer" not in nlp.pipe_names
    with pytest.raises(ValueError, match=r"no sentence boundaries.*sentencizer"):
        nlp("First sentence. Second one.")
    seen = []
    nlp.set_error_handler(lambda name, component, docs, error: seen.append((name, len(docs), type(error))))
    assert list(nlp.pipe(["One. Two.", "Three. Four."], batch_size=2)) == []
    assert seen == [("gliclass", 2, ValueError)]
    assert "sentencizer" not in nlp.pipe_names


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"scope": "para"}, "'scope' must be 'doc' or 'sents'"),
        ({"threshold": 2}, "'threshold' must be a number from 0 to 1"),
        ({"batch_size": 0}, "'batch_size' must be a positive integer"),
        ({"device": "gpu"}, "use 'cuda'"),
        ({"dtype": "int8"}, "'dtype' must be"),
        ({"labels": ["a", "a"]}, "repeats the label 'a'"),
        ({"examples": [{"text": "x"}]}, "has no 'labels'"),
        ({"label_descriptions": {"sport": "games"}}, "description for 'sport', which is not among the labels"),
    ],
)
def test_bad_settings_are_named(tiny_checkpoint, config, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make_nlp(tiny_checkpoint, **config)


def test_device_null_follows_thinc(tiny_checkpoint, monkeypatch):
    import thinc.util

    component = make_nlp(tiny_checkpoint).get_pipe("gliclass")
    assert component.load_model().device.type == "cpu"
    monkeypatch.setattr(thinc.util, "get_torch_default_device", lambda: "device chosen by thinc")
    assert component._torch_device() == "device chosen by thinc"
    assert make_nlp(tiny_checkpoint, device="cpu").get_pipe("gliclass")._torch_device() == "cpu"


def test_frozen_in_a_training_config_beside_a_trainable_component(tmp_path, tiny_checkpoint):
    from spacy.lang.en import English
    from spacy.training.initialize import init_nlp
    from spacy.training.loop import train
    from thinc.api import Config

    nlp = spacy.blank("en")
    docs = []
    for text, tags in [("i love it", ["PRP", "VBP", "PRP"]), ("terrible service", ["JJ", "NN"])]:
        doc = nlp.make_doc(text)
        for token, tag in zip(doc, tags):
            token.tag_ = tag
        doc.cats = {"positive": float(text.startswith("i")), "negative": float(not text.startswith("i"))}
        docs.append(doc)
    DocBin(docs=docs * 3).to_disk(tmp_path / "data.spacy")
    config = English.default_config.merge(Config().from_str(TRAINING_CONFIG, interpolate=False))
    config["paths"]["train"] = config["paths"]["dev"] = str(tmp_path / "data.spacy")
    config["components"]["gliclass"]["model"] = str(tiny_checkpoint)
    nlp = init_nlp(config)
    before = nlp("i love it").cats
    nlp, _ = train(nlp, None, stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert nlp("i love it").cats == before and list(before) == ["positive", "negative"]
    assert [token.tag_ for token in nlp("i love it")] == ["PRP", "VBP", "PRP"]


TRAINING_CONFIG = """
[paths]
train = null
dev = null

[nlp]
lang = "en"
pipeline = ["tok2vec", "tagger", "gliclass"]

[components]

[components.tok2vec]
factory = "tok2vec"

[components.tok2vec.model]
@architectures = "spacy.HashEmbedCNN.v2"
pretrained_vectors = null
width = 32
depth = 1
embed_size = 500
window_size = 1
maxout_pieces = 2
subword_features = true

[components.tagger]
factory = "tagger"

[components.tagger.model]
@architectures = "spacy.Tagger.v2"
nO = null

[components.tagger.model.tok2vec]
@architectures = "spacy.Tok2VecListener.v1"
width = 32

[components.gliclass]
factory = "gliclass"
labels = ["positive", "negative"]
multi_label = false

[corpora]

[corpora.train]
@readers = "spacy.Corpus.v1"
path = ${paths.train}

[corpora.dev]
@readers = "spacy.Corpus.v1"
path = ${paths.dev}

[training]
frozen_components = ["gliclass"]
max_steps = 4
eval_frequency = 2

[training.batcher]
@batchers = "spacy.batch_by_words.v1"
size = 100
"""


def test_pickle_holds_settings_not_the_model(tiny_checkpoint):
    import pickle

    nlp = make_nlp(tiny_checkpoint, prompt="Is it ${x}?")
    component = nlp.get_pipe("gliclass")
    before = nlp(TEXTS[0]).cats
    data = pickle.dumps(component)
    assert len(data) < 10_000
    copy = pickle.loads(data)
    assert copy.name == "gliclass" and copy.labels == tuple(LABELS) and copy.prompt == "Is it ${x}?"
    assert copy(nlp.make_doc(TEXTS[0])).cats == before


def test_nothing_loads_until_a_doc_is_processed():
    nlp = spacy.blank("en")
    component = nlp.add_pipe("gliclass", config={"model": "nowhere/not-a-model", "labels": ["a"]})
    nlp.add_pipe("sentencizer")  # spaCy probes earlier components for a `model` (listeners): no load there
    assert not hasattr(component, "model") and component._models == {}
    assert nlp.pipe_labels["gliclass"] == ["a"]


def test_the_scorer_is_registered_and_replaceable(tiny_checkpoint):
    from spacy.util import registry

    from gliclass_integrations.core import DEFAULT_MODEL
    from gliclass_integrations.spacy import DEFAULT_CONFIG, gliclass_score

    assert DEFAULT_CONFIG["model"] == DEFAULT_MODEL  # kept in step with the core's default by hand
    assert registry.scorers.get("gliclass.scorer.v1")() is gliclass_score
    nlp = make_nlp(tiny_checkpoint)
    assert nlp.config["components"]["gliclass"]["scorer"] == {"@scorers": "gliclass.scorer.v1"}
    assert "cats_macro_auc" in nlp.evaluate(gold_examples(nlp))

    calls = []

    @registry.scorers("test.recording_scorer.v1")
    def make_recording_scorer():
        def record(examples, **settings):
            calls.append(settings)
            return {"recorded": 1.0}

        return record

    custom = make_nlp(tiny_checkpoint, threshold=0.3, scorer={"@scorers": "test.recording_scorer.v1"})
    assert custom.get_pipe("gliclass").score(gold_examples(custom)) == {"recorded": 1.0}
    assert calls == [{"labels": tuple(LABELS), "multi_label": True, "threshold": 0.3}]


def test_long_docs_are_chunked_or_named_by_their_place_in_the_stream(tiny_checkpoint, tiny_model):
    long_text = "our team won the match last night after a long game " * 150
    chunked = make_nlp(tiny_checkpoint, long_texts="chunk")
    expected = tiny_model.predict_proba([long_text], LABELS, long_texts="chunk")[0]
    np.testing.assert_allclose(list(chunked(long_text).cats.values()), expected, atol=FLOAT32)
    truncating = make_nlp(tiny_checkpoint)
    texts = ["short", "short too", "still short", long_text]
    with pytest.warns(UserWarning, match=r"1 of 2 texts were shortened from the end \(doc 3 lost"):
        list(truncating.pipe(texts, batch_size=2))
