"""The uni-encoder forward pass: encoder, label vectors, text features, pooling and scoring.

Label and text positions come from input assembly (``label_positions``, ``sep_positions``), not from
searching the ids, and every reduction is limited to a text's own tokens. Each text is scored as
the reference scores it when it is alone in its batch, so its scores never depend on the rest of
the batch (inference spec §5–§6; the differences are listed in docs/parity.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ._config import GLiClassConfig
from ._head import LayerMixer, Projector, TextLSTM, build_scorer

NORM_EPS = 1e-8
# Encoders that take their attention mask built beforehand: one 4-D mask, or one per layer type.
PREBUILT_MASKS = {"bert": "4-D", "t5": "4-D", "mt5": "4-D", "modernbert": "by layer type"}


@dataclass
class Batch:
    """Padded inputs of one batch, on the model's device."""

    input_ids: torch.Tensor  # [B, L]
    lengths: torch.Tensor  # [B] real tokens per row
    label_positions: torch.Tensor  # [B, C] position of each <<LABEL>>, padded with L
    label_mask: torch.Tensor  # [B, C] bool, real label slots
    sep_positions: torch.Tensor  # [B] the <<SEP>> that closes the label block
    has_examples: torch.Tensor  # [B] bool

    @property
    def token_mask(self) -> torch.Tensor:
        positions = torch.arange(self.input_ids.shape[1], device=self.input_ids.device)
        return positions < self.lengths[:, None]


class GLiClassNetwork(nn.Module):
    """Encoder plus GLiClass head; ``forward(batch)`` returns logits [B, C]."""

    def __init__(self, config: GLiClassConfig, encoder: nn.Module) -> None:
        super().__init__()
        self.config = config
        width = config.encoder_hidden_size
        self.encoder_model = encoder
        self.text_projector = Projector(width, config.hidden_size, config.projector_hidden_act)
        self.classes_projector = Projector(width, config.hidden_size, config.projector_hidden_act)
        self.scorer = build_scorer(
            config.scorer_type, config.hidden_size, config.scorer_num_heads, config.scorer_mlp_hidden_size
        )
        self.logit_scale = nn.Parameter(torch.zeros(()))
        if config.use_segment_embeddings:
            self.segment_embeddings = nn.Embedding(3, width)
        if config.use_lstm:
            self.lstm = TextLSTM(width)
        if config.squeeze_layers:
            self.layer_wise_attention = LayerMixer(encoder.config.num_hidden_layers, width)

    def forward(self, batch: Batch) -> torch.Tensor:
        hidden = self.encode(batch)
        labels = self.classes_projector(self.label_vectors(hidden, batch))
        text, token_mask = self.text_features(hidden, batch)
        text = self.text_projector(text)
        if self.config.normalize_features:
            text = text / (text.norm(dim=-1, keepdim=True) + NORM_EPS)
            labels = labels / (labels.norm(dim=-1, keepdim=True) + NORM_EPS)
        logits = self.scorer(text, labels, batch.label_mask, token_mask)
        if self.config.normalize_features:
            logits = logits * self.logit_scale  # the raw parameter, not its exponential
        return logits

    # -- encoder ------------------------------------------------------------------------------------

    def encode(self, batch: Batch) -> torch.Tensor:
        config = self.config
        token_mask = batch.token_mask
        wants_layers = config.squeeze_layers or config.encoder_layer_id != -1
        options = dict(attention_mask=self.encoder_attention_mask(token_mask), output_hidden_states=wants_layers,
                       return_dict=True)
        if config.use_segment_embeddings:
            embeddings = self.encoder_model.get_input_embeddings()(batch.input_ids)
            embeddings = embeddings + self.segment_embeddings(self.segment_ids(batch))
            outputs = self.encoder_model(inputs_embeds=embeddings, **options)
        else:
            outputs = self.encoder_model(input_ids=batch.input_ids, **options)
        if config.encoder_layer_id != -1:
            return outputs.hidden_states[config.encoder_layer_id]
        if config.squeeze_layers:
            return self.layer_wise_attention(outputs.hidden_states[1:], token_mask)
        return outputs[0]

    def encoder_attention_mask(self, token_mask: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        """The mask handed to the encoder: the token mask, or for the encoders in ``PREBUILT_MASKS`` (SDPA or
        eager attention) the mask transformers would build from it, built here with its skip check off.

        transformers skips an all-true mask after asking the device whether any token is padding
        (``padding_mask.all()``), which on CUDA waits for all the work queued before it, once per
        forward pass. These encoders take a mask built beforehand as it is; the mask is the same, never
        skipped (docs/benchmarks.md, "Waits inside a forward pass").
        """
        encoder_config = self.encoder_model.config
        form = PREBUILT_MASKS.get(encoder_config.model_type)
        if form is None or encoder_config._attn_implementation not in ("sdpa", "eager"):
            return token_mask.long()
        from transformers.masking_utils import create_bidirectional_mask, create_bidirectional_sliding_window_mask

        # Mask building reads the batch size, length, dtype and device of the embeddings, not their values.
        embeddings_like = torch.empty((*token_mask.shape, 0), device=token_mask.device,
                                      dtype=self.encoder_model.get_input_embeddings().weight.dtype)
        arguments = dict(config=encoder_config, inputs_embeds=embeddings_like, attention_mask=token_mask,
                         allow_is_bidirectional_skip=False)
        if form == "by layer type":
            return {"full_attention": create_bidirectional_mask(**arguments),
                    "sliding_attention": create_bidirectional_sliding_window_mask(**arguments)}
        return create_bidirectional_mask(**arguments)

    @staticmethod
    def segment_ids(batch: Batch) -> torch.Tensor:
        """0 up to the label block's <<SEP>>, 1 from there on; 2 everywhere when there are examples.

        The last rule reproduces the reference (its example start is an argmin that lands on 0), which
        is what released instruct checkpoints see at inference time.
        """
        positions = torch.arange(batch.input_ids.shape[1], device=batch.input_ids.device)
        segments = (positions[None, :] >= batch.sep_positions[:, None]).long()
        return torch.where(batch.has_examples[:, None], torch.full_like(segments, 2), segments)

    # -- labels -------------------------------------------------------------------------------------

    def label_vectors(self, hidden: torch.Tensor, batch: Batch) -> torch.Tensor:
        if self.config.class_token_pooling == "average":
            return self._label_spans_mean(hidden, batch)
        shift = 0 if self.config.embed_class_token else 1  # False: the token right after <<LABEL>>
        index = (batch.label_positions + shift).clamp(max=hidden.shape[1] - 1)
        vectors = hidden.gather(1, index[..., None].expand(-1, -1, hidden.shape[-1]))
        return vectors * batch.label_mask[..., None].to(vectors.dtype)

    def _label_spans_mean(self, hidden: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Mean of each label's span: from its <<LABEL>> to the next one.

        The last span ends at the label block's <<SEP>> with ``extract_text_features``; without it,
        it runs to the end of the text's tokens, as in the reference.
        """
        n_rows, length, width = hidden.shape
        n_labels = batch.label_positions.shape[1]
        positions = torch.arange(length, device=hidden.device).expand(n_rows, length).contiguous()
        slot = torch.searchsorted(batch.label_positions.contiguous(), positions, right=True) - 1
        end = batch.sep_positions if self.config.extract_text_features else batch.lengths
        inside = (slot >= 0) & (positions < end[:, None])
        if not self.config.embed_class_token:
            is_label = torch.zeros(n_rows, length + 1, dtype=torch.bool, device=hidden.device)
            is_label.scatter_(1, batch.label_positions, True)
            inside &= ~is_label[:, :length]
        slot = torch.where(inside, slot, torch.full_like(slot, n_labels))  # slot C collects the rest
        accumulate = torch.promote_types(hidden.dtype, torch.float32)  # never sum in half precision
        sums = torch.zeros(n_rows, n_labels + 1, width, dtype=accumulate, device=hidden.device)
        sums.scatter_add_(1, slot[..., None].expand(-1, -1, width), hidden.to(accumulate))
        counts = torch.zeros(n_rows, n_labels + 1, dtype=accumulate, device=hidden.device)
        counts.scatter_add_(1, slot, torch.ones_like(slot, dtype=accumulate))
        return (sums[:, :n_labels] / counts[:, :n_labels, None].clamp(min=1)).to(hidden.dtype)

    # -- text ---------------------------------------------------------------------------------------

    def text_features(self, hidden: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The pooled text vector [B, D] (or every text token [B, L, D] for ``pass``) and the token mask.

        With ``extract_text_features`` the text tokens run from the label block's <<SEP>> to the end.
        The reference pools over a matrix of the row's length in which those tokens are moved to the
        front and the remaining rows are zero; ``mean`` divides by that length and ``max``/``last``
        see the zero rows. That is kept here, computed per text.
        """
        config = self.config
        length = hidden.shape[1]
        positions = torch.arange(length, device=hidden.device)
        start = batch.sep_positions if config.extract_text_features else torch.zeros_like(batch.lengths)
        if config.use_lstm:
            n_text = batch.lengths - start
            index = (start[:, None] + positions[None, :]).clamp(max=length - 1)
            moved = hidden.gather(1, index[..., None].expand(-1, -1, hidden.shape[-1]))
            tokens = self.lstm(moved, n_text)
            token_mask = positions[None, :] < n_text[:, None]
            first, last, n_pooled, zero_rows = torch.zeros_like(n_text), n_text - 1, n_text, None
        else:
            tokens = hidden
            token_mask = (positions[None, :] >= start[:, None]) & (positions[None, :] < batch.lengths[:, None])
            first, last, n_pooled, zero_rows = start, batch.lengths - 1, batch.lengths, start > 0
        if config.pooling_strategy == "pass":
            return tokens, token_mask
        return pool(tokens, token_mask, config.pooling_strategy, first, last, n_pooled, zero_rows), token_mask


def pool(
    tokens: torch.Tensor,
    mask: torch.Tensor,
    strategy: str,
    first: torch.Tensor,
    last: torch.Tensor,
    n_pooled: torch.Tensor,
    zero_rows: torch.Tensor | None,
) -> torch.Tensor:
    """Reduce each row's tokens to one vector.

    ``mask`` marks the tokens to reduce; ``n_pooled`` is the divisor of the means; ``zero_rows``
    marks rows whose pooled matrix also holds zero rows (they can win ``max`` and are ``last``).
    """

    def at(index: torch.Tensor) -> torch.Tensor:
        return tokens.gather(1, index[:, None, None].expand(-1, 1, tokens.shape[-1])).squeeze(1)

    if strategy == "first":
        return at(first)
    keep = mask[..., None]
    divisor = n_pooled[:, None].to(tokens.dtype)
    has_zero_rows = zero_rows[:, None] if zero_rows is not None else None
    if strategy == "last":
        vector = at(last)
        return vector if has_zero_rows is None else vector.masked_fill(has_zero_rows, 0.0)
    if strategy == "sum":
        return (tokens * keep).sum(1)
    if strategy == "avg":
        return (tokens * keep).sum(1) / divisor
    if strategy == "rms":
        return ((tokens.square() * keep).sum(1) / divisor).sqrt()
    if strategy == "abs_avg":
        return (tokens.abs() * keep).sum(1) / divisor
    if strategy == "abs_max":
        return tokens.abs().masked_fill(~keep, 0.0).amax(1)
    if strategy == "max":
        peak = tokens.masked_fill(~keep, float("-inf")).amax(1)
        return peak if has_zero_rows is None else torch.where(has_zero_rows, peak.clamp(min=0.0), peak)
    raise ValueError(f"unknown pooling strategy {strategy!r}")
