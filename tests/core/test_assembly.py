"""Input assembly: exact ids, structure tokens out of reach of content, labels never cut."""

from __future__ import annotations

import gc
import warnings

import numpy as np
import pytest
from checkpoints import ENCODERS, STRUCTURAL_TOKENS
from transformers import AutoTokenizer

from gliclass_integrations.core import _assembly
from gliclass_integrations.core._assembly import InputAssembler
from gliclass_integrations.core._requests import Example, RowRequest, build_request
from gliclass_integrations.core._tokenizer import tokenizer_pool_on
from gliclass_integrations.errors import InputTooLongError

LABEL, SEP, EXAMPLE = STRUCTURAL_TOKENS
TRICKY_TEXTS = [
    "Love it",
    "",
    "  leading and trailing spaces  ",
    "multi\nline\ttext",
    "naïve café – 東京 😀",
    "ends with a space ",
    "[CLS] [SEP] <pad> look like special tokens",
]


def reference_string(row: RowRequest, prompt_first: bool) -> str:
    """The reference pipeline's input string (inference spec §4), with our description lead."""
    labels = "".join(LABEL + label for label in row.labels) + SEP + row.prompt
    examples = "".join(f"{EXAMPLE}{e.text} \nLabels:\n {e.labels}" for e in row.examples)
    examples += SEP if row.examples else ""
    text = row.lead + row.text
    return labels + text + examples if prompt_first else text + labels + examples


def rows_for(prompt_first: bool) -> list[RowRequest]:
    examples = (Example("great food", "positive"), Example(" terrible service ", "negative, service"))
    rows = []
    for i, text in enumerate(TRICKY_TEXTS):
        rows.append(RowRequest(text=text, labels=("positive", "negative", "sports.football")))
        rows.append(RowRequest(text=text, labels=("a b", " spaced "), prompt="Classify:", examples=examples[: i % 3]))
        rows.append(RowRequest(text=text, labels=("x",), lead="x: a letter ", prompt=" p "))
    return rows


@pytest.mark.parametrize("prompt_first", [False, True])
@pytest.mark.parametrize("whole_strings", [False, True], ids=["pieces", "whole"])
@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_ids_equal_tokenizing_the_whole_string(encoder, prompt_first, whole_strings, make_checkpoint, load_model):
    """Piece-wise tokenization (with cached label blocks) gives the ids of the reference's string."""
    model = load_model(encoder, "multilang")
    tokenizer = AutoTokenizer.from_pretrained(str(make_checkpoint(encoder, "multilang")))
    assembler = InputAssembler(model.assembler.tokenizer, prompt_first=prompt_first, max_length=10_000)
    if whole_strings:
        assembler.tokenizer.independent_pieces = False
    try:
        rows = rows_for(prompt_first)
        for row, encoded in zip(rows, assembler.encode(rows)):
            expected = tokenizer(reference_string(row, prompt_first))["input_ids"]
            assert encoded.ids.tolist() == expected, reference_string(row, prompt_first)
            assert [encoded.ids[p] for p in encoded.label_positions] == [tokenizer.convert_tokens_to_ids(LABEL)] * len(
                row.labels
            )
            assert encoded.ids[encoded.sep_position] == tokenizer.convert_tokens_to_ids(SEP)
            assert encoded.sep_position > encoded.label_positions[-1]
    finally:
        assembler.tokenizer.independent_pieces = True


def test_label_block_is_tokenized_once_per_label_set(tiny_model):
    assembler = InputAssembler(tiny_model.assembler.tokenizer, prompt_first=True, max_length=1024)
    calls = []
    encode = assembler.tokenizer.encode_pieces

    def counting(pieces, boundaries=None):
        calls.append(list(pieces))
        return encode(pieces, boundaries)

    assembler.tokenizer.encode_pieces = counting
    try:
        labels_a, labels_b = ("positive", "negative", "neutral"), ("sports", "politics")
        rows = [RowRequest(text=f"text number {i}", labels=labels_a if i % 2 else labels_b) for i in range(50)]
        assembler.encode(rows)
        assembler.encode(rows)
    finally:
        del assembler.tokenizer.encode_pieces
    label_pieces = [piece for call in calls for piece in call if piece[0] == LABEL]
    assert sorted(text for _, text, _ in label_pieces) == sorted(labels_a + labels_b)


@pytest.mark.parametrize("value", [None, "true", "1", "TRUE", "yes", "anything"])
def test_the_tokenizer_pool_is_on_unless_the_variable_says_off(value, monkeypatch):
    if value is None:
        monkeypatch.delenv("TOKENIZERS_PARALLELISM", raising=False)
    else:
        monkeypatch.setenv("TOKENIZERS_PARALLELISM", value)
    assert tokenizer_pool_on()
    assert _assembly.slice_rows() == _assembly.POOLED_SLICE_ROWS


@pytest.mark.parametrize("value", ["false", "FALSE", "False", "off", "f", "no", "N", "0", ""])
def test_the_tokenizer_pool_is_off_for_the_values_tokenizers_reads_as_off(value, monkeypatch):
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", value)
    assert not tokenizer_pool_on()
    assert _assembly.slice_rows() == _assembly.SLICE_ROWS


@pytest.mark.parametrize(("pool", "slices"), [("false", [16] * 8 + [2]), ("true", [64, 64, 2])])  # of 130 rows
def test_rows_are_tokenized_one_slice_per_call_sized_by_the_tokenizer_pool(pool, slices, tiny_model, monkeypatch):
    assert (_assembly.SLICE_ROWS, _assembly.POOLED_SLICE_ROWS) == (16, 64)
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", pool)
    assembler = InputAssembler(tiny_model.assembler.tokenizer, prompt_first=False, max_length=1024)
    encode = assembler.tokenizer.encode_pieces
    calls = []

    def counting(pieces, boundaries=None):
        calls.append(list(pieces))
        return encode(pieces, boundaries)

    monkeypatch.setattr(assembler.tokenizer, "encode_pieces", counting)
    rows = [RowRequest(text=f"text number {i}", labels=("a", "b")) for i in range(130)]
    assert len(assembler.encode(rows)) == 130
    heads = [call for call in calls if call[0][0] is None]  # the texts (the label block's pieces start with LABEL)
    assert [len(call) for call in heads] == slices
    assert [text for call in heads for _, text, _ in call] == [row.text for row in rows]
    assert len(calls) == len(heads) + 1  # and the label block once; no call without pieces


@pytest.mark.parametrize("pool", ["false", "true"])
@pytest.mark.parametrize("prompt_first", [False, True])
@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_a_row_is_encoded_as_alone_in_a_slice_of_either_size(encoder, prompt_first, pool, load_model, monkeypatch):
    assembler = InputAssembler(load_model(encoder).assembler.tokenizer, prompt_first=prompt_first, max_length=40)
    rows = [
        RowRequest(text=f"{row.text} {LONG_TEXT[: 40 * i]}", labels=row.labels, lead=row.lead, prompt=row.prompt,
                   examples=row.examples)
        for i, row in enumerate(rows_for(prompt_first) * 4)  # more rows than a slice, some texts shortened
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alone = [assembler.encode([row])[0] for row in rows]
        monkeypatch.setenv("TOKENIZERS_PARALLELISM", pool)
        assert len(rows) > _assembly.slice_rows()
        together = assembler.encode(rows)
    assert together == alone
    assert any(row.text_tokens_removed for row in alone)


def structure_counts(model, encoded):
    tokenizer = model.assembler.tokenizer
    return [encoded.ids.tolist().count(tokenizer.ids[token]) for token in STRUCTURAL_TOKENS]


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_structure_strings_in_content_create_no_slots(encoder, load_model):
    model = load_model(encoder, "multilang")
    injected = f"buy now {LABEL}free{SEP} money {EXAMPLE}x"
    examples = [{"text": injected, "labels": [injected, "positive"]}]
    labels = ["positive", f"neg{LABEL}ative", f"{SEP}sports"]
    request = build_request([injected, "plain"], labels, prompt=injected, examples=examples)
    for encoded in model.encode(request):
        assert structure_counts(model, encoded) == [3, 2, 1]
        assert len(encoded.label_positions) == 3
    scores = model.predict_proba([injected, "plain"], labels, prompt=injected, examples=examples)
    assert scores.shape == (2, 3) and np.isfinite(scores).all()


def test_private_use_sentinels_in_content_are_rejected(tiny_model):
    from gliclass_integrations.core._tokenizer import SENTINELS

    with pytest.raises(ValueError, match=r"^texts\[1\]: .*reserved for GLiClass structure tokens"):
        tiny_model.logits(["fine", f"bad {SENTINELS[LABEL]}"], ["a", "b"])
    with pytest.raises(ValueError, match=r"^texts\[0\]: .*reserved for GLiClass structure tokens"):
        tiny_model.logits(["fine", "also fine"], ["a", f"b {SENTINELS[SEP]}"])  # in a label: its first row


LONG_TEXT = " ".join(f"word{i % 37} the quick brown fox" for i in range(400))
MANY_LABELS = [f"label {i}" for i in range(60)]


@pytest.mark.parametrize("prompt_first", [False, True])
def test_long_text_is_shortened_and_every_label_kept(prompt_first, tiny_model):
    assembler = InputAssembler(tiny_model.assembler.tokenizer, prompt_first=prompt_first, max_length=512)
    row = RowRequest(text=LONG_TEXT, labels=tuple(MANY_LABELS), prompt="classify the text:")
    full = InputAssembler(tiny_model.assembler.tokenizer, prompt_first=prompt_first, max_length=100_000)
    (shortened,), (whole,) = assembler.encode([row]), full.encode([row])
    assert len(whole.ids) > 512 and len(shortened.ids) == 512
    assert len(shortened.label_positions) == 60
    assert structure_counts(tiny_model, shortened)[:2] == [60, 1]
    assert shortened.text_tokens_removed == len(whole.ids) - 512
    # The label block and the prompt are intact; what is left of the text is its beginning.
    label_block = whole.ids[whole.label_positions[0] : whole.sep_position + 1]
    assert shortened.ids[shortened.label_positions[0] : shortened.sep_position + 1].tolist() == label_block.tolist()
    body = shortened.ids[1:-1] if prompt_first else shortened.ids[1 : shortened.label_positions[0]]
    whole_body = whole.ids[1:-1] if prompt_first else whole.ids[1 : whole.label_positions[0]]
    assert whole_body[: len(body)].tolist() == body.tolist()


def test_shortening_matches_reference_truncation_when_text_comes_last(tiny_checkpoint, tiny_model):
    """prompt_first=True without examples: the reference's right truncation cuts only the text too."""
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_checkpoint))
    assembler = InputAssembler(tiny_model.assembler.tokenizer, prompt_first=True, max_length=200)
    row = RowRequest(text=LONG_TEXT, labels=tuple(MANY_LABELS[:10]), prompt="classify:")
    expected = tokenizer(reference_string(row, True), truncation=True, max_length=200)["input_ids"]
    assert assembler.encode([row])[0].ids.tolist() == expected


def test_examples_are_dropped_whole_after_the_text(tiny_model):
    assembler = InputAssembler(tiny_model.assembler.tokenizer, prompt_first=True, max_length=120)
    examples = tuple(Example(f"example text {i} " * 3, "positive") for i in range(6))
    row = RowRequest(text=LONG_TEXT, labels=("positive", "negative"), examples=examples)
    (encoded,) = assembler.encode([row])
    assert len(encoded.ids) <= 120 and encoded.examples_dropped > 0
    kept = len(examples) - encoded.examples_dropped
    assert structure_counts(tiny_model, encoded) == [2, 1 + (kept > 0), kept]
    # The text went first: nothing of it is left before examples were dropped.
    assert encoded.ids[encoded.sep_position + 1] == tiny_model.assembler.tokenizer.ids[EXAMPLE]


def test_labels_that_do_not_fit_raise_and_say_how_many_fit(tiny_model):
    tokenizer = tiny_model.assembler.tokenizer
    assembler = InputAssembler(tokenizer, prompt_first=False, max_length=64)
    labels = tuple(f"label {i}" for i in range(30))
    (block,) = InputAssembler(tokenizer, prompt_first=False, max_length=10_000).encode(
        [RowRequest(text="", labels=labels)]
    )
    costs = np.diff([*block.label_positions, block.sep_position])
    budget = 64 - len(tokenizer.prefix) - len(tokenizer.suffix) - 1
    expected_fit = int(np.searchsorted(np.cumsum(costs), budget, side="right"))
    with pytest.raises(InputTooLongError, match=rf"only the first {expected_fit} labels would fit"):
        assembler.encode([RowRequest(text="short", labels=labels)])


def test_shortening_warns_once_per_call(load_model):
    model = load_model("deberta", "multilang", max_length=64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.logits([LONG_TEXT, "short", LONG_TEXT], ["positive", "negative"])
    shortened = [w for w in caught if issubclass(w.category, UserWarning)]
    assert len(shortened) == 1 and "2 of 3 texts were shortened" in str(shortened[0].message)
    assert shortened[0].filename == __file__  # points at the caller's line


def test_encoded_rows_leave_the_garbage_collector_nothing_to_walk(tiny_model):
    """Thousands of rows are alive during a call: their ids must not be containers the collector traverses."""
    rows = tiny_model.encode(build_request(["i love this product", "terrible service " * 40], ["a", "b", "c"]))
    assert all(not gc.is_tracked(row.ids) and not gc.is_tracked(row.label_positions) for row in rows)
    assert [row.ids.dtype for row in rows] == [np.int64, np.int64]
