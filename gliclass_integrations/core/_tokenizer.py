"""Tokenization that keeps GLiClass's structure tokens out of reach of caller content.

GLiClass marks labels, the end of the label block and few-shot examples with the added tokens
``<<LABEL>>``, ``<<SEP>>`` and ``<<EXAMPLE>>``. The reference builds one string and tokenizes it, so a
text that happens to contain ``<<LABEL>>`` creates a label slot. Here the checkpoint's tokenizer is
copied with those three added tokens renamed to private-use sentinels: the ids stay the same, but
only the sentinels we insert can produce them, and the literal strings are ordinary text.

Hugging Face tokenizers cut the input at special added tokens first and then normalize,
pre-tokenize and tokenize every piece in between on its own; the only thing a piece learns about its
surroundings is whether it starts the string (Metaspace ``prepend_scheme="first"``) and, through the
added tokens' ``lstrip``/``rstrip`` flags, which token is next to it. Encoding a piece together with
its real neighbouring sentinels and then dropping them therefore gives exactly the ids the piece has
in the whole string. That is what lets the label block be tokenized once per label set.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import CheckpointError, UnsupportedCheckpointError

LABEL, SEP, EXAMPLE = "<<LABEL>>", "<<SEP>>", "<<EXAMPLE>>"
STRUCTURE_TOKENS = (LABEL, SEP, EXAMPLE)
# Private-use code points: the sentinels that stand in for the structure tokens.
SENTINELS = {
    LABEL: "\ue000GLiClass-label\ue001",
    SEP: "\ue000GLiClass-sep\ue001",
    EXAMPLE: "\ue000GLiClass-example\ue001",
}


_POOL_OFF_VALUES = frozenset({"", "off", "false", "f", "no", "n", "0"})


def tokenizer_pool_on() -> bool:
    """Whether the Rust tokenizer spreads each batch call over its own thread pool: unless
    ``TOKENIZERS_PARALLELISM`` is set to one of the values that ``tokenizers`` reads as off (it reads the
    variable at every call)."""
    value = os.environ.get("TOKENIZERS_PARALLELISM")
    return value is None or value.lower() not in _POOL_OFF_VALUES


@dataclass(frozen=True)
class Piece:
    """Token ids of one stretch of caller content, and how many of them start before a given character."""

    ids: list[int]
    protected: int = 0


class ReservedSequenceError(ValueError):
    """Caller content contains one of the private-use sentinel sequences."""


class StructuralTokenizer:
    """A checkpoint tokenizer in which only this package can produce the structure token ids.

    Parameters
    ----------
    hf_tokenizer : transformers fast tokenizer
        The tokenizer saved with the checkpoint, loaded with ``AutoTokenizer`` (so that any
        adjustments transformers applies at load time are kept).
    label_id, sep_id, example_id : int
        The ids that config.json gives for ``<<LABEL>>``, ``<<SEP>>`` and ``<<EXAMPLE>>``.
    """

    def __init__(self, hf_tokenizer, *, label_id: int, sep_id: int, example_id: int) -> None:
        from tokenizers import Tokenizer

        if not getattr(hf_tokenizer, "is_fast", False):
            raise UnsupportedCheckpointError(
                "the checkpoint's tokenizer has no fast (tokenizers) version; save it with tokenizer.json."
            )
        spec = json.loads(hf_tokenizer.backend_tokenizer.to_str())
        added = {entry["content"]: entry for entry in spec.get("added_tokens", [])}
        expected = {LABEL: label_id, SEP: sep_id, EXAMPLE: example_id}
        self.ids: dict[str, int] = {}
        for token, config_id in expected.items():
            entry = added.get(token)
            if entry is None:
                if token == EXAMPLE:
                    continue  # older checkpoints have no few-shot token
                raise CheckpointError(f"the tokenizer has no added token {token!r}; it is not a GLiClass tokenizer.")
            if entry["id"] != config_id:
                raise CheckpointError(
                    f"the tokenizer gives {token!r} id {entry['id']} but config.json says {config_id}; the "
                    "tokenizer and the model do not belong together."
                )
            self.ids[token] = config_id
            entry["content"] = SENTINELS[token]
        self.independent_pieces = all(
            added[token]["special"] and not added[token]["normalized"] and not added[token]["single_word"]
            for token in self.ids
        )
        self._backend = Tokenizer.from_str(json.dumps(spec))
        self._backend.no_truncation()
        self._backend.no_padding()
        # The same ids without character offsets, which most pieces do not need (tokenizers >= 0.20).
        self._encode_batch_without_offsets = getattr(self._backend, "encode_batch_fast", self._backend.encode_batch)
        self._structure_ids = frozenset(self.ids.values())
        self.prefix, self.suffix = self._special_tokens_around()
        pad_id = hf_tokenizer.pad_token_id
        self.pad_id = int(pad_id) if pad_id is not None else 0

    @property
    def label_id(self) -> int:
        return self.ids[LABEL]

    @property
    def sep_id(self) -> int:
        return self.ids[SEP]

    @property
    def example_id(self) -> int | None:
        return self.ids.get(EXAMPLE)

    def _special_tokens_around(self) -> tuple[list[int], list[int]]:
        """The ids the post-processor puts before and after one sequence ([CLS] ... [SEP], ... </s>)."""
        encoding = self._backend.encode(SENTINELS[LABEL], add_special_tokens=True)
        ids = encoding.ids
        if ids.count(self.label_id) != 1:
            raise UnsupportedCheckpointError("the tokenizer's post-processor repeats or drops the input.")
        if any(encoding.type_ids):
            raise UnsupportedCheckpointError("the tokenizer gives non-zero token type ids to a single sequence.")
        at = ids.index(self.label_id)
        return ids[:at], ids[at + 1 :]

    def encode_pieces(
        self, pieces: Sequence[tuple[str | None, str, str | None]], boundaries: Sequence[int] | None = None
    ) -> list[Piece]:
        """Encode ``(left, content, right)`` triples as the content is encoded between those neighbours.

        ``left`` and ``right`` name the structure token next to the content, or are ``None`` at the
        ends of the sequence. The neighbours themselves are not part of the result. With
        ``boundaries`` (one character index into each content), each piece also counts the tokens that
        start before its boundary; without, character offsets are not computed at all.
        """
        strings = [SENTINELS[left] + text if left else text for left, text, _ in pieces]
        strings = [string + SENTINELS[right] if right else string for string, (_, _, right) in zip(strings, pieces)]
        with_offsets = boundaries is not None and any(boundaries)
        encode = self._backend.encode_batch if with_offsets else self._encode_batch_without_offsets
        encodings = encode(strings, add_special_tokens=False)
        result = []
        for index, ((left, text, right), encoding) in enumerate(zip(pieces, encodings)):
            ids = encoding.ids
            if (left and ids[0] != self.ids[left]) or (right and ids[-1] != self.ids[right]):
                raise ReservedSequenceError(f"unexpected tokenization around {text[:40]!r}")
            ids = ids[1 if left else 0 : len(ids) - 1 if right else len(ids)]
            if self._structure_ids.intersection(ids):
                raise ReservedSequenceError(_reserved_message(text))
            protected = 0
            if with_offsets and boundaries[index]:
                shift = len(SENTINELS[left]) if left else 0
                first = 1 if left else 0
                protected = tokens_before(encoding.offsets[first : first + len(ids)], boundaries[index] + shift)
            result.append(Piece(ids, protected))
        return result

    def encode_whole(self, strings: Sequence[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """Encode whole sequences (structure given as sentinels) without special tokens."""
        return [(e.ids, e.offsets) for e in self._backend.encode_batch(list(strings), add_special_tokens=False)]


def tokens_before(offsets: Sequence[tuple[int, int]], boundary: int) -> int:
    """How many tokens (given by their character spans, in order) start before character ``boundary``."""
    count = 0
    for start, _ in offsets:
        if start >= boundary:
            break
        count += 1
    return count


def _reserved_message(text: str) -> str:
    return (
        "content contains a private-use sequence reserved for GLiClass structure tokens "
        f"({', '.join(repr(s) for s in SENTINELS.values())}): {text[:60]!r}"
    )
