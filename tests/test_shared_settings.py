"""Every entry point accepts and refuses the same values for the settings they share.

The checks live once in the core (``gliclass_integrations.core``: ``check_dtype``, ``check_device``,
``check_threshold``, ``check_positive_int``, ``check_descriptions``, ``flatten_labels``); this test
holds each adapter to them through its own front door: the core's ``from_pretrained`` and scoring
calls, ``ZeroShotClassifier`` (fit, then predict), the spaCy component (``add_pipe``, then a doc) and
the command line. A value an adapter cannot express (a NumPy scalar in a spaCy config, a dict on the
command line) is left out for that adapter only.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from gliclass_integrations import GLiClass
from gliclass_integrations.core import DTYPE_ALIASES, DTYPE_NAMES

LABELS = ["sports", "politics", "tech"]

# setting -> [(value, accepted)]
VALUES = {
    "threshold": [
        (0, True), (0.5, True), (1.0, True), (np.float32(0.25), True),
        (-0.1, False), (1.5, False), (math.nan, False), (True, False), ("0.5", False), (None, False),
    ],
    "batch_size": [
        (None, True), (1, True), (64, True), (np.int64(8), True),
        (0, False), (-1, False), (2.5, False), (True, False), ("8", False),
    ],
    "max_length": [
        (64, True), (512, True), (np.int64(64), True),
        (0, False), (-5, False), (3.0, False), (True, False), (None, False), ("64", False),
    ],
    "dtype": [
        *((name, True) for name in DTYPE_NAMES), *((alias, True) for alias in DTYPE_ALIASES), ("BF16", True),
        (None, True),
        ("int8", False), ("float", False), ("", False), (32, False),
    ],
    "device": [
        ("cpu", True), ("auto", True), ("cpu:0", True), (None, True),
        ("gpu", False), ("GPU", False), ("", False), ("cuda:x", False), ("CPU", False), (3, False),
    ],
    "label_descriptions": [
        (None, True), ({}, True), ({"sports": "games and matches"}, True),
        ({"cooking": "food"}, False), ({"sports": ""}, False), ({"sports": 3}, False), (["sports"], False),
        ({3: "x"}, False),
    ],
    "missing": [("raise", True), ("skip", True), ("drop", False), (None, False)],
    "long_texts": [("truncate", True), ("chunk", True), ("split", False), (None, False)],
    "chunk_aggregation": [("max", True), ("mean", True), ("median", False), (None, False)],
    "labels": [
        (["sports", "politics"], True), (("sports", "tech"), True), (np.array(["sports", "tech"]), True),
        (pd.Index(["sports", "tech"]), True), (pd.Series(["sports", "tech"]), True),
        ({"topic": ["sports", "tech"]}, True),
        ({"sports", "tech"}, False), ("sports", False), ([], False), (["sports", "sports"], False),
        (["sports", 3], False), (np.array([["sports", "tech"]]), False), (["sports", " "], False),
    ],
}


# -- each adapter's front door: raise if the value is refused -----------------------------------------------


def through_core(checkpoint, setting, value):
    if setting in ("batch_size", "max_length", "dtype", "device"):
        GLiClass.from_pretrained(checkpoint, **{setting: value}).predict_proba(["a text"], LABELS)
        return
    model = GLiClass.from_pretrained(checkpoint)
    if setting == "threshold":
        model.classify(["a text"], LABELS, threshold=value)
    elif setting == "labels":
        model.predict_proba(["a text"], value)
    else:
        model.predict_proba(["a text"], LABELS, **{setting: value})


def through_sklearn(checkpoint, setting, value):
    from gliclass_integrations import ZeroShotClassifier

    params = {"labels": LABELS, "multi_label": True, setting: value}
    ZeroShotClassifier(str(checkpoint), **params).fit(["a text"]).predict(["a text"])


def through_spacy(checkpoint, setting, value):
    spacy = pytest.importorskip("spacy")
    nlp = spacy.blank("en")
    nlp.add_pipe("gliclass", config={"model": str(checkpoint), "labels": LABELS, setting: value})
    nlp("a text")


def through_cli(checkpoint, setting, value, tmp_path):
    from gliclass_integrations.cli import main

    if setting == "labels":
        arguments = ["--labels", ",".join(value)]
    else:
        arguments = ["--labels", ",".join(LABELS), "--" + setting.replace("_", "-"), str(value)]
    source = tmp_path / "input.csv"
    source.write_text("text\na text\n")
    try:
        code = main(["classify", str(source), "--model", str(checkpoint), "-o", str(tmp_path / "out.csv"), *arguments])
    except SystemExit as stop:  # argparse refuses what its type= cannot read
        code = stop.code
    if code != 0:
        raise ValueError(f"exit {code}")


def in_a_spacy_config(setting, value) -> bool:
    """Config values are JSON: no NumPy or pandas objects, sets or tuples (and NaN is not equal to itself).
    A doc always has its text, so the component has no ``missing`` setting."""
    if setting == "missing" or isinstance(value, (np.generic, np.ndarray, pd.Index, pd.Series, set, tuple)):
        return False
    try:
        return json.loads(json.dumps(value)) == value
    except (TypeError, ValueError):
        return False


def on_a_command_line(setting, value) -> bool:
    """Every value is text there: a str stands for itself only where the setting is text."""
    if setting == "label_descriptions":
        return False  # no option for them
    if setting == "labels":
        return isinstance(value, list) and all(isinstance(label, str) and "," not in label for label in value)
    if isinstance(value, (bool, np.generic)):
        return False
    text_settings = ("dtype", "device", "missing", "long_texts", "chunk_aggregation")
    return isinstance(value, str if setting in text_settings else (int, float))


FRONT_DOORS = {"core": through_core, "sklearn": through_sklearn, "spacy": through_spacy, "cli": through_cli}
EXPRESSIBLE = {"spacy": in_a_spacy_config, "cli": on_a_command_line}
CASES = [
    pytest.param(adapter, setting, value, accepted, id=f"{adapter}-{setting}={value!r}")
    for adapter in FRONT_DOORS
    for setting, values in VALUES.items()
    for value, accepted in values
    if EXPRESSIBLE.get(adapter, lambda *_: True)(setting, value)
]


@pytest.mark.parametrize(("adapter", "setting", "value", "accepted"), CASES)
def test_every_adapter_accepts_and_refuses_the_same_values(adapter, setting, value, accepted, tiny_checkpoint,
                                                           tmp_path, capsys):
    arguments = (tiny_checkpoint, setting, value, tmp_path) if adapter == "cli" else (tiny_checkpoint, setting, value)
    try:
        FRONT_DOORS[adapter](*arguments)
    except (ValueError, TypeError) as error:  # spaCy's ConfigValidationError is a ValueError
        assert not accepted, f"{adapter} refused {setting}={value!r}: {error}"
        return
    assert accepted, f"{adapter} accepted {setting}={value!r}"


@pytest.mark.parametrize(
    ("setting", "value", "reason"),
    [
        ("dtype", "int8", " must be one of 'auto', 'float32', 'bfloat16', 'float16', 'float64'"),
        ("device", "gpu", "='gpu' is not a torch device; use 'cuda'"),
        ("threshold", 1.5, " must be a number from 0 to 1, got 1.5."),
        ("batch_size", 0, " must be a positive integer or None, got 0."),
        ("label_descriptions", {"cooking": "food"}, " has a description for 'cooking', which is not among the labels"),
    ],
)
def test_each_adapter_gives_the_cores_reason_under_its_own_name(setting, value, reason, tiny_checkpoint, tmp_path,
                                                                 capsys):
    import re

    from gliclass_integrations import ZeroShotClassifier

    spacy = pytest.importorskip("spacy")
    with pytest.raises((ValueError, TypeError), match="^" + re.escape(f"ZeroShotClassifier: {setting}{reason}")):
        ZeroShotClassifier(str(tiny_checkpoint), labels=LABELS, multi_label=True, **{setting: value}).fit(["a"])
    config = {"model": str(tiny_checkpoint), "labels": LABELS, setting: value}
    with pytest.raises((ValueError, TypeError), match=re.escape(f"gliclass component 'gliclass': '{setting}'{reason}")):
        spacy.blank("en").add_pipe("gliclass", config=config)
    if setting != "label_descriptions":
        with pytest.raises(ValueError):
            through_cli(tiny_checkpoint, setting, value, tmp_path)
        assert f"error: --{setting.replace('_', '-')}{reason}" in capsys.readouterr().err


def through_pandas(checkpoint, setting, value):
    import gliclass_integrations.pandas  # noqa: F401  (registers the accessors)

    pd.Series(["a text"]).gliclass.scores(LABELS, model=str(checkpoint), **{setting: value})


@pytest.mark.parametrize("adapter", [*FRONT_DOORS, "pandas"])
def test_every_adapter_loads_the_model_in_the_dtype_asked_for(adapter, tiny_checkpoint, tmp_path, monkeypatch,
                                                              capsys):
    import torch

    from gliclass_integrations.core import clear_model_cache
    from gliclass_integrations.errors import SlowCpuModeWarning

    loaded = []
    load = GLiClass.from_pretrained

    def spy(cls, *args, **kwargs):
        loaded.append(load(*args, **kwargs))
        return loaded[-1]

    monkeypatch.setattr(GLiClass, "from_pretrained", classmethod(spy))
    clear_model_cache()  # the estimator, spaCy and pandas load through the process-wide registry
    front_door = through_pandas if adapter == "pandas" else FRONT_DOORS[adapter]
    arguments = (tiny_checkpoint, "dtype", "BF16") + ((tmp_path,) if adapter == "cli" else ())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SlowCpuModeWarning)  # slow on CPUs without bf16, still bf16
        front_door(*arguments)
    assert [model.dtype for model in loaded] == [torch.bfloat16]
    clear_model_cache()
