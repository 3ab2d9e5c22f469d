"""Build the encoder backbone from the checkpoint's nested ``encoder_config`` through transformers.

Nothing is downloaded: the backbone is constructed from its config (weights come from
model.safetensors), and a ``model_type`` that transformers does not know is refused rather than
fetched as remote code.
"""

from __future__ import annotations

import torch

from ..errors import CheckpointError, UnsupportedCheckpointError
from ._config import GLiClassConfig

T5_TYPES = {"t5": "T5EncoderModel", "mt5": "T5EncoderModel", "umt5": "UMT5EncoderModel"}


def build_backbone(
    config: GLiClassConfig, dtype: torch.dtype, attn_implementation: str | None = None
) -> torch.nn.Module:
    """An encoder with uninitialised weights, shaped by ``config.encoder_config``.

    ``attn_implementation`` is handed to transformers as is (None: its default).
    """
    import transformers
    from transformers import AutoConfig, AutoModel
    from transformers.initialization import no_init_weights
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    settings = dict(config.encoder_config)
    model_type = settings.pop("model_type")
    if model_type not in CONFIG_MAPPING:
        raise UnsupportedCheckpointError(
            f"encoder model_type {model_type!r} is not known to transformers {transformers.__version__}; "
            "remote code is never run, so it cannot be loaded."
        )
    settings["vocab_size"] = config.vocab_size  # the embeddings were resized for the GLiClass tokens
    settings.pop("dtype", None)
    settings.pop("torch_dtype", None)
    encoder_config = AutoConfig.for_model(model_type, **settings)
    options = {"dtype": dtype}
    if attn_implementation is not None:
        options["attn_implementation"] = attn_implementation
    try:
        with no_init_weights():
            if model_type in T5_TYPES:
                model_class = getattr(transformers, T5_TYPES[model_type])
                backbone = model_class._from_config(encoder_config, **options)
            else:
                backbone = AutoModel.from_config(encoder_config, **options)
    except (ImportError, ValueError) as error:
        if attn_implementation is None:
            raise
        raise ValueError(
            f"attn_implementation={attn_implementation!r} is not available for this {model_type} encoder: {error}"
        ) from error
    return backbone


def load_backbone_weights(backbone: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Copy ``state`` (backbone keys, without the ``model.encoder_model.`` prefix) into ``backbone``."""
    # Checkpoints may carry absolute position tables that a relative-position backbone does not have;
    # the reference ignores them too.
    unexpected_ok = {key for key in state if "position_embeddings" in key}
    if _is_t5(backbone):
        state = _with_shared_embedding(state)
    try:
        missing, unexpected = backbone.load_state_dict(state, strict=False)
    except RuntimeError as error:
        raise CheckpointError(f"{source}: the encoder weights do not fit its config: {error}") from None
    unexpected = [key for key in unexpected if key not in unexpected_ok]
    if _is_t5(backbone):
        # T5 encoders embed with `shared`; the reference ties encoder.embed_tokens to it after loading,
        # whatever the checkpoint stores under encoder.embed_tokens.
        backbone.encoder.embed_tokens = backbone.shared
        missing = [key for key in missing if key != "encoder.embed_tokens.weight"]
    if missing or unexpected:
        details = []
        if missing:
            details.append(f"missing: {', '.join(sorted(missing)[:8])}")
        if unexpected:
            details.append(f"unexpected: {', '.join(sorted(unexpected)[:8])}")
        raise CheckpointError(f"{source}: the encoder weights do not match its config ({'; '.join(details)}).")


def _with_shared_embedding(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """T5 weights with ``shared.weight`` filled from ``encoder.embed_tokens.weight`` when only that is stored.

    T5 encoders embed with ``shared``, and some checkpoints hold the table only under the encoder's own
    name. When both are stored, ``shared`` wins, as in the reference.
    """
    if "shared.weight" in state or "encoder.embed_tokens.weight" not in state:
        return state
    return {**state, "shared.weight": state["encoder.embed_tokens.weight"]}


def _is_t5(backbone: torch.nn.Module) -> bool:
    return hasattr(backbone, "shared") and hasattr(getattr(backbone, "encoder", None), "embed_tokens")


def position_limit(backbone: torch.nn.Module) -> int | None:
    """The longest input the backbone can embed, when it has a table of absolute positions.

    RoBERTa-style tables number positions from ``padding_idx + 1``, which shortens them.
    """
    limits = [
        module.num_embeddings - (module.padding_idx + 1 if module.padding_idx is not None else 0)
        for name, module in backbone.named_modules()
        if name.endswith("position_embeddings") and isinstance(module, torch.nn.Embedding)
    ]
    return min(limits) if limits else None


def keep_float32_parts(backbone: torch.nn.Module, dtype: torch.dtype) -> None:
    """In float16, keep the modules transformers keeps in float32 (T5's ``wo``) in float32."""
    names = set(getattr(backbone, "_keep_in_fp32_modules", None) or ())
    if dtype != torch.float16 or not names:
        return
    for name, module in backbone.named_modules():
        if names.intersection(name.split(".")):
            module.float()
