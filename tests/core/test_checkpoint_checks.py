"""Checks made while a checkpoint loads: config field types and ranges, finite weights, decoder-only
backbones refused, and T5 checkpoints that store their embedding only as encoder.embed_tokens."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from tolerances import FLOAT64

from gliclass_integrations import GLiClass
from gliclass_integrations.core._config import is_decoder_only, parse_config
from gliclass_integrations.errors import CheckpointError, UnsupportedCheckpointError

TEXTS = ["i love this product", "the election results were announced today"]
LABELS = ["positive", "negative", "politics"]
NOT_WEIGHTS = b"\x00" * 64  # any attempt to read these fails with "cannot read the weights"


def read_config(path) -> dict:
    return json.loads((path / "config.json").read_text())


def write_config(path, config: dict) -> None:
    (path / "config.json").write_text(json.dumps(config))


@pytest.fixture
def config_only(tiny_checkpoint, tmp_path):
    """The tiny checkpoint's config.json and tokenizer, with unreadable weights: any check that passes
    would end in "cannot read the weights", so an error about the config shows the weights were never read."""
    target = tmp_path / "config-only"
    target.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(tiny_checkpoint / name, target / name)
    (target / "model.safetensors").write_bytes(NOT_WEIGHTS)
    return target


@pytest.fixture
def checkpoint_copy(tiny_checkpoint, tmp_path):
    return shutil.copytree(tiny_checkpoint, tmp_path / "checkpoint")


# -- 1. config fields: types and ranges --------------------------------------------------------------

# (field, bad value, what the message says the field must do). The tiny config has vocab_size 176, two encoder
# layers (three hidden states) and token ids 173-175.
BAD_FIELDS = [
    ("hidden_size", "big", "be a positive integer"),
    ("hidden_size", 0, "be a positive integer"),
    ("hidden_size", True, "be a positive integer"),
    ("hidden_size", 32.0, "be a positive integer"),
    ("vocab_size", -5, "be a positive integer"),
    ("scorer_num_heads", 0, "be a positive integer"),
    ("scorer_mlp_hidden_size", "1024", "be a positive integer"),
    ("class_token_index", "173", "be a token id (an integer >= 0, or -1 for the default)"),
    ("text_token_index", -2, "be a token id (an integer >= 0, or -1 for the default)"),
    ("example_token_index", 1.5, "be a token id (an integer >= 0, or -1 for the default)"),
    ("class_token_index", False, "be a token id (an integer >= 0, or -1 for the default)"),
    ("class_token_index", 176, "be below vocab_size 176 (the rows of the embedding table)"),
    ("text_token_index", 10**6, "be below vocab_size 176 (the rows of the embedding table)"),
    ("encoder_layer_id", 3, "index the encoder's 3 hidden states (the embeddings and 2 layers), from -3 to 2"),
    ("encoder_layer_id", -4, "index the encoder's 3 hidden states (the embeddings and 2 layers), from -3 to 2"),
    ("encoder_layer_id", "last", "be an integer"),
    ("encoder_layer_id", True, "be an integer"),
    ("embed_class_token", "false", "be true or false"),
    ("extract_text_features", 0, "be true or false"),
    ("prompt_first", "true", "be true or false"),
    ("normalize_features", 1, "be true or false"),
    ("use_lstm", "yes", "be true or false"),
    ("squeeze_layers", [], "be true or false"),
    ("use_segment_embeddings", 1.0, "be true or false"),
    ("use_calibrator", "false", "be true or false"),
    ("projector_hidden_act", 3, "be a string"),
    ("pooling_strategy", ["pass"], "be a string"),
    ("class_token_pooling", 1, "be a string"),
    ("scorer_type", {"name": "simple"}, "be a string"),
    ("architecture_type", 1, "be a string"),
    ("encoder_model_name", 5, "be a string"),
    ("encoder_config.model_type", 5, "be a string"),
    ("encoder_config.hidden_size", "32", "be a positive integer"),
    ("encoder_config.d_model", 0, "be a positive integer"),
    ("encoder_config.vocab_size", -1, "be a positive integer"),
    ("encoder_config.num_hidden_layers", 0, "be a positive integer"),
    ("encoder_config.num_layers", 2.5, "be a positive integer"),
    ("encoder_config.num_attention_heads", True, "be a positive integer"),
    ("encoder_config.num_heads", "4", "be a positive integer"),
]


@pytest.mark.parametrize(("field", "value", "expected"), BAD_FIELDS, ids=lambda item: repr(item)[:40])
def test_a_bad_config_field_is_named_before_the_weights_are_read(config_only, field, value, expected):
    config = read_config(config_only)
    if field.startswith("encoder_config."):
        config["encoder_config"][field.removeprefix("encoder_config.")] = value
    else:
        config[field] = value
    write_config(config_only, config)
    with pytest.raises(CheckpointError) as raised:
        GLiClass.from_pretrained(config_only, device="cpu")
    message = str(raised.value)
    assert message.startswith(f"{config_only}/config.json: '{field}' must {expected}, got {value!r}")
    assert "weights" not in message


def test_a_token_index_left_at_its_default_must_still_fit_the_embedding_table(config_only):
    config = read_config(config_only)
    del config["class_token_index"]
    write_config(config_only, config)
    with pytest.raises(CheckpointError) as raised:
        GLiClass.from_pretrained(config_only, device="cpu")
    assert str(raised.value) == (
        f"{config_only}/config.json: 'class_token_index' must be below vocab_size 176 (the rows of the embedding "
        "table), got 176 (its default: the field is not set)."
    )


def test_an_unknown_activation_is_refused_by_name(config_only):
    write_config(config_only, {**read_config(config_only), "projector_hidden_act": "wiggle"})
    with pytest.raises(UnsupportedCheckpointError, match=r"config\.json: projector_hidden_act 'wiggle' is not an"):
        GLiClass.from_pretrained(config_only, device="cpu")


def test_an_example_token_past_the_embedding_table_is_refused_when_the_tokenizer_has_it(checkpoint_copy):
    config = read_config(checkpoint_copy)
    assert config["example_token_index"] == config["vocab_size"] - 1
    write_config(checkpoint_copy, {**config, "vocab_size": config["example_token_index"]})
    with pytest.raises(CheckpointError) as raised:
        GLiClass.from_pretrained(checkpoint_copy, device="cpu")
    assert str(raised.value) == (
        f"{checkpoint_copy}/config.json: 'example_token_index' must be below vocab_size 175 (the rows of the "
        "embedding table), got 175."
    )


def test_valid_edge_values_are_accepted(tiny_checkpoint):
    config = read_config(tiny_checkpoint)
    for layer in (-3, -1, 0, 2):
        assert parse_config({**config, "encoder_layer_id": layer}).encoder_layer_id == layer
    # Checkpoints saved before few-shot examples: no <<EXAMPLE>> token, and an id just past the table.
    assert parse_config({**config, "example_token_index": 176}).example_token_index == 176
    assert parse_config({**config, "example_token_index": -1}).example_token_index == 176 + 2
    # null means "not set", as before: the defaults apply.
    parsed = parse_config({**config, "hidden_size": None, "prompt_first": None, "class_token_pooling": None})
    assert (parsed.hidden_size, parsed.prompt_first, parsed.class_token_pooling) == (32, False, "first")


def test_a_layer_count_left_out_of_encoder_config_is_transformers_default():
    config = {"vocab_size": 10, "class_token_index": 7, "text_token_index": 8, "example_token_index": 9,
              "encoder_config": {"model_type": "bert", "hidden_size": 32}}  # BERT's default: 12 layers
    assert parse_config({**config, "encoder_layer_id": -13}).encoder_layer_id == -13
    with pytest.raises(CheckpointError, match="13 hidden states"):
        parse_config({**config, "encoder_layer_id": 13})


# -- 2. weights must be finite ---------------------------------------------------------------------

HEAD_WEIGHT = "model.classes_projector.linear_1.weight"
ENCODER_WEIGHT = "model.encoder_model.encoder.layer.0.attention.self.query_proj.weight"


def spoil(path, name: str, values: list[float], dtype: torch.dtype | None = None) -> None:
    state = load_file(path / "model.safetensors")
    tensor = state[name].clone().to(dtype or state[name].dtype)
    tensor.view(-1)[: len(values)] = torch.tensor(values)
    state[name] = tensor
    save_file(state, path / "model.safetensors")


@pytest.mark.parametrize(
    ("name", "values", "dtype", "counts"),
    [
        (HEAD_WEIGHT, [float("nan")] * 3, None, "3 NaN values"),
        (HEAD_WEIGHT, [float("inf")], None, "1 infinite value"),
        (ENCODER_WEIGHT, [float("nan")] * 3, None, "3 NaN values"),
        (ENCODER_WEIGHT, [float("-inf"), 1.0, float("nan"), float("inf")], None, "1 NaN and 2 infinite values"),
        (ENCODER_WEIGHT, [float("inf")] * 2, torch.bfloat16, "2 infinite values"),
        (HEAD_WEIGHT, [float("nan")], torch.float8_e4m3fn, "1 NaN value"),
    ],
)
def test_weights_with_nan_or_infinity_are_refused_by_tensor(checkpoint_copy, name, values, dtype, counts):
    spoil(checkpoint_copy, name, values, dtype)
    with pytest.raises(CheckpointError) as raised:
        GLiClass.from_pretrained(checkpoint_copy, device="cpu")
    assert str(raised.value).startswith(f"{checkpoint_copy}: model.safetensors: {name} holds {counts};")


def test_the_first_bad_tensor_by_name_is_named(checkpoint_copy):
    spoil(checkpoint_copy, HEAD_WEIGHT, [float("nan")])
    spoil(checkpoint_copy, ENCODER_WEIGHT, [float("nan")])  # "model.classes..." sorts before "model.encoder..."
    with pytest.raises(CheckpointError, match=f"model.safetensors: {HEAD_WEIGHT} holds 1 NaN value;"):
        GLiClass.from_pretrained(checkpoint_copy, device="cpu")


# -- 3. decoder-only backbones -----------------------------------------------------------------------


@pytest.mark.parametrize("model_type", ["qwen2", "llama", "granite"])  # granite: caught by transformers' heads
def test_decoder_only_backbones_are_refused_before_the_weights_are_read(config_only, model_type):
    config = read_config(config_only)
    config["encoder_config"] = {
        "model_type": model_type, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 64, "vocab_size": config["vocab_size"], "is_decoder": False,
    }
    write_config(config_only, config)
    with pytest.raises(UnsupportedCheckpointError) as raised:
        GLiClass.from_pretrained(config_only, device="cpu")
    message = str(raised.value)
    assert message.startswith(
        f"{config_only}/config.json: encoder model_type {model_type!r} is a decoder-only language model, which "
        "would run causally here"
    )
    assert "with bidirectional attention through LLM2Vec" in message and "decoder-only backbones are refused" in message


@pytest.mark.parametrize(
    ("model_type", "decoder_only"),
    [
        ("deberta-v2", False), ("modernbert", False), ("bert", False), ("xlm-roberta", False), ("t5", False),
        ("mt5", False), ("umt5", False), ("electra", False), ("xlnet", False), ("bert-generation", False),
        ("not-a-model", False), ("qwen2", True), ("qwen3", True), ("mistral", True), ("gemma2", True),
        ("phi", True), ("gpt2", True), ("modernbert-decoder", True), ("olmo3", True),
    ],
)
def test_the_decoder_only_rule(model_type, decoder_only):
    assert is_decoder_only(model_type) is decoder_only


# -- 4. T5 with the embedding stored only as encoder.embed_tokens -----------------------------------


@pytest.fixture
def t5_checkpoint(make_checkpoint, tmp_path):
    return shutil.copytree(make_checkpoint("t5", "simple-first"), tmp_path / "t5")


SHARED = "model.encoder_model.shared.weight"
EMBED_TOKENS = "model.encoder_model.encoder.embed_tokens.weight"


def rename_weight(path, name: str, new_name: str | None) -> None:
    """Store weight ``name`` as ``new_name`` instead (None: drop it)."""
    state = load_file(path / "model.safetensors")
    tensor = state.pop(name)
    if new_name is not None:
        state[new_name] = tensor
    save_file(state, path / "model.safetensors")


def test_t5_fills_shared_from_encoder_embed_tokens(make_checkpoint, t5_checkpoint):
    original = make_checkpoint("t5", "simple-first")
    assert EMBED_TOKENS not in load_file(original / "model.safetensors")  # tied, so saved once, as shared
    rename_weight(t5_checkpoint, SHARED, EMBED_TOKENS)
    ours = GLiClass.from_pretrained(t5_checkpoint, device="cpu", dtype="float64")
    expected = GLiClass.from_pretrained(original, device="cpu", dtype="float64")
    assert ours.network.encoder_model.encoder.embed_tokens is ours.network.encoder_model.shared
    np.testing.assert_allclose(ours.logits(TEXTS, LABELS), expected.logits(TEXTS, LABELS), rtol=0, atol=FLOAT64)


def test_t5_without_any_embedding_names_shared_as_missing(t5_checkpoint):
    rename_weight(t5_checkpoint, SHARED, None)
    with pytest.raises(CheckpointError, match=r"encoder weights do not match its config \(missing: shared\.weight\)"):
        GLiClass.from_pretrained(t5_checkpoint, device="cpu")
