"""The GLiClass head: projectors, scorers and optional layers on top of the encoder.

Module and parameter names follow the checkpoint's weight names (``model.scorer.q_norm.weight``
and so on, inference spec §2.4), so weights load by name. Layer widths come from the checkpoint
config, except where the reference hard-wires them (the ``mlp`` and ``hopfield`` scorers use 256).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

FIXED_MLP_WIDTH = 256  # the reference's mlp and hopfield scorers ignore scorer_mlp_hidden_size
HOPFIELD_BETA = 4.0
LAYER_NORM_EPS = 1e-5


def stacked_linears(widths: Sequence[int], activation: type[nn.Module]) -> nn.Sequential:
    """Linear layers through ``widths`` with ``activation`` between them (indices 0, 2, 4, …)."""
    layers: list[nn.Module] = []
    for depth, (width_in, width_out) in enumerate(pairwise(widths)):
        if depth:
            layers.append(activation())
        layers.append(nn.Linear(width_in, width_out))
    return nn.Sequential(*layers)


class Projector(nn.Module):
    """Encoder width -> ``inner`` -> encoder width, applied to the last dimension."""

    def __init__(self, width: int, inner: int, activation: str) -> None:
        super().__init__()
        from transformers.activations import ACT2FN

        self.linear_1 = nn.Linear(width, inner)
        self.activation = ACT2FN[activation]
        self.linear_2 = nn.Linear(inner, width)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.activation(self.linear_1(features)))


class DotScorer(nn.Module):
    """``simple``: the dot product of text and label vectors."""

    def forward(self, text, labels, label_mask, token_mask=None):
        return torch.einsum("bd,bcd->bc", text, labels)


class WeightedDotScorer(nn.Module):
    """``weighted-dot``: an MLP over [text half A ; label half A ; text half B × label half B]."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.proj_text = nn.Linear(width, 2 * width)
        self.proj_label = nn.Linear(width, 2 * width)
        # Index 1 is the training-time dropout slot; the checkpoint's weights sit at 0 and 3.
        self.out_mlp = nn.Sequential(
            nn.Linear(3 * width, 4 * width), nn.Identity(), nn.ReLU(), nn.Linear(4 * width, 1)
        )

    def forward(self, text, labels, label_mask, token_mask=None):
        text_a, text_b = self.proj_text(text).unsqueeze(1).chunk(2, dim=-1)
        label_a, label_b = self.proj_label(labels).chunk(2, dim=-1)
        features = torch.cat([text_a.expand_as(label_a), label_a, text_b * label_b], dim=-1)
        return self.out_mlp(features).squeeze(-1)


class ConcatMLPScorer(nn.Module):
    """``mlp``: an MLP (2D -> 256 -> 128 -> 1, ReLU) over [text ; label]."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.mlp = stacked_linears([2 * width, FIXED_MLP_WIDTH, FIXED_MLP_WIDTH // 2, 1], nn.ReLU)

    def forward(self, text, labels, label_mask, token_mask=None):
        pairs = torch.cat([text.unsqueeze(1).expand_as(labels), labels], dim=-1)
        return self.mlp(pairs).squeeze(-1)


class HopfieldScorer(nn.Module):
    """``hopfield``: one retrieval step that adds the text's value to each label, then an MLP.

    The retrieval weights are a softmax over this text's own labels (padded label slots of a batch
    are masked, so a text's scores do not depend on its neighbours' label counts).
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.q_proj = nn.Linear(width, width, bias=False)
        self.k_proj = nn.Linear(width, width, bias=False)
        self.v_proj = nn.Linear(width, width, bias=False)
        self.mlp = stacked_linears([width, FIXED_MLP_WIDTH, FIXED_MLP_WIDTH // 2, 1], nn.ReLU)

    def forward(self, text, labels, label_mask, token_mask=None):
        affinity = torch.einsum("bcd,bd->bc", self.q_proj(labels), self.k_proj(text)) * HOPFIELD_BETA
        weights = affinity.masked_fill(~label_mask, float("-inf")).softmax(dim=-1)
        retrieved = weights.unsqueeze(-1) * self.v_proj(text).unsqueeze(1)
        return self.mlp(labels + retrieved).squeeze(-1)


class CrossAttentionScorer(nn.Module):
    """``cross-attn``: each label attends over the text tokens, then an MLP scores [context ; label]."""

    def __init__(self, width: int, heads: int, mlp_width: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_norm = nn.LayerNorm(width, eps=LAYER_NORM_EPS)
        self.kv_norm = nn.LayerNorm(width, eps=LAYER_NORM_EPS)
        self.q = nn.Linear(width, width)
        self.k = nn.Linear(width, width)
        self.v = nn.Linear(width, width)
        self.out = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width, eps=LAYER_NORM_EPS)
        self.score_mlp = stacked_linears([2 * width, mlp_width, mlp_width // 2, 1], nn.GELU)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        return x.view(batch, length, self.heads, width // self.heads).transpose(1, 2)

    def forward(self, tokens, labels, label_mask, token_mask):
        query = self._heads(self.q(self.q_norm(labels)))
        key = self._heads(self.k(self.kv_norm(tokens)))
        value = self._heads(self.v(tokens))  # the value is not normalised
        context = F.scaled_dot_product_attention(query, key, value, attn_mask=token_mask[:, None, None, :])
        context = self.norm(self.out(context.transpose(1, 2).flatten(2)))
        return self.score_mlp(torch.cat([context, labels], dim=-1)).squeeze(-1)


def build_scorer(kind: str, width: int, heads: int, mlp_width: int) -> nn.Module:
    if kind == "simple":
        return DotScorer()
    if kind == "weighted-dot":
        return WeightedDotScorer(width)
    if kind == "mlp":
        return ConcatMLPScorer(width)
    if kind == "hopfield":
        return HopfieldScorer(width)
    if kind == "cross-attn":
        return CrossAttentionScorer(width, heads, mlp_width)
    raise ValueError(f"unknown scorer {kind!r}")


class TextLSTM(nn.Module):
    """A bidirectional LSTM over each text's valid tokens (packed, so padding never enters it)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(width, width // 2, batch_first=True, bidirectional=True)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

        packed = pack_padded_sequence(tokens, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, _ = self.lstm(packed)
        output, _ = pad_packed_sequence(output, batch_first=True, total_length=tokens.shape[1])
        return output


class LayerMixer(nn.Module):
    """``squeeze_layers``: a squeeze-and-excitation weighting of the encoder's layer outputs.

    It mixes the outputs of the ``n_layers`` transformer layers (not the embedding output, which the
    reference also passes and then crashes on), and averages each layer over the real tokens only.
    """

    def __init__(self, n_layers: int, width: int) -> None:
        super().__init__()
        self.squeeze = nn.Linear(width, 1)
        self.W1 = nn.Linear(n_layers, n_layers // 2)
        self.W2 = nn.Linear(n_layers // 2, n_layers)
        self.output_projection = nn.Linear(width, width)

    def forward(self, layers: Sequence[torch.Tensor], token_mask: torch.Tensor) -> torch.Tensor:
        stacked = torch.stack(tuple(layers), dim=1)  # [B, K, L, D]
        weights = token_mask[:, None, :].to(stacked.dtype)
        summary = (self.squeeze(stacked).squeeze(-1) * weights).sum(-1) / weights.sum(-1)  # [B, K]
        gates = torch.sigmoid(self.W2(F.relu(self.W1(summary))))
        return self.output_projection((stacked * gates[:, :, None, None]).sum(dim=1))
