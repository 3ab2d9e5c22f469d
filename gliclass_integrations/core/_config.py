"""The inference-relevant fields of a GLiClass ``config.json``.

Field names and defaults follow the checkpoint format (inference spec §2.2), so a config written by
any GLiClass release reads the same way here. Only what changes scores is kept; training-only fields
are ignored.
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


def _encoder_dims(encoder_config: dict[str, Any]) -> tuple[int, int | None]:
    hidden = encoder_config.get("hidden_size", encoder_config.get("d_model"))
    if hidden is None:
        raise CheckpointError("config.json: encoder_config has neither 'hidden_size' nor 'd_model'.")
    return int(hidden), encoder_config.get("vocab_size")


def parse_config(raw: dict[str, Any], source: str = "config.json") -> GLiClassConfig:
    """Read and check the fields of a GLiClass ``config.json`` that inference depends on."""
    architecture = raw.get("architecture_type", "uni-encoder")
    if architecture not in SUPPORTED_ARCHITECTURES:
        known = "a known" if architecture in KNOWN_ARCHITECTURES else "an unknown"
        raise UnsupportedCheckpointError(
            f"{source}: architecture_type {architecture!r} is {known} GLiClass architecture, but only "
            f"{', '.join(map(repr, SUPPORTED_ARCHITECTURES))} is supported by this version of "
            "gliclass-integrations."
        )
    if raw.get("use_calibrator"):
        raise UnsupportedCheckpointError(
            f"{source}: use_calibrator=true (a post-hoc calibrator, gliclass 0.1.21) is not supported yet; "
            "scores would differ from the reference without it."
        )

    encoder_config = raw.get("encoder_config")
    if encoder_config is None:
        encoder_config = {"model_type": "deberta-v2"}  # the reference's default backbone config
    if not isinstance(encoder_config, dict):
        raise CheckpointError(f"{source}: 'encoder_config' must be an object, got {type(encoder_config).__name__}.")
    encoder_config = dict(encoder_config)
    encoder_config.setdefault("model_type", "deberta-v2")
    encoder_hidden, encoder_vocab = _encoder_dims(encoder_config)

    vocab_size = raw.get("vocab_size") or encoder_vocab
    if vocab_size is None:
        raise CheckpointError(f"{source}: no 'vocab_size' in the config or in its encoder_config.")
    vocab_size = int(vocab_size)

    def token_index(name: str, default: int) -> int:
        value = raw.get(name, -1)
        return default if value in (-1, None) else int(value)

    values: dict[str, Any] = {
        "encoder_config": encoder_config,
        "vocab_size": vocab_size,
        "class_token_index": token_index("class_token_index", vocab_size),
        "text_token_index": token_index("text_token_index", vocab_size + 1),
        "example_token_index": token_index("example_token_index", vocab_size + 2),
        "hidden_size": int(raw.get("hidden_size") or encoder_hidden),
        "encoder_model_name": raw.get("encoder_model_name"),
    }
    for name in (
        "projector_hidden_act", "pooling_strategy", "class_token_pooling", "embed_class_token",
        "extract_text_features", "prompt_first", "scorer_type", "scorer_num_heads", "scorer_mlp_hidden_size",
        "normalize_features", "use_lstm", "squeeze_layers", "encoder_layer_id", "use_segment_embeddings",
    ):
        if raw.get(name) is not None:
            values[name] = raw[name]
    config = GLiClassConfig(**values)
    _check(config, source)
    return config


def _check(config: GLiClassConfig, source: str) -> None:
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
