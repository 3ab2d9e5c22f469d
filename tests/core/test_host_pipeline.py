"""Inputs prepared on host threads ahead of the network: the same tokens and scores as one serial pass, in
order, with errors named as before and no thread left behind."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from checkpoints import ENCODERS, HEADS
from tolerances import FLOAT64

from gliclass_integrations.core import _model
from gliclass_integrations.core._assembly import EncodedRow
from gliclass_integrations.core._engine import BatchRunner, Launched, stream_batches
from gliclass_integrations.core._pipeline import AheadOfTime
from gliclass_integrations.core._requests import build_request
from gliclass_integrations.core._tokenizer import SENTINELS

pytestmark = pytest.mark.filterwarnings("ignore::gliclass_integrations.errors.TextsShortenedWarning")

LABELS = ["positive", "negative", "sports", "politics"]
LONG = " ".join(f"word{i % 37} the quick brown fox" for i in range(300))
TEXTS = [
    "i love this product", LONG, "ok", "the election results were announced today", "",
    "stocks fell sharply after the report " * 4, "<<LABEL>> and <<SEP>> typed by a user", "das ist gut",
    "new smartphone released with a faster chip " * 3, "i", "le film etait trop long", LONG[:900],
    "great food [SEP] friendly staff <s> nice place", "terrible service " * 12,
]


def preparing_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("gliclass-prepare")]


@pytest.fixture
def small_parts(monkeypatch):
    """Pieces of 2 texts batched in groups of up to 4, so that every call below is prepared in several
    pieces on host threads."""
    monkeypatch.setattr(_model, "PIECE_ROWS", 2)
    monkeypatch.setattr(_model, "PREPARED_ROWS", 4)


@pytest.fixture
def encoded_rows(monkeypatch):
    """Every row the engine sends to the network, in the order it is handed over."""
    seen = []

    def recording(runner, groups, **options):
        def recorded():
            for tag, rows in groups:
                seen.extend(rows)
                yield tag, rows

        return stream_batches(runner, recorded(), **options)

    monkeypatch.setattr("gliclass_integrations.core._engine.stream_batches", recording)
    return seen


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_parts_prepared_on_threads_hold_the_tokens_of_one_serial_pass(encoder, load_model, small_parts,
                                                                      encoded_rows):
    model = load_model(encoder).with_max_length(64)  # the long texts are shortened
    model.num_workers = 3
    request = build_request(TEXTS, LABELS, prompt="classify the review:")
    serial = model.encode(request)
    model.logits(TEXTS, LABELS, prompt="classify the review:")
    assert encoded_rows == serial  # token for token, shortened the same way, in input order
    assert any(row.text_tokens_removed for row in serial)


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
@pytest.mark.parametrize("head", sorted(HEADS))
def test_scores_prepared_in_parts_equal_one_serial_pass(encoder, head, load_model, monkeypatch):
    model = load_model(encoder, head, dtype="float64")
    whole = model.logits(TEXTS, LABELS)
    monkeypatch.setattr(_model, "PIECE_ROWS", 3)
    monkeypatch.setattr(_model, "PREPARED_ROWS", 6)
    model.num_workers = 2
    try:
        in_parts = model.logits(TEXTS, LABELS)
    finally:
        model.num_workers = _model.default_workers()
    np.testing.assert_allclose(in_parts, whole, atol=FLOAT64, rtol=0)


def test_the_cache_and_repeated_texts_work_across_parts(tiny_model, small_parts):
    from gliclass_integrations.core import LogitCache

    cache = LogitCache()
    texts = TEXTS + TEXTS[:5]  # repeats fall into other parts than their first occurrence
    first = tiny_model.logits(texts, LABELS, cache=cache)
    assert cache.misses == len(TEXTS) and cache.hits == 5
    np.testing.assert_array_equal(first[len(TEXTS):], first[:5])
    again = tiny_model.logits(texts, LABELS, cache=cache)
    np.testing.assert_array_equal(again, first)


def test_a_bad_text_in_a_later_part_is_named_as_in_a_serial_pass(tiny_model, small_parts):
    texts = list(TEXTS)
    texts[10] = f"bad {SENTINELS['<<LABEL>>']}"
    named = r"^texts\[10\]: .*reserved for GLiClass structure tokens"
    with pytest.raises(ValueError, match=named) as serial:
        tiny_model.encode(build_request(texts, LABELS))
    with pytest.raises(ValueError, match=named) as threaded:
        tiny_model.logits(texts, LABELS)
    assert str(threaded.value) == str(serial.value)
    assert not preparing_threads()


def test_a_stream_stopped_early_leaves_no_thread(tiny_model):
    taken = []

    def texts():
        for i in range(10_000):
            taken.append(i)
            yield f"text number {i}"

    stream = tiny_model.iter_logits(texts(), LABELS, chunk_size=8)
    for _ in zip(range(5), stream):
        pass
    assert preparing_threads()  # the next chunk is being prepared
    stream.close()
    assert not preparing_threads() and len(taken) < 5 + 6 * 8  # a few chunks ahead, not the 10,000 texts


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_streamed_chunks_prepared_in_pieces_hold_the_tokens_of_one_serial_pass(encoder, load_model, small_parts,
                                                                               encoded_rows):
    model = load_model(encoder, dtype="float64").with_max_length(64)
    model.num_workers = 3
    serial = model.encode(build_request(TEXTS, LABELS, prompt="classify the review:"))
    streamed = list(model.iter_logits(iter(TEXTS), LABELS, prompt="classify the review:", chunk_size=5))
    assert encoded_rows == serial  # token for token, in input order, though chunks and pieces differ
    whole = model.logits(TEXTS, LABELS, prompt="classify the review:")
    np.testing.assert_allclose(np.stack(streamed), whole, atol=FLOAT64, rtol=0)


def test_each_streamed_chunk_is_spread_over_the_host_threads(tiny_model, small_parts, monkeypatch):
    requests_built, threads_of_chunk = [], {}
    build, encode = _model.build_request, tiny_model.assembler.encode

    def counted_build(texts, *args, **options):
        requests_built.append(len(texts))
        return build(texts, *args, **options)

    def slow_encode(rows, *, names):
        time.sleep(0.05)  # the next pieces are handed to other threads meanwhile
        first_row = int(names(0).removeprefix("texts[").removesuffix("]"))
        threads_of_chunk.setdefault(first_row // 8, set()).add(threading.current_thread().name)
        return encode(rows, names=names)

    monkeypatch.setattr(_model, "build_request", counted_build)
    monkeypatch.setattr(tiny_model.assembler, "encode", slow_encode)
    monkeypatch.setattr(tiny_model, "num_workers", 4)
    texts = [f"text number {i}" for i in range(24)]
    stream = tiny_model.iter_logits(iter(texts), LABELS, chunk_size=8)  # 3 chunks of 4 pieces
    requests_built.clear()  # the arguments' check
    streamed = list(stream)
    assert len(streamed) == 24 and requests_built == [8, 8, 8]  # each chunk's request built once
    assert all(len(threads) >= 2 for threads in threads_of_chunk.values()) and len(threads_of_chunk) == 3


@pytest.mark.parametrize(("bad_text", "error", "yielded"), [
    (f"bad {SENTINELS['<<LABEL>>']}", "^texts\\[10\\]: .*reserved for GLiClass structure tokens", 10),
    (None, "^texts\\[10\\] is missing", 8),  # the chunk's request (texts 8 to 11) is not built
])
def test_a_bad_text_in_a_stream_is_raised_after_the_texts_before_it(tiny_model, small_parts, bad_text, error,
                                                                   yielded):
    texts = [f"text number {i}" for i in range(40)]
    texts[10] = bad_text
    taken = []
    with pytest.raises(ValueError, match=error):
        for row in tiny_model.iter_logits(iter(texts), LABELS, chunk_size=4):
            taken.append(row)
    assert len(taken) == yielded
    assert not preparing_threads()


def test_an_error_of_the_callers_iterable_is_raised_after_the_texts_it_gave(tiny_model, small_parts):
    def texts():
        for i in range(10):
            yield f"text number {i}"
        raise OSError("the file went away")

    taken = []
    with pytest.raises(OSError, match="the file went away"):
        for row in tiny_model.iter_logits(texts(), LABELS, chunk_size=4):
            taken.append(row)
    assert len(taken) == 10  # the two texts of the last chunk, read before the error, too
    assert not preparing_threads()


def test_a_stream_runs_an_input_repeated_in_later_chunks_once(load_model, small_parts):
    from gliclass_integrations.core import LogitCache

    model = load_model("deberta", dtype="float64")
    texts = ["i love it", "never again", "ok", "i love it", "never again", "meh", "i love it", "ok"]
    rows_run = []
    handle = model.network.register_forward_pre_hook(lambda _m, args: rows_run.append(len(args[0].lengths)))
    try:
        streamed = np.stack(list(model.iter_logits(iter(texts), LABELS, chunk_size=2, cache=LogitCache())))
    finally:
        handle.remove()
    assert sum(rows_run) == 4  # each distinct text once, whether the earlier chunk was still in flight or not
    np.testing.assert_allclose(streamed, model.logits(texts, LABELS), atol=FLOAT64, rtol=0)


def test_ahead_of_time_keeps_order_bounds_work_in_flight_and_joins_its_threads():
    started, lock = [], threading.Lock()

    def slow_square(x: int) -> int:
        with lock:
            started.append(x)
        time.sleep(0.01 * (x % 3))  # later items often finish first
        return x * x

    results = AheadOfTime(slow_square, iter(range(40)), workers=3, ahead=4)
    first = [next(results) for _ in range(5)]
    assert first == [0, 1, 4, 9, 16]
    assert len(started) <= 5 + 4  # never more than `ahead` items beyond what was consumed
    results.close()
    assert not preparing_threads()
    assert list(AheadOfTime(slow_square, range(40), workers=3)) == [x * x for x in range(40)]


def test_an_error_in_a_worker_is_raised_at_its_turn_and_the_threads_are_joined():
    def fails_on_five(x: int) -> int:
        if x == 5:
            raise ValueError("text 5 is bad")
        return x

    results = AheadOfTime(fails_on_five, range(20), workers=2)
    assert [next(results) for _ in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="text 5 is bad"):
        next(results)
    assert not preparing_threads()


def test_an_input_repeated_in_the_next_part_runs_once_while_the_first_is_in_flight(tiny_model, monkeypatch):
    from gliclass_integrations.core import LogitCache

    monkeypatch.setattr(_model, "PIECE_ROWS", 2)
    monkeypatch.setattr(_model, "PREPARED_ROWS", 2)  # one piece per group: the next group launches first
    texts = ["i love it", "never again", "i love it", "never again", "ok", "i love it"]
    rows_run = []
    handle = tiny_model.network.register_forward_pre_hook(lambda _m, args: rows_run.append(len(args[0].lengths)))
    try:
        scores = tiny_model.logits(texts, LABELS, cache=LogitCache())
    finally:
        handle.remove()
    assert sum(rows_run) == 3  # each distinct text once
    np.testing.assert_array_equal(scores[2], scores[0])
    np.testing.assert_array_equal(scores[5], scores[0])
    np.testing.assert_array_equal(scores[3], scores[1])


@pytest.mark.parametrize(("n_rows", "workers", "sizes"), [
    (0, 2, []),
    (5, 2, [5]),  # one piece, prepared without threads
    (128, 4, [128]),
    (300, 1, [128, 128, 44]),
    (300, 2, [64, 64, 128, 44]),  # the first 128 rows split across the threads
    (300, 3, [43, 43, 42, 128, 44]),
    (300, 32, [16] * 8 + [128, 44]),  # never below one tokenizer call's 16 rows
])
def test_a_calls_rows_are_prepared_in_pieces_the_first_split_across_the_threads(n_rows, workers, sizes):
    pieces = _model.piece_ranges(n_rows, workers)
    assert [len(piece) for piece in pieces] == sizes
    assert [row for piece in pieces for row in piece] == list(range(n_rows))


def test_a_streams_first_chunk_alone_is_split_across_the_threads(tiny_model, monkeypatch):
    prepared_sizes = []
    prepare = tiny_model._prepare

    def recorded(request, rows, mode, cache):
        prepared_sizes.append((request.names.offset + rows[0], len(rows)))  # on any thread, in any order
        return prepare(request, rows, mode, cache)

    monkeypatch.setattr(tiny_model, "_prepare", recorded)
    monkeypatch.setattr(tiny_model, "num_workers", 2)
    rows = list(tiny_model.iter_logits((f"text {i}" for i in range(600)), LABELS, chunk_size=300))
    assert len(rows) == 600
    assert [size for _, size in sorted(prepared_sizes)] == [64, 64, 128, 44, 128, 128, 44]


def test_num_workers_defaults_to_the_available_cores_and_is_checked(tiny_checkpoint):
    import os

    from gliclass_integrations import GLiClass

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert GLiClass.from_pretrained(tiny_checkpoint).num_workers == max(1, min(8, cores))
    assert GLiClass.from_pretrained(tiny_checkpoint, num_workers=3).num_workers == 3
    with pytest.raises(ValueError, match="num_workers must be a positive integer"):
        GLiClass.from_pretrained(tiny_checkpoint, num_workers=0)


class RecordingNetwork(torch.nn.Module):
    """Logits equal to each row's first id (which names its group and row), and a log of every launch."""

    def __init__(self, events: list) -> None:
        super().__init__()
        self.events = events

    def forward(self, batch):
        self.events.append(("launch", int(batch.input_ids[0, 0]) // 100))
        return batch.input_ids[:, :1].to(torch.float32).expand(batch.label_positions.shape)


def rows_of(group: int, n: int) -> list[EncodedRow]:
    return [EncodedRow(np.array([group * 100 + i, 7, 7]), np.array([1]), 2, False) for i in range(n)]


def test_the_next_group_is_taken_while_batches_of_the_last_are_still_to_run(monkeypatch):
    events = []
    sizes = [6, 2, 0, 4]  # batches of 2 rows: 3, 1, none and 2 batches

    def groups():
        for group, n in enumerate(sizes):
            events.append(("take", group))
            yield group, rows_of(group, n)

    read = Launched.read

    def recorded_read(self):
        events.append(("read", int(self.logits[0, 0]) // 100))
        return read(self)

    monkeypatch.setattr(Launched, "read", recorded_read)
    runner = BatchRunner(RecordingNetwork(events), pad_id=0, device=torch.device("cpu"))
    results = list(stream_batches(runner, groups(), batch_size=2, max_batch_tokens=10_000))

    assert [tag for tag, _ in results] == [0, 1, 2, 3]
    for tag, logits in results:
        assert [float(row[0]) for row in logits] == [tag * 100 + i for i in range(sizes[tag])]
    reads = [i for i, event in enumerate(events) if event[0] == "read"]
    launched_before = [sum(event[0] == "launch" for event in events[:read]) for read in reads]
    # Batch k is read once batch k + 1 is launched; but group 1's batch before the empty group's result, and the
    # last batch when nothing follows it.
    assert [launched - k for k, launched in enumerate(launched_before)] == [2, 2, 2, 1, 2, 1]
    last_launch_of_0 = max(i for i, event in enumerate(events) if event == ("launch", 0))
    assert events.index(("take", 1)) < last_launch_of_0  # group 0 still had a batch to run
    assert events.index(("take", 3)) < events.index(("read", 1))  # past the empty group, group 1 still running
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("gliclass-collate")]


def test_on_the_cpu_the_batches_after_the_next_are_collated_while_a_batch_runs():
    """A CPU launch returns once its batch has run: the collating thread gets its next batch before, not after."""
    collated = {k: threading.Event() for k in range(5)}

    class SignallingRunner(BatchRunner):
        def collate(self, rows):
            batch = super().collate(rows)
            collated[int(rows[0].ids[0]) // 2].set()  # rows 2k and 2k + 1 form batch k
            return batch

    class WaitingNetwork(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.waited_for: list[bool] = []

        def forward(self, batch):
            k = int(batch.input_ids[0, 0]) // 2
            if k + 2 in collated:
                self.waited_for.append(collated[k + 2].wait(timeout=5))
            return batch.input_ids[:, :1].to(torch.float32).expand(batch.label_positions.shape)

    network = WaitingNetwork()
    runner = SignallingRunner(network, pad_id=0, device=torch.device("cpu"))
    rows = [EncodedRow(np.array([i, 7, 7]), np.array([1]), 2, False) for i in range(10)]
    results = list(stream_batches(runner, iter([("only", rows)]), batch_size=2, max_batch_tokens=10_000))
    assert [float(row[0]) for row in results[0][1]] == list(range(10))
    assert network.waited_for == [True, True, True]  # batches 2, 3, 4 collated while batches 0, 1, 2 ran


def test_the_first_batch_runs_before_the_next_group_is_ready():
    launched = threading.Event()

    class SignallingNetwork(RecordingNetwork):
        def forward(self, batch):
            launched.set()
            return super().forward(batch)

    def groups():
        yield 0, rows_of(0, 1)
        assert launched.wait(timeout=10), "the first batch waited for the second group's preparation"
        yield 1, rows_of(1, 1)

    runner = BatchRunner(SignallingNetwork([]), pad_id=0, device=torch.device("cpu"))
    results = list(stream_batches(runner, groups(), batch_size=2, max_batch_tokens=10_000))
    assert [tag for tag, _ in results] == [0, 1]


def test_the_next_group_waits_for_an_idle_device_when_it_is_not_ready():
    events = []

    def groups():
        for group, n in enumerate([6, 4]):
            events.append(("take", group))
            yield group, rows_of(group, n)

    runner = BatchRunner(RecordingNetwork(events), pad_id=0, device=torch.device("cpu"))
    results = list(stream_batches(runner, groups(), batch_size=2, max_batch_tokens=10_000, groups_ready=lambda: False))
    assert [tag for tag, _ in results] == [0, 1]
    last_launch_of_0 = max(i for i, event in enumerate(events) if event == ("launch", 0))
    assert events.index(("take", 1)) > last_launch_of_0  # not while group 0 still had batches to run


def test_an_error_taking_a_group_is_raised_after_the_groups_before_it():
    def groups():
        yield 0, rows_of(0, 3)
        yield 1, rows_of(1, 1)
        raise ValueError("group 2 cannot be prepared")

    runner = BatchRunner(RecordingNetwork([]), pad_id=0, device=torch.device("cpu"))
    yielded = []
    with pytest.raises(ValueError, match="group 2 cannot be prepared"):
        for tag, logits in stream_batches(runner, groups(), batch_size=2, max_batch_tokens=10_000):
            yielded.append((tag, len(logits)))
    assert yielded == [(0, 3), (1, 1)]
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("gliclass-collate")]


@pytest.mark.parametrize("pool", ["false", "true"])  # slices of 16 or 64 rows
def test_a_text_too_long_for_its_labels_is_named_in_any_slice(pool, tiny_model, monkeypatch):
    from gliclass_integrations.core import _assembly
    from gliclass_integrations.errors import InputTooLongError

    monkeypatch.setenv("TOKENIZERS_PARALLELISM", pool)
    texts = [f"text {i}" for i in range(3 * _assembly.slice_rows())]
    labels = [["a", "b"]] * len(texts)
    late = 2 * _assembly.slice_rows() + 3
    labels[late] = [f"label number {i} " * 8 for i in range(60)]
    with pytest.raises(InputTooLongError, match=rf"^texts\[{late}\]: its 60 labels"):
        tiny_model.encode(build_request(texts, labels))
