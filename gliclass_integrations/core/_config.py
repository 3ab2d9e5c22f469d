"""The inference-relevant fields of a GLiClass ``config.json``.

Field names and defaults follow the checkpoint format (inference spec §2.2), so a config written by
any GLiClass release reads the same way here. Only what changes scores is kept; training-only fields
are ignored. Every field that is kept is checked for its type and range before anything is built, and
a wrong one raises ``CheckpointError`` naming the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import CheckpointError, UnsupportedCheckpointError

SCORERS = ("simple", "weighted-dot", "mlp", "hopfield", "cross-attn")
POOLINGS = ("first", "last", "avg", "sum", "rms", "max", "abs_max", "abs_avg", "pass")
CLASS_TOKEN_POOLINGS = ("first", "average")
SUPPORTED_ARCHITECTURES = ("uni-encoder",)
KNOWN_ARCHITECTURES = (
    "uni-encoder", "bi-encoder", "bi-encoder-fused", "encoder-decoder", "encoder-decoder-cls", "decoder-kv",
)
BOOLEAN_FIELDS = (
    "embed_class_token", "extract_text_features", "prompt_first", "normalize_features", "use_lstm",
    "squeeze_layers", "use_segment_embeddings",
)
STRING_FIELDS = ("projector_hidden_act", "pooling_strategy", "class_token_pooling", "scorer_type")
SIZE_FIELDS = ("scorer_num_heads", "scorer_mlp_hidden_size")
ENCODER_SIZE_FIELDS = ("hidden_size", "d_model", "vocab_size", "num_hidden_layers", "num_layers",
                       "num_attention_heads", "num_heads")

# Decoder-only language models are refused as backbones. transformers' AutoModel runs them causally
# (each token sees only the tokens before it), while the reference runs the Llama, Mistral, Gemma and
# Qwen2 families bidirectionally through LLM2Vec (inference spec §5.1), which this package does not do.
# Detection: a model_type is decoder-only if it is listed below, or if transformers registers a causal-LM
# head for it but neither a masked-LM nor a sequence-to-sequence one, which is how it registers
# decoder-only LMs (so new ones are caught without updating the list); the few bidirectional encoders
# registered with a causal-LM head only are exempted. The config's own `is_decoder` is no signal: it is
# false in decoder-only LM configs too. Erring towards refusal is deliberate: a refused encoder gives a
# clear error, a decoder run as an encoder gives different scores silently.
DECODER_ONLY_MODEL_TYPES = frozenset({
    "llama", "mistral", "mixtral", "ministral", "gemma", "gemma2", "gemma3", "gemma3_text", "qwen2", "qwen2_moe",
    "qwen3", "qwen3_moe", "phi", "phi3", "gpt2", "gpt_neox", "gptj", "gpt_neo", "falcon", "opt", "bloom", "olmo",
    "olmo2", "starcoder2", "stablelm", "cohere", "smollm3", "modernbert-decoder",
})
BIDIRECTIONAL_WITH_CAUSAL_HEAD_ONLY = frozenset({"bert-generation", "xlnet"})


@dataclass(frozen=True)
class GLiClassConfig:
    """What a uni-encoder GLiClass checkpoint needs at inference time."""

    encoder_config: dict[str, Any]
    vocab_size: int
    class_token_index: int
    text_token_index: int
    example_token_index: int
    hidden_size: int
    projector_hidden_act: str = "gelu"
    pooling_strategy: str = "first"
    class_token_pooling: str = "first"
    embed_class_token: bool = True
    extract_text_features: bool = False
    prompt_first: bool = False
    scorer_type: str = "simple"
    scorer_num_heads: int = 16
    scorer_mlp_hidden_size: int = 1024
    normalize_features: bool = False
    use_lstm: bool = False
    squeeze_layers: bool = False
    encoder_layer_id: int = -1
    use_segment_embeddings: bool = False
    encoder_model_name: str | None = None

    @property
    def encoder_type(self) -> str:
        return self.encoder_config["model_type"]

    @property
    def encoder_hidden_size(self) -> int:
        return int(self.encoder_config.get("hidden_size") or self.encoder_config["d_model"])


@dataclass(frozen=True)
class _Fields:
    """Typed reads of one JSON object of config.json; a null field counts as absent."""

    values: dict[str, Any]
    source: str
    prefix: str = ""

    def invalid(self, name: str, expected: str) -> CheckpointError:
        return CheckpointError(
            f"{self.source}: '{self.prefix}{name}' must be {expected}, got {self.values.get(name)!r}."
        )

    def integer(self, name: str, minimum: int | None = 1) -> int | None:
        value = self.values.get(name)
        if value is None:
            return None
        if not _is_integer(value) or (minimum is not None and value < minimum):
            raise self.invalid(name, {1: "a positive integer", 0: "a non-negative integer"}.get(minimum, "an integer"))
        return value

    def boolean(self, name: str) -> bool | None:
        value = self.values.get(name)
        if value is not None and not isinstance(value, bool):
            raise self.invalid(name, "true or false")
        return value

    def string(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is not None and not isinstance(value, str):
            raise self.invalid(name, "a string")
        return value


def parse_config(raw: dict[str, Any], source: str = "config.json") -> GLiClassConfig:
    """Read and check the fields of a GLiClass ``config.json`` that inference depends on."""
    fields = _Fields(raw, source)
    _check_architecture(fields)
    encoder_config = _encoder_config(raw, source)
    encoder_hidden, encoder_vocab = _encoder_dims(_Fields(encoder_config, source, "encoder_config."))

    vocab_size = fields.integer("vocab_size") or encoder_vocab
    if vocab_size is None:
        raise CheckpointError(f"{source}: no 'vocab_size' in the config or in its encoder_config.")
    values: dict[str, Any] = {
        "encoder_config": encoder_config,
        "vocab_size": vocab_size,
        **_token_indexes(fields, vocab_size),
        "hidden_size": fields.integer("hidden_size") or encoder_hidden,
        "encoder_model_name": fields.string("encoder_model_name"),
    }
    for name in SIZE_FIELDS:
        values[name] = fields.integer(name)
    for name in BOOLEAN_FIELDS:
        values[name] = fields.boolean(name)
    for name in STRING_FIELDS:
        values[name] = fields.string(name)
    values["encoder_layer_id"] = fields.integer("encoder_layer_id", minimum=None)
    config = GLiClassConfig(**{name: value for name, value in values.items() if value is not None})
    _check(config, source)
    return config


def _check_architecture(fields: _Fields) -> None:
    source = fields.source
    architecture = fields.string("architecture_type")
    if architecture is None:
        architecture = "uni-encoder"
    if architecture not in SUPPORTED_ARCHITECTURES:
        known = "a known" if architecture in KNOWN_ARCHITECTURES else "an unknown"
        raise UnsupportedCheckpointError(
            f"{source}: architecture_type {architecture!r} is {known} GLiClass architecture, but only "
            f"{', '.join(map(repr, SUPPORTED_ARCHITECTURES))} is supported by this version of "
            "gliclass-integrations."
        )
    if fields.boolean("use_calibrator"):
        raise UnsupportedCheckpointError(
            f"{source}: use_calibrator=true (a post-hoc calibrator, gliclass 0.1.21) is not supported yet; "
            "scores would differ from the reference without it."
        )


def _encoder_config(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """A copy of the nested backbone config, with the reference's default backbone type."""
    encoder_config = raw.get("encoder_config")
    if encoder_config is None:
        encoder_config = {"model_type": "deberta-v2"}  # the reference's default backbone config
    if not isinstance(encoder_config, dict):
        raise CheckpointError(f"{source}: 'encoder_config' must be an object, got {type(encoder_config).__name__}.")
    encoder_config = dict(encoder_config)
    encoder_config.setdefault("model_type", "deberta-v2")
    if not isinstance(encoder_config["model_type"], str):
        raise _Fields(encoder_config, source, "encoder_config.").invalid("model_type", "a string")
    _refuse_decoder_only(encoder_config["model_type"], source)
    return encoder_config


def _encoder_dims(fields: _Fields) -> tuple[int, int | None]:
    """The encoder's width and vocabulary size (None when not stored), after checking its size fields."""
    sizes = {name: fields.integer(name) for name in ENCODER_SIZE_FIELDS}
    hidden = sizes["hidden_size"] or sizes["d_model"]
    if hidden is None:
        raise CheckpointError(f"{fields.source}: encoder_config has neither 'hidden_size' nor 'd_model'.")
    return hidden, sizes["vocab_size"]


def _token_indexes(fields: _Fields, vocab_size: int) -> dict[str, int]:
    """The three structure token ids; -1 or absent means the reference's default, vocab_size + 0, 1, 2."""
    indexes = {}
    for offset, name in enumerate(("class_token_index", "text_token_index", "example_token_index")):
        value = fields.values.get(name)
        if value is None or (_is_integer(value) and value == -1):
            indexes[name] = vocab_size + offset
        elif _is_integer(value) and value >= 0:
            indexes[name] = value
        else:
            raise fields.invalid(name, "a token id (an integer >= 0, or -1 for the default)")
    # <<LABEL>> and <<SEP>> are embedded, so their rows must exist. <<EXAMPLE>> is not checked here:
    # checkpoints saved before few-shot examples have no such token, and their config gives it an id
    # past the table (see check_example_token).
    for name in ("class_token_index", "text_token_index"):
        if indexes[name] >= vocab_size:
            unset = " (its default: the field is not set)" if fields.values.get(name) in (-1, None) else ""
            raise CheckpointError(
                f"{fields.source}: '{name}' must be below vocab_size {vocab_size} (the rows of the embedding "
                f"table), got {indexes[name]}{unset}."
            )
    return indexes


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_decoder_only(model_type: str) -> bool:
    """Whether transformers' ``model_type`` is a decoder-only language model (see DECODER_ONLY_MODEL_TYPES)."""
    if model_type in DECODER_ONLY_MODEL_TYPES:
        return True
    if model_type in BIDIRECTIONAL_WITH_CAUSAL_HEAD_ONLY:
        return False
    from transformers.models.auto import modeling_auto as heads

    encoder_heads = (
        heads.MODEL_FOR_MASKED_LM_MAPPING_NAMES, heads.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
        heads.MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES,
    )
    return model_type in heads.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and not any(
        model_type in mapping for mapping in encoder_heads
    )


def _refuse_decoder_only(model_type: str, source: str) -> None:
    if is_decoder_only(model_type):
        raise UnsupportedCheckpointError(
            f"{source}: encoder model_type {model_type!r} is a decoder-only language model, which would run "
            "causally here (each token sees only the tokens before it). The reference gliclass runs the Llama, "
            "Mistral, Gemma and Qwen2 families with bidirectional attention through LLM2Vec, which this package "
            "does not do, so decoder-only backbones are refused."
        )


def check_example_token(config: GLiClassConfig, source: str) -> None:
    """Refuse an ``example_token_index`` past the embedding table, for a tokenizer that has <<EXAMPLE>>."""
    if config.example_token_index >= config.vocab_size:
        raise CheckpointError(
            f"{source}: 'example_token_index' must be below vocab_size {config.vocab_size} (the rows of the "
            f"embedding table), got {config.example_token_index}."
        )


def _check(config: GLiClassConfig, source: str) -> None:
    from transformers.activations import ACT2FN

    if config.projector_hidden_act not in ACT2FN:
        raise UnsupportedCheckpointError(
            f"{source}: projector_hidden_act {config.projector_hidden_act!r} is not an activation transformers knows."
        )
    _check_head(config, source)
    _check_encoder_layer_id(config, source)


def _check_encoder_layer_id(config: GLiClassConfig, source: str) -> None:
    """``encoder_layer_id`` indexes the hidden states, the embeddings' output first, as a Python index."""
    if config.encoder_layer_id == -1:
        return
    count = _hidden_state_count(config.encoder_config)
    if count is not None and not -count <= config.encoder_layer_id < count:
        raise CheckpointError(
            f"{source}: 'encoder_layer_id' must index the encoder's {count} hidden states (the embeddings and "
            f"{count - 1} layers), from {-count} to {count - 1}, got {config.encoder_layer_id}."
        )


def _hidden_state_count(encoder_config: dict[str, Any]) -> int | None:
    """Layers + 1, from encoder_config or else transformers' default for its type (None: type unknown)."""
    layers = encoder_config.get("num_hidden_layers") or encoder_config.get("num_layers")
    if layers is None:
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING

        if encoder_config["model_type"] not in CONFIG_MAPPING:
            return None  # refused when the backbone is built
        layers = CONFIG_MAPPING[encoder_config["model_type"]]().num_hidden_layers
    return layers + 1


def _check_head(config: GLiClassConfig, source: str) -> None:
    def unsupported(message: str) -> UnsupportedCheckpointError:
        return UnsupportedCheckpointError(f"{source}: {message}")

    if config.scorer_type not in SCORERS:
        raise unsupported(f"scorer_type {config.scorer_type!r} is not one of {', '.join(SCORERS)}.")
    if config.pooling_strategy not in POOLINGS:
        raise unsupported(f"pooling_strategy {config.pooling_strategy!r} is not one of {', '.join(POOLINGS)}.")
    if config.class_token_pooling not in CLASS_TOKEN_POOLINGS:
        raise unsupported(
            f"class_token_pooling {config.class_token_pooling!r} is not one of {', '.join(CLASS_TOKEN_POOLINGS)}."
        )
    if (config.scorer_type == "cross-attn") != (config.pooling_strategy == "pass"):
        raise unsupported(
            "the 'cross-attn' scorer needs pooling_strategy='pass' (every text token) and 'pass' pooling works "
            f"only with the 'cross-attn' scorer; got scorer_type={config.scorer_type!r}, "
            f"pooling_strategy={config.pooling_strategy!r}."
        )
    if config.scorer_type == "cross-attn" and config.hidden_size % config.scorer_num_heads:
        raise CheckpointError(
            f"{source}: hidden_size {config.hidden_size} is not divisible by scorer_num_heads "
            f"{config.scorer_num_heads}."
        )
    if (config.scorer_type != "simple" or config.use_lstm) and config.hidden_size != config.encoder_hidden_size:
        raise unsupported(
            f"hidden_size {config.hidden_size} differs from the encoder width {config.encoder_hidden_size}; only "
            "the 'simple' scorer without LSTM works with that, in the reference implementation too."
        )
    if config.use_lstm and config.encoder_hidden_size % 2:
        raise CheckpointError(f"{source}: use_lstm needs an even encoder width, got {config.encoder_hidden_size}.")
    ids = {config.class_token_index, config.text_token_index, config.example_token_index}
    if len(ids) != 3:
        raise CheckpointError(
            f"{source}: class_token_index, text_token_index and example_token_index must differ, got "
            f"{config.class_token_index}, {config.text_token_index}, {config.example_token_index}."
        )
