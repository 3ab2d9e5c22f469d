"""Our scores against the reference pipeline (gliclass 0.1.21, batch_size=1).

Every encoder family × every head layout × every input scenario, in float64 (where any difference in
what is computed shows, tolerances.FLOAT64) and in float32 (what users run; the two
implementations round differently, tolerances.FLOAT32). Where the reference crashes, the oracle is
patched to the documented intended behaviour (``checkpoints.patch_reference``, docs/parity.md).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from checkpoints import ENCODERS, HEADS, load_reference
from tolerances import FLOAT32, FLOAT64

TOLERANCE = {"float64": FLOAT64, "float32": FLOAT32}

TEXTS = [
    "i love this product and would buy it again",
    "our team won the match last night after a long game",
    "the election results were announced today",
]
LABELS = ["positive", "negative", "sports", "politics"]
TREE = {"sentiment": ["positive", "negative"], "topic": {"news": ["politics", "business"], "sports": "match"}}
DESCRIPTIONS = {"positive": "expresses approval", "politics": "about government and elections"}
EXAMPLES = [
    {"text": "great food friendly staff", "labels": ["positive"]},
    {"text": "stocks fell sharply", "labels": ["negative", "politics"]},
]
SCENARIOS = {
    "plain": {},
    "prompt": {"prompt": "classify the sentiment of this review:"},
    "per-text-prompts": {"prompt": ["what is the topic of the text", "classify", "what is the topic"]},
    "examples": {"examples": EXAMPLES},
    "per-text-examples": {"examples": [EXAMPLES, None, EXAMPLES[1:]]},
    "hierarchical": {"labels": TREE},
    "single-label": {"multi_label": False},
    "per-text-labels": {"labels": [["positive", "negative"], ["sports", "politics", "business", "quality"], ["price"]]},
    "descriptions": {"label_descriptions": DESCRIPTIONS},
}


def _flatten(scores, prefix=""):
    for key, value in scores.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            yield from _flatten(value, name)
        else:
            yield name, value


def _reference_pipeline(path, head, dtype):
    from gliclass import ZeroShotClassificationPipeline

    model, tokenizer = load_reference(path, HEADS[head])  # patched where the reference crashes
    model = model.to(getattr(torch, dtype))
    pipeline = ZeroShotClassificationPipeline(model, tokenizer, device="cpu", progress_bar=False)
    if dtype == "float64":
        keep_activation_dtype(pipeline)
    return pipeline


class _LogitsKeepTheirDtype(torch.Tensor):
    def float(self):
        return self


def keep_activation_dtype(pipeline) -> None:
    """The reference casts logits to float32 (``.float()``) before its sigmoid or softmax, which would
    round float64 scores to float32 (about 1e-7) and hide smaller differences: keep them in float64."""
    postprocess = pipeline.pipe._postprocess_logits

    def in_logits_dtype(logits, *args, **kwargs):
        return postprocess(logits.as_subclass(_LogitsKeepTheirDtype), *args, **kwargs)

    pipeline.pipe._postprocess_logits = in_logits_dtype


_PIPELINES: dict = {}


def reference_scores(path, head, scenario, dtype="float32"):
    key = (str(path), head, dtype)
    if key not in _PIPELINES:
        _PIPELINES[key] = _reference_pipeline(path, head, dtype)
    pipeline = _PIPELINES[key]
    arguments = dict(SCENARIOS[scenario])
    labels = arguments.pop("labels", LABELS)
    multi_label = arguments.pop("multi_label", True)
    descriptions = arguments.pop("label_descriptions", None)
    texts = TEXTS
    if descriptions:  # docs/parity.md: descriptions go before the text as "label: description" pairs
        texts = [
            " ".join(f"{label}: {descriptions[label]}" for label in LABELS if label in descriptions) + " " + text
            for text in TEXTS
        ]
    output = pipeline(
        texts, labels, threshold=0.0, batch_size=1, return_hierarchical=True,
        classification_type="multi-label" if multi_label else "single-label", **arguments,
    )
    return [np.array([score for _, score in _flatten(row)], dtype=np.float64) for row in output]


def our_scores(model, scenario):
    arguments = dict(SCENARIOS[scenario])
    labels = arguments.pop("labels", LABELS)
    scores = model.predict_proba(TEXTS, labels, **arguments)
    return list(scores)


PARITY_HEADS = sorted(HEADS)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("head", PARITY_HEADS)
@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_scores_equal_reference(encoder, head, scenario, dtype, make_checkpoint, load_model):
    path = make_checkpoint(encoder, head)
    expected = reference_scores(path, head, scenario, dtype)
    actual = our_scores(load_model(encoder, head, dtype=dtype), scenario)
    assert len(actual) == len(expected)
    for row, (ours, theirs) in enumerate(zip(actual, expected)):
        assert ours.shape == theirs.shape, f"row {row}"
        np.testing.assert_allclose(ours, theirs, atol=TOLERANCE[dtype], rtol=0, err_msg=f"row {row}")
