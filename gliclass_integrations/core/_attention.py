"""Which attention the encoder backbone runs, and a fused path for DeBERTa-v2/v3.

transformers runs DeBERTa's disentangled attention eagerly: it copies the relative-position
projections once per row and head, multiplies them against all ``2 × position_buckets`` relative
positions whatever the text length, and then masks, softmaxes and multiplies by the values as
separate passes over [rows, heads, S, S]. ``FusedDisentangledAttention`` computes the same
scores as one additive bias (content→position plus position→content, over only the relative
positions that S tokens can reach) and hands it with q, k and v to
``torch.nn.functional.scaled_dot_product_attention``. The result equals the eager one up to float
rounding on every real token; padded query rows attend to the real keys instead of to everything,
and they are never read.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

ATTN_IMPLEMENTATIONS = (None, "eager", "sdpa", "flash_attention_2")
DEBERTA_TYPES = ("deberta-v2",)


def check_attn_implementation(requested: str | None) -> None:
    if requested not in ATTN_IMPLEMENTATIONS:
        raise ValueError(
            f"attn_implementation must be one of {', '.join(map(repr, ATTN_IMPLEMENTATIONS))}; got {requested!r}."
        )


def transformers_attn_implementation(
    requested: str | None, model_type: str, device: torch.device, dtype: torch.dtype
) -> str | None:
    """What to ask transformers for when building the backbone (None: its own default, SDPA where it has one).

    With nothing requested, flash-attn is used when it is installed and can run: a CUDA device, a
    16-bit dtype and a backbone that transformers can run with it.
    """
    check_attn_implementation(requested)
    if model_type in DEBERTA_TYPES:
        if requested == "flash_attention_2":
            raise ValueError(
                "attn_implementation='flash_attention_2' is not available for DeBERTa encoders; "
                "use 'sdpa' (the default, a fused path) or 'eager'."
            )
        return "eager"  # transformers has nothing else; the default replaces it with the fused path
    if requested is None and flash_attn_usable(model_type, device, dtype):
        return "flash_attention_2"
    return requested


def flash_attn_usable(model_type: str, device: torch.device, dtype: torch.dtype) -> bool:
    if device.type != "cuda" or dtype not in (torch.float16, torch.bfloat16):
        return False
    if importlib.util.find_spec("flash_attn") is None:
        return False
    import transformers
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    class_name = MODEL_MAPPING_NAMES.get(model_type)
    model_class = getattr(transformers, class_name, None) if isinstance(class_name, str) else None
    return bool(getattr(model_class, "_supports_flash_attn", False))


def fuse_disentangled_attention(backbone: nn.Module) -> int:
    """Swap each DeBERTa-v2 self-attention in ``backbone`` for the fused one; returns how many were swapped."""
    from transformers.models.deberta_v2.modeling_deberta_v2 import DisentangledSelfAttention

    swapped = 0
    shared_indices: dict = {}  # every layer of one forward indexes the same relative positions
    for module in backbone.modules():
        attention = getattr(module, "self", None)
        if isinstance(attention, DisentangledSelfAttention):
            module.self = FusedDisentangledAttention(attention, shared_indices)
            swapped += 1
    return swapped


class FusedDisentangledAttention(nn.Module):
    """DeBERTa-v2 disentangled self-attention as one ``scaled_dot_product_attention`` call.

    Takes over the projections of a transformers ``DisentangledSelfAttention`` (same parameter
    names, so the state dict is unchanged) and accepts the arguments its encoder layer passes.
    Inference only: dropout is never applied.
    """

    def __init__(self, eager: nn.Module, shared_indices: dict | None = None) -> None:
        super().__init__()
        self._indices = {} if shared_indices is None else shared_indices
        self.num_heads = eager.num_attention_heads
        self.head_size = eager.attention_head_size
        self.query_proj = eager.query_proj
        self.key_proj = eager.key_proj
        self.value_proj = eager.value_proj
        self.relative_attention = eager.relative_attention
        position_types = eager.pos_att_type
        self.content_to_position = self.relative_attention and "c2p" in position_types
        self.position_to_content = self.relative_attention and "p2c" in position_types
        # As transformers, the listed position terms count even when relative attention is off, and the
        # square root is taken in float32; transformers then rounds it to a 16-bit model's dtype, which
        # is not done here (docs/parity.md).
        factor = 1 + ("c2p" in position_types) + ("p2c" in position_types)
        self.scale = float(torch.tensor(self.head_size * factor, dtype=torch.float32).sqrt())
        if self.relative_attention:
            self.span = eager.pos_ebd_size
            self.position_buckets = eager.position_buckets
            self.max_relative_positions = eager.max_relative_positions
            self.share_att_key = eager.share_att_key
            if not self.share_att_key:
                for name in ("pos_key_proj", "pos_query_proj"):
                    if hasattr(eager, name):
                        setattr(self, name, getattr(eager, name))

    def forward(self, hidden_states, attention_mask, output_attentions=False, query_states=None,
                relative_pos=None, rel_embeddings=None):
        if output_attentions or query_states is not None:
            raise NotImplementedError("the fused DeBERTa attention returns no weights and takes no query_states")
        rows, length, _ = hidden_states.shape
        query = self._heads(self.query_proj(hidden_states))
        key = self._heads(self.key_proj(hidden_states))
        value = self._heads(self.value_proj(hidden_states))
        # The encoder's mask is the outer product of the token mask; any real query row gives the keys.
        real_keys = attention_mask.amax(dim=-2, keepdim=True).bool()  # [rows, 1, 1, S]
        bias = self._position_bias(query, key, relative_pos, rel_embeddings)
        mask = real_keys if bias is None else bias.masked_fill_(~real_keys, float("-inf"))
        context = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=1.0 / self.scale)
        return context.transpose(1, 2).reshape(rows, length, -1), None

    def _heads(self, states: torch.Tensor) -> torch.Tensor:
        rows, length, _ = states.shape
        return states.view(rows, length, self.num_heads, self.head_size).transpose(1, 2)

    def _position_bias(self, query, key, relative_pos, rel_embeddings) -> torch.Tensor | None:
        """c2p[i, j] = q_i · Kr[δ(i, j)] and p2c[i, j] = k_j · Qr[δ(j, i)], both over the scale, in [q, k] layout."""
        if not (self.content_to_position or self.position_to_content):
            return None
        rows, _, length, _ = query.shape
        first, last = reachable_positions(length, self.span, self.position_buckets, self.max_relative_positions)
        positions = rel_embeddings[first : last + 1]
        to_position, to_content = self._gather_indices(relative_pos, length, first, query.device)
        shape = (rows, self.num_heads, length, length)
        terms = []
        if self.content_to_position:
            projection = self.key_proj if self.share_att_key else self.pos_key_proj
            position_keys = self._position_heads(projection(positions))
            scores = torch.matmul(query / self.scale, position_keys.transpose(-1, -2))  # [rows, heads, q, δ]
            terms.append(scores.gather(-1, to_position.expand(shape)))
        if self.position_to_content:
            projection = self.query_proj if self.share_att_key else self.pos_query_proj
            position_queries = self._position_heads(projection(positions))
            scores = torch.matmul(key / self.scale, position_queries.transpose(-1, -2))  # [rows, heads, k, δ]
            # Gathering in [k, q] and adding transposed measured faster than gathering along dim -2.
            terms.append(scores.gather(-1, to_content.expand(shape)).transpose(-1, -2))
        return terms[0] if len(terms) == 1 else terms[0].add_(terms[1])

    def _gather_indices(self, relative_pos, length: int, first: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows of the position window for c2p ([q, k]) and p2c ([k, q]); computed once per forward."""
        cached = self._indices.get("last")
        if cached is None or cached[0] is not relative_pos:
            relative = relative_pos.reshape(length, length).to(device=device, dtype=torch.long)
            top = 2 * self.span - 1
            to_position = (relative + self.span).clamp(0, top) - first
            to_content = (self.span - relative).clamp(0, top) - first
            cached = (relative_pos, to_position, to_content)
            self._indices["last"] = cached
        return cached[1], cached[2]

    def _position_heads(self, states: torch.Tensor) -> torch.Tensor:
        return states.view(-1, self.num_heads, self.head_size).transpose(0, 1)  # [heads, positions, head]


@lru_cache(maxsize=4096)
def reachable_positions(length: int, span: int, buckets: int, max_positions: int) -> tuple[int, int]:
    """The first and last rows of the relative-position table that ``length`` tokens index.

    Relative distances run from -(length-1) to length-1; the bucketing is monotone and odd, so the
    rows form one contiguous window, symmetric about ``span``. Computed with transformers' own
    bucketing on the host, so no device value is read.
    """
    from transformers.models.deberta_v2.modeling_deberta_v2 import make_log_bucket_position

    farthest = torch.tensor([length - 1], dtype=torch.long)
    if buckets > 0 and max_positions > 0:
        farthest = make_log_bucket_position(farthest, buckets, max_positions).long()
    reach = int(farthest.item())
    return max(span - reach, 0), min(span + reach, 2 * span - 1)
