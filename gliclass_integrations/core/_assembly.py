"""Build each text's token ids as the reference lays them out, without ever cutting a label.

Layout (inference spec §4), with ``L`` the label block ``<<LABEL>>l1<<LABEL>>l2…<<SEP>>`` and ``E`` the
optional few-shot block ``<<EXAMPLE>>text \\nLabels:\\n labels…<<SEP>>``:

* ``prompt_first=True``:  ``[specials] L prompt+text E [specials]``
* ``prompt_first=False``: ``[specials] text L prompt E [specials]``

The ids equal those of tokenizing the whole string (see ``_tokenizer``). When the sequence is longer
than ``max_length``, the text is shortened from its end first, then whole few-shot examples are
dropped from the last one backwards; labels, the prompt and label descriptions are kept whole, and
if even they do not fit, ``InputTooLongError`` says how many labels would. With ``chunk=True`` a text
that does not fit is not shortened but split into overlapping token windows, one sequence each.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputTooLongError
from ._requests import Example, RowNames, RowRequest
from ._tokenizer import (
    EXAMPLE,
    LABEL,
    SENTINELS,
    SEP,
    ReservedSequenceError,
    StructuralTokenizer,
    tokenizer_pool_on,
    tokens_before,
)

MIN_WINDOW = 64  # text tokens a window should hold before few-shot examples are dropped to make room
MAX_OVERLAP = 128  # tokens shared by neighbouring windows of a chunked text
# Rows are tokenized and laid out a slice at a time. The tokenizer releases the GIL; our Python work between
# two of its calls holds it (about 1 ms for a slice), and the thread that launches the network waits for the
# GIL at most that long instead of CPython's 5 ms switch interval (benchmarks/host_pipeline.py measures it).
SLICE_ROWS = 16
# With the tokenizer's own thread pool on, each call is split across the pool's threads and waits for all of
# them while host threads share the same cores: on 2 cores, slices of 64 rows prepared 18-19 % faster than
# slices of 16 (docs/benchmarks.md), at the price of holding the GIL about 4 ms between calls.
POOLED_SLICE_ROWS = 64


def slice_rows() -> int:
    """Rows per tokenizer call: ``POOLED_SLICE_ROWS`` while the tokenizer's thread pool is on, else ``SLICE_ROWS``."""
    return POOLED_SLICE_ROWS if tokenizer_pool_on() else SLICE_ROWS


@dataclass(frozen=True)
class LabelBlock:
    ids: list[int]  # <<LABEL>> l1 … <<SEP>>
    positions: list[int]  # index of each <<LABEL>> in ids


@dataclass
class RowPieces:
    labels: LabelBlock
    head: list[int]  # prompt (prompt_first), descriptions and text, in one tokenizer piece
    protected: int  # leading tokens of head that belong to the prompt and descriptions
    prompt: list[int] = field(default_factory=list)  # the prompt when the text comes first
    examples: list[list[int]] = field(default_factory=list)  # each starts with <<EXAMPLE>>


@dataclass(frozen=True, slots=True, eq=False)
class EncodedRow:
    """One sequence for the network. Ids and positions are NumPy arrays: thousands of rows are alive while a
    call runs, and arrays, unlike lists, are not traversed by Python's garbage collector (whose pauses hold
    the GIL that the thread launching the network needs)."""

    ids: np.ndarray  # int64
    label_positions: np.ndarray  # int64: the index of each <<LABEL>> in ids
    sep_position: int
    has_examples: bool
    text_tokens_removed: int = 0
    examples_dropped: int = 0
    window: tuple[int, int] | None = None  # the text tokens [start, end) of one window of a chunked text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EncodedRow):
            return NotImplemented
        return (np.array_equal(self.ids, other.ids) and np.array_equal(self.label_positions, other.label_positions)
                and (self.sep_position, self.has_examples, self.text_tokens_removed, self.examples_dropped,
                     self.window) == (other.sep_position, other.has_examples, other.text_tokens_removed,
                                      other.examples_dropped, other.window))

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside


class InputAssembler:
    """Turns ``RowRequest``s into ``EncodedRow``s for one checkpoint."""

    def __init__(
        self, tokenizer: StructuralTokenizer, *, prompt_first: bool, max_length: int, cache_size: int = 512
    ) -> None:
        self.tokenizer = tokenizer
        self.prompt_first = prompt_first
        self.max_length = max_length
        self._label_blocks: OrderedDict[tuple[str, ...], LabelBlock] = OrderedDict()
        self._example_blocks: OrderedDict[tuple[Example, ...], list[list[int]]] = OrderedDict()
        self._cache_size = cache_size

    def encode(self, rows: Sequence[RowRequest], *, names: RowNames | None = None) -> list[EncodedRow]:
        """Each row's model input, a text too long for it shortened. ``names`` names rows in errors."""
        return [windows[0] for windows in self._encode(rows, False, names)]

    def encode_windows(self, rows: Sequence[RowRequest], *, names: RowNames | None = None) -> list[list[EncodedRow]]:
        """Each row's model input: one sequence, or one per window of a text too long for one."""
        return self._encode(rows, True, names)

    def _encode(self, rows: Sequence[RowRequest], chunk: bool, names: RowNames | None) -> list[list[EncodedRow]]:
        if any(row.examples for row in rows) and self.tokenizer.example_id is None:
            raise ValueError("few-shot examples need the <<EXAMPLE>> token, which this checkpoint's tokenizer lacks.")
        names = names or RowNames()
        encoded, size = [], slice_rows()
        for start in range(0, len(rows), size):
            encoded += self._encode_slice(rows[start : start + size], chunk, names, start)
        return encoded

    def _encode_slice(self, rows: Sequence[RowRequest], chunk: bool, names: RowNames, offset: int):
        try:
            pieces = self._pieces(rows)
        except ReservedSequenceError as error:
            raise self._named(error, rows, names, offset) from None
        return [self._layout(piece, chunk, lambda index=offset + i: names(index)) for i, piece in enumerate(pieces)]

    def _pieces(self, rows: Sequence[RowRequest]) -> list[RowPieces]:
        if self.tokenizer.independent_pieces:
            return self._pieces_one_by_one(rows)
        return self._pieces_from_whole_strings(rows)

    def _named(self, error: ReservedSequenceError, rows: Sequence[RowRequest], names: RowNames,
               offset: int) -> ValueError:
        """The error of a slice of rows, naming the first row that raises it on its own."""
        for i, row in enumerate(rows):
            try:
                self._pieces([row])
            except ReservedSequenceError as own_error:
                return ValueError(f"{names(offset + i)}: {own_error}")
        return ValueError(str(error))

    # -- tokenization, piece by piece (the label block and examples once per distinct value) ----------

    def _pieces_one_by_one(self, rows: Sequence[RowRequest]) -> list[RowPieces]:
        boundaries = [len(row.lead) + (len(row.prompt) if self.prompt_first else 0) for row in rows]
        heads = self.tokenizer.encode_pieces([self._head_triple(row) for row in rows], boundaries)
        prompts: dict[tuple[str, bool], list[int]] = {}
        wanted = [] if self.prompt_first else sorted({(row.prompt, bool(row.examples)) for row in rows if row.prompt})
        if wanted:
            encoded = self.tokenizer.encode_pieces([(SEP, p, EXAMPLE if ex else None) for p, ex in wanted])
            prompts = {key: piece.ids for key, piece in zip(wanted, encoded)}
        result = []
        for row, head in zip(rows, heads):
            result.append(
                RowPieces(
                    labels=self._label_block(row.labels),
                    head=head.ids,
                    protected=head.protected,
                    prompt=prompts.get((row.prompt, bool(row.examples)), []),
                    examples=self._examples(row.examples),
                )
            )
        return result

    def _head_triple(self, row: RowRequest) -> tuple[str | None, str, str | None]:
        if self.prompt_first:
            return SEP, row.prompt + row.lead + row.text, EXAMPLE if row.examples else None
        return None, row.lead + row.text, LABEL

    def _label_block(self, labels: tuple[str, ...]) -> LabelBlock:
        block = _cached(self._label_blocks, labels)
        if block is None:
            neighbours = [LABEL] * (len(labels) - 1) + [SEP]
            pieces = self.tokenizer.encode_pieces([(LABEL, label, right) for label, right in zip(labels, neighbours)])
            ids, positions = [], []
            for piece in pieces:
                positions.append(len(ids))
                ids += [self.tokenizer.label_id, *piece.ids]
            block = LabelBlock([*ids, self.tokenizer.sep_id], positions)
            _store(self._label_blocks, labels, block, self._cache_size)
        return block

    def _examples(self, examples: tuple[Example, ...]) -> list[list[int]]:
        if not examples:
            return []
        blocks = _cached(self._example_blocks, examples)
        if blocks is None:
            neighbours = [EXAMPLE] * (len(examples) - 1) + [SEP]
            pieces = self.tokenizer.encode_pieces(
                [(EXAMPLE, example.body, right) for example, right in zip(examples, neighbours)]
            )
            blocks = [[self.tokenizer.example_id, *piece.ids] for piece in pieces]
            _store(self._example_blocks, examples, blocks, self._cache_size)
        return blocks

    # -- tokenization of whole strings (for tokenizers whose pieces are not independent) --------------

    def _pieces_from_whole_strings(self, rows: Sequence[RowRequest]) -> list[RowPieces]:
        strings, boundaries = [], []
        for row in rows:
            label_part = "".join(SENTINELS[LABEL] + label for label in row.labels) + SENTINELS[SEP]
            example_part = "".join(SENTINELS[EXAMPLE] + example.body for example in row.examples)
            example_part += SENTINELS[SEP] if row.examples else ""
            if self.prompt_first:
                strings.append(label_part + row.prompt + row.lead + row.text + example_part)
                boundaries.append(len(label_part) + len(row.prompt) + len(row.lead))
            else:
                strings.append(row.lead + row.text + label_part + row.prompt + example_part)
                boundaries.append(len(row.lead))
        encoded = self.tokenizer.encode_whole(strings)
        return [
            self._split_whole(row, ids, offsets, boundary)
            for row, (ids, offsets), boundary in zip(rows, encoded, boundaries)
        ]

    def _split_whole(self, row: RowRequest, ids: list[int], offsets, boundary: int) -> RowPieces:
        tok = self.tokenizer
        label_at = [i for i, token in enumerate(ids) if token == tok.label_id]
        sep_at = [i for i, token in enumerate(ids) if token == tok.sep_id]
        example_at = [i for i, token in enumerate(ids) if token == tok.example_id]
        expected = (len(row.labels), 1 + bool(row.examples), len(row.examples))
        if (len(label_at), len(sep_at), len(example_at)) != expected:
            raise ReservedSequenceError(f"structure tokens do not match the request for {row.text[:40]!r}")
        first_label, sep = label_at[0], sep_at[0]
        block = LabelBlock(ids[first_label : sep + 1], [i - first_label for i in label_at])
        tail_end = example_at[0] if example_at else len(ids)
        examples = [ids[a:b] for a, b in zip(example_at, example_at[1:] + sep_at[1:])]
        if self.prompt_first:
            head_start, head_end, prompt = sep + 1, tail_end, []
        else:
            head_start, head_end, prompt = 0, first_label, ids[sep + 1 : tail_end]
        return RowPieces(
            labels=block,
            head=ids[head_start:head_end],
            protected=tokens_before(offsets[head_start:head_end], boundary),
            prompt=prompt,
            examples=examples,
        )

    # -- layout and the length budget -------------------------------------------------------------------

    def _layout(self, pieces: RowPieces, chunk: bool, name) -> list[EncodedRow]:
        tok = self.tokenizer
        examples = list(pieces.examples)
        fixed = len(tok.prefix) + len(tok.suffix) + len(pieces.labels.ids) + len(pieces.prompt)
        if fixed + len(pieces.head) + _examples_length(examples) <= self.max_length:
            return [self._assemble(pieces, pieces.head, examples)]
        if chunk:
            return self._windows(pieces, examples, fixed, name)
        excess = fixed + len(pieces.head) + _examples_length(examples) - self.max_length
        head = pieces.head
        removed = min(excess, len(head) - pieces.protected)
        if removed:
            head = head[: len(head) - removed]
            excess -= removed
        dropped = 0
        while excess > 0 and examples:
            excess -= _examples_length(examples) - _examples_length(examples[:-1])
            examples.pop()
            dropped += 1
        if excess > 0:
            raise self._too_long(name(), pieces)
        return [self._assemble(pieces, head, examples, removed=removed, dropped=dropped)]

    def _windows(self, pieces: RowPieces, examples: list[list[int]], fixed: int, name) -> list[EncodedRow]:
        """Windows of the text, each beside the labels, the prompt, the descriptions and the examples.

        Examples are dropped (the last first) only while they leave a window shorter than
        ``MIN_WINDOW`` tokens (or than the whole text).
        """
        lead, text = pieces.head[: pieces.protected], pieces.head[pieces.protected :]

        def room() -> int:
            return self.max_length - fixed - len(lead) - _examples_length(examples)

        dropped = 0
        while examples and room() < min(MIN_WINDOW, len(text)):
            examples.pop()
            dropped += 1
        if room() < 1:
            raise self._too_long(name(), pieces)
        return [
            self._assemble(pieces, lead + text[start:end], examples, dropped=dropped, window=(start, end))
            for start, end in text_windows(len(text), room())
        ]

    def _assemble(
        self, pieces: RowPieces, head: list[int], examples: list[list[int]], *, removed: int = 0, dropped: int = 0,
        window: tuple[int, int] | None = None,
    ) -> EncodedRow:
        tok = self.tokenizer
        closing = [tok.sep_id] if examples else []
        example_ids = [token for block in examples for token in block] + closing
        if self.prompt_first:
            start = len(tok.prefix)
            ids = tok.prefix + pieces.labels.ids + head + example_ids + tok.suffix
        else:
            start = len(tok.prefix) + len(head)
            ids = tok.prefix + head + pieces.labels.ids + pieces.prompt + example_ids + tok.suffix
        return EncodedRow(
            ids=np.array(ids, dtype=np.int64),
            label_positions=np.add(pieces.labels.positions, start, dtype=np.int64),
            sep_position=start + len(pieces.labels.ids) - 1,
            has_examples=bool(examples),
            text_tokens_removed=removed,
            examples_dropped=dropped,
            window=window,
        )

    def _too_long(self, name: str, pieces: RowPieces) -> InputTooLongError:
        tok = self.tokenizer
        block = pieces.labels
        costs = [b - a for a, b in zip(block.positions, [*block.positions[1:], len(block.ids) - 1])]
        overhead = len(tok.prefix) + len(tok.suffix) + pieces.protected + len(pieces.prompt) + 1
        fit, used = 0, overhead
        for cost in costs:
            if used + cost > self.max_length:
                break
            fit, used = fit + 1, used + cost
        return InputTooLongError(
            f"{name}: its {len(costs)} labels take {sum(costs)} tokens and, with the prompt, label "
            f"descriptions and special tokens, need {overhead + sum(costs)} tokens, more than "
            f"max_length={self.max_length}; only the first {fit} labels would fit. Labels are never cut: pass "
            "fewer or shorter labels, a shorter prompt, or a larger max_length."
        )


def text_windows(n_tokens: int, size: int) -> list[tuple[int, int]]:
    """Token windows ``[start, end)`` of ``size`` tokens covering ``n_tokens``, overlapping by a quarter of a
    window (at most ``MAX_OVERLAP`` tokens); the last window ends with the text, so none is short.
    """
    if n_tokens <= size:
        return [(0, n_tokens)]
    step = size - min(MAX_OVERLAP, size // 4)
    starts = [*range(0, n_tokens - size, step), n_tokens - size]
    return [(start, start + size) for start in starts]


def _examples_length(examples: list[list[int]]) -> int:
    return sum(map(len, examples)) + (1 if examples else 0)


_cache_lock = threading.Lock()  # models are shared across threads (joblib's threading backend, servers)


def _cached(cache: OrderedDict, key):
    with _cache_lock:
        value = cache.get(key)
        if value is not None:
            cache.move_to_end(key)
        return value


def _store(cache: OrderedDict, key, value, size: int) -> None:
    with _cache_lock:
        cache[key] = value
        if len(cache) > size:
            cache.popitem(last=False)
