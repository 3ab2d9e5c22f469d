"""How fast the host prepares inputs, and whether preparation and the network overlap.

Three measurements on one checkpoint (a tiny random DeBERTa-v2 GLiClass with a word-level tokenizer
built at start-up; nothing is downloaded), on N texts of W words with L labels:

1. Preparation rate: ``GLiClass.encode`` (tokenization and input assembly, what the engine does before a
   batch is collated) against the tokenizer's own ``encode_batch`` on the same texts (the Rust batch
   encoder, parallel over cores, without any of our assembly).
2. Preparation on host threads: one call's texts prepared in parts of ``PREPARED_ROWS`` on 1, 2, ...
   threads, with the network replaced by one that returns at once (so only preparation is timed), with
   the tokenizer's own thread pool on and off (4. below). 1 and 2 are measured interleaved, round after
   round, each figure the fastest of its rounds.
3. Overlap: the network replaced by a stand-in whose forward pass sleeps a fixed time per batch
   (releasing the GIL, as PyTorch kernels and CUDA launches do), by default as long as everything
   else the engine does per batch, with batches as large as on CUDA (16384 tokens). The engine's
   wall time is compared with the preparation time alone (the engine with a network that returns at
   once) and the network time alone (the same sleeps back to back): overlapped, it is close to the
   larger of the two, not their sum. Measured for one call and for a stream of the same texts
   (``iter_logits``, chunks of 1024).
   For the synchronous stand-in, where the extra time goes: before the first forward pass (the first
   piece's preparation), between forward passes (what the launching thread does, and its waits), inside
   them beyond the fixed time (waiting for a core and the GIL after the sleep), and after the last; and,
   across those, how long the launching thread spent taking the next group of prepared pieces (most of
   it waiting for their preparation, when the pipeline runs dry); and when each step of a call's start
   first happens (the request built, a first piece prepared, the first batch collated, the first forward
   pass).
4. The tokenizer's own thread pool: the Rust tokenizer spreads each ``encode_batch`` call over a pool
   of its own threads unless ``TOKENIZERS_PARALLELISM=false``; with several host threads calling it,
   the two pools share the cores. Measurement 2 runs with the pool on and off (the variable is switched
   between interleaved runs of this process; the tokenizer reads it at every call).
5. Wake-up delay: while texts are prepared on host threads, the main thread (the one that launches the
   network) sleeps 5 ms again and again; how much later than 5 ms it runs again is the time it waited
   for a core and for the GIL. Measured with the rows tokenized and laid out in slices of
   ``SLICE_ROWS`` (the GIL is free during each call into the tokenizer; the size with the tokenizer's pool
   off), of ``POOLED_SLICE_ROWS`` (the size with it on) and in one slice per piece.
6. The launching loop alone: the batches of rows encoded beforehand (no host thread preparing) run through
   the synchronous stand-in; the time beyond its sleeps is what the loop itself costs per batch (taking a
   collated batch, launching, reading back). Beside it, one batch's collating, launch and read-back timed
   right after a sleep of the forward time and back to back: on a VM, work right after a thread slept
   can run several times slower than the same work timed in a tight loop.
7. Launching while preparing: the time to call ``LAUNCHED_OPS`` small torch operations in a row (each
   gives the GIL up and takes it back, as each kernel launch of a forward pass on a GPU does), alone and
   while host threads prepare texts: how much preparation slows a launch-bound forward pass.
8. The GIL's share of preparation: one host thread, the tokenizer's pool off, timed in the tokenizer's
   batch calls (which release the GIL) and outside them (our Python, which holds it). Host threads cannot
   prepare faster than one thread's rate divided by that share, however many cores the host has. Beside it,
   the least any layout holds the GIL for: each row's ids read from the tokenizer's encodings (made
   beforehand) and made an array, nothing else.

9. Rows per tokenizer call (``--call-sizes 16,32,64``): the overlap measured again with the rows tokenized and
   laid out that many per call, round after round, the sizes in a new order each round and the stand-in's time
   per batch the same for all: preparation alone, the synchronous and the queued stand-in, medians of the
   wall times and of each round's ratio to the larger of that round's preparation alone and network alone.
   Sizes that prepare faster alone can still give the same overlapped time; this tells which.

``--worker-processes`` runs every measurement with tokenization and assembly in worker processes instead
(one per host thread, spawned, the tokenizer's pool off in each; the host threads wait for them), as
PyTorch's ``DataLoader`` prepares batches: what taking preparation out of this process would give.

Usage:
    python benchmarks/host_pipeline.py                       # 4096 texts of 200 words, 8 labels
    python benchmarks/host_pipeline.py --n 8192 --words 200 --labels 8 --forward-ms 40 --repeat 3
    python benchmarks/host_pipeline.py --workers 1,2,4,8        # a host with more cores
    python benchmarks/host_pipeline.py --overlap-only --worker-processes
    python benchmarks/host_pipeline.py --overlap-only --call-sizes 16,32,64 --repeat 10
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pickle
import random
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from itertools import pairwise, product
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput

from gliclass_integrations import GLiClass
from gliclass_integrations.core import _assembly, _engine, _model
from gliclass_integrations.core._engine import BatchRunner, _Planned, plan_batches, stream_batches
from gliclass_integrations.core._pipeline import AheadOfTime
from gliclass_integrations.core._requests import build_request


class StandInNetwork(torch.nn.Module):
    """Returns zero logits after sleeping ``seconds`` per batch (a fixed-time forward that releases the GIL)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.batches = 0
        self.spans: list[tuple[float, float]] = []  # (start, end) of each forward pass

    def sleep(self) -> None:
        if self.seconds:
            time.sleep(self.seconds)

    def back_to_back(self, batches: int) -> float:
        """Seconds that ``batches`` forward passes' sleeps take back to back: the network alone."""
        start = time.perf_counter()
        for _ in range(batches):
            self.sleep()
        return time.perf_counter() - start

    def forward(self, batch):
        self.batches += 1
        start = time.perf_counter()
        self.sleep()
        logits = torch.zeros(batch.label_positions.shape, dtype=torch.float32)
        self.spans.append((start, time.perf_counter()))
        return logits


def idle_device(spans: list[tuple[float, float]], call_start: float, call_end: float, seconds: float) -> dict:
    """Where a call's time beyond its forward passes' fixed time went, in seconds."""
    return {
        "before the first forward pass": spans[0][0] - call_start,
        "between forward passes": sum(start - end for (_, end), (start, _) in pairwise(spans)),
        "inside them, beyond the fixed time": sum(end - start - seconds for start, end in spans),
        "after the last": call_end - spans[-1][1],
    }


class TimeOnThisThread:
    """Seconds spent in ``owner.method`` by the thread that creates this, while inside the ``with`` block."""

    def __init__(self, owner, method: str) -> None:
        self.owner, self.method, self.seconds = owner, method, 0.0
        self._thread = threading.get_ident()

    def __enter__(self) -> TimeOnThisThread:
        shipped = self._shipped = getattr(self.owner, self.method)

        def timed(*args, **kwargs):
            if threading.get_ident() != self._thread:
                return shipped(*args, **kwargs)
            start = time.perf_counter()
            try:
                return shipped(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        setattr(self.owner, self.method, timed)
        return self

    def __exit__(self, *exc_info) -> None:
        setattr(self.owner, self.method, self._shipped)


class QueuedLogits(torch.Tensor):
    """Logits of a stand-in device that works through its batches in order, like a CUDA stream: using them
    (reading them to the host, or anything else) waits until the device has finished this batch (or,
    with ``stand_in.read_waits_for_all``, every batch launched so far); launching returns at once."""

    ready_at = 0.0
    stand_in: QueuedStandIn | None = None

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if args and isinstance(args[0], QueuedLogits):
            stand_in = args[0].stand_in
            waits_for_all = stand_in is not None and stand_in.read_waits_for_all
            ready_at = stand_in.free_at if waits_for_all else args[0].ready_at
            wait = ready_at - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        result = super().__torch_function__(func, types, args, kwargs or {})
        return result.as_subclass(torch.Tensor) if isinstance(result, QueuedLogits) else result


class QueuedStandIn(torch.nn.Module):
    """A stand-in device: each batch takes ``seconds`` after the previous one is done, and the host is free.

    ``read_waits_for_all``: reading a batch back waits for every batch launched before the read, as a
    ``.cpu()`` on the stream does (how the engine read back until 2026-12-02), not for that batch alone."""

    def __init__(self, seconds: float, read_waits_for_all: bool = False) -> None:
        super().__init__()
        self.seconds = seconds
        self.read_waits_for_all = read_waits_for_all
        self.free_at = 0.0

    def forward(self, batch):
        self.free_at = max(time.perf_counter(), self.free_at) + self.seconds
        logits = torch.zeros(batch.label_positions.shape, dtype=torch.float32).as_subclass(QueuedLogits)
        logits.ready_at, logits.stand_in = self.free_at, self
        return logits


class ProcessAssembler:
    """Stands in for a model's ``InputAssembler``: rows are tokenized and laid out in worker processes."""

    def __init__(self, assembler, processes: int) -> None:
        self._assembler = assembler
        self._pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_start_worker, initargs=(pickle.dumps(assembler),))
        list(self._pool.map(abs, range(4 * processes)))  # every process started before anything is timed

    def encode(self, rows, *, names=None):
        return self._pool.submit(_encode_in_worker, rows, names, False).result()

    def encode_windows(self, rows, *, names=None):
        return self._pool.submit(_encode_in_worker, rows, names, True).result()

    def __getattr__(self, name):
        return getattr(self._assembler, name)

    def close(self) -> None:
        self._pool.shutdown()


_worker_assembler = None


def _start_worker(pickled_assembler: bytes) -> None:
    global _worker_assembler
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one process per core already
    _worker_assembler = pickle.loads(pickled_assembler)


def _encode_in_worker(rows, names, windows: bool):
    if windows:
        return _worker_assembler.encode_windows(rows, names=names)
    return _worker_assembler.encode(rows, names=names)


def gil_share(model, request) -> tuple[float, float]:
    """Seconds of ``GLiClass.encode`` on one thread with the tokenizer's pool off, and of them in the tokenizer's
    batch calls (the GIL released; ``request`` has no prompt, so every piece goes through the one timed); the
    rest is Python holding the GIL."""
    with throughput.tokenizer_pool(False), TimeOnThisThread(model.assembler.tokenizer,
                                                            "_encode_batch_without_offsets") as tokenizing:
        start = time.perf_counter()
        model.encode(request)
        return time.perf_counter() - start, tokenizing.seconds


def least_layout(model, texts: list[str]) -> float:
    """Seconds that the least any layout must do with the tokenizer's output holds the GIL: each row's ids read
    from its encoding (a Python list) and made an array, for encodings made beforehand (one thread, the same
    slices as the assembler's with the tokenizer's pool off)."""
    encode = model.assembler.tokenizer._encode_batch_without_offsets
    size = _assembly.SLICE_ROWS
    with throughput.tokenizer_pool(False):
        encodings = [encode(texts[start : start + size], add_special_tokens=False)
                     for start in range(0, len(texts), size)]
    start = time.perf_counter()
    for piece in encodings:
        [np.array(encoding.ids, dtype=np.int64) for encoding in piece]
    return time.perf_counter() - start


LAUNCHED_OPS = 300  # the order of a small encoder's kernel launches in one forward pass


def preparation_times(model, request, texts: list[str], labels: list[str], workers: list[int], repeat: int,
                      pools: tuple[bool, ...] = (True, False)) -> dict:
    """Fastest time of the tokenizer's ``encode_batch`` on the bare texts, of ``GLiClass.encode``, and of the
    engine (network returning at once) per (host threads, tokenizer pool on), all interleaved, so that a
    slow spell of a shared machine does not fall on one of them alone. ``request``: the texts' request."""
    backend = model.assembler.tokenizer._backend
    times: dict = {"encode_batch": [], "encode": [], **{(w, pool): [] for w in workers for pool in pools}}
    for _ in range(repeat):
        for key in times:
            if key == "encode_batch":
                times[key].append(throughput.fastest(lambda: backend.encode_batch(texts, add_special_tokens=False), 1))
            elif key == "encode":
                times[key].append(throughput.fastest(lambda: model.encode(request), 1))
            else:
                threads, pool = key
                model.num_workers = threads
                with throughput.tokenizer_pool(pool):
                    times[key].append(throughput.fastest(lambda: model.logits(texts, labels), 1))
    return {key: min(values) for key, values in times.items()}


def while_preparing(model, texts: list[str], labels: list[str], workers: int, probe) -> list[float]:
    """``probe()`` on this thread, again and again, while ``workers`` host threads prepare ``texts``."""
    pieces = [texts[start : start + _model.PIECE_ROWS] for start in range(0, len(texts), _model.PIECE_ROWS)]

    def prepare() -> None:
        with AheadOfTime(lambda piece: model.encode(build_request(piece, labels)), pieces, workers=workers) as parts:
            for _ in parts:
                pass

    preparing = threading.Thread(target=prepare)
    results = []
    try:
        preparing.start()
        while preparing.is_alive():
            results.append(probe())
    finally:
        preparing.join()
    return results


def wake_up_delays(model, texts: list[str], labels: list[str], slice_rows: int, workers: int) -> list[float]:
    """Seconds beyond 5 ms that each 5 ms sleep of this thread lasts while host threads prepare ``texts``."""

    def delay() -> float:
        start = time.perf_counter()
        time.sleep(0.005)
        return time.perf_counter() - start - 0.005

    with rows_per_tokenizer_call(slice_rows):
        return while_preparing(model, texts, labels, workers, delay)


@contextmanager
def rows_per_tokenizer_call(size: int):
    """Inside the block, rows are tokenized and laid out ``size`` per call, whatever the tokenizer's pool."""
    shipped = _assembly.slice_rows
    _assembly.slice_rows = lambda: size
    try:
        yield
    finally:
        _assembly.slice_rows = shipped


def overlap_by_call_size(model, texts: list[str], labels: list[str], sizes: list[int], seconds: float,
                         batches: int, rounds: int) -> dict[tuple[int, str], list[float]]:
    """Seconds of one call, each round, for each number of rows per tokenizer call: preparation alone (a network
    returning at once), the synchronous and the queued stand-in (``seconds`` per batch, the same for every size),
    and the network alone (``batches`` sleeps back to back, once per round); the sizes in a new order each round."""
    devices = {"preparation alone": StandInNetwork(0.0), "synchronous": StandInNetwork(seconds),
               "queued": QueuedStandIn(seconds)}
    times: dict[tuple[int, str], list[float]] = {(size, name): [] for size in sizes
                                                 for name in [*devices, "network alone"]}
    for _ in range(rounds):
        network_alone = devices["synchronous"].back_to_back(batches)
        for size in random.sample(sizes, len(sizes)):
            times[size, "network alone"].append(network_alone)
            with rows_per_tokenizer_call(size):
                for name, device in devices.items():
                    model.network = device
                    times[size, name].append(throughput.fastest(lambda: model.logits(texts, labels), 1))
    return times


def print_overlap_by_call_size(times: dict[tuple[int, str], list[float]], sizes: list[int], rounds: int) -> None:
    median = statistics.median
    print(f"Rows per tokenizer call, the same stand-in for every size ({rounds} rounds, medians; the ratios are each "
          "round's own, to the larger of that round's preparation alone and network alone):")
    print()
    print("| rows per call | preparation alone | synchronous | queued | network alone | synchronous × the larger "
          "| queued × the larger |")
    print("|---|---|---|---|---|---|---|")
    for size in sizes:
        larger = [max(prepared, network) for prepared, network in zip(times[size, "preparation alone"],
                                                                       times[size, "network alone"])]
        cells = [f"{median(times[size, name]):.3f} s" for name in ("preparation alone", "synchronous", "queued",
                                                                      "network alone")]
        cells += [f"{median(t / bound for t, bound in zip(times[size, name], larger)):.2f}"
                  for name in ("synchronous", "queued")]
        print(f"| {size} | " + " | ".join(cells) + " |")


def loop_overhead(model, rows: list, seconds: float, max_batch_tokens: int, repeat: int) -> tuple[int, float]:
    """Batches, and the fastest run's seconds per batch beyond the stand-in's sleeps, of ``stream_batches`` on
    rows encoded beforehand (in groups of ``PREPARED_ROWS``, as the engine takes them)."""
    extra = []
    for _ in range(repeat):
        network = StandInNetwork(seconds)
        runner = BatchRunner(network, pad_id=model.assembler.tokenizer.pad_id, device=torch.device("cpu"))
        groups = ((start, rows[start : start + _model.PREPARED_ROWS])
                  for start in range(0, len(rows), _model.PREPARED_ROWS))
        start = time.perf_counter()
        for _ in stream_batches(runner, groups, batch_size=None, max_batch_tokens=max_batch_tokens):
            pass
        elapsed = time.perf_counter() - start
        extra.append((elapsed - network.back_to_back(network.batches)) / network.batches)
    return network.batches, min(extra)


def one_batch_times(model, rows: list, seconds: float, max_batch_tokens: int, rounds: int = 60) -> dict:
    """Median seconds to collate, launch (a network returning at once) and read back one batch of ``rows``:
    right after sleeping ``seconds``, and back to back."""
    batch = [rows[i] for i in plan_batches([len(row.ids) for row in rows], batch_size=None,
                                           max_batch_tokens=max_batch_tokens)[0]]
    runner = BatchRunner(StandInNetwork(0.0), pad_id=model.assembler.tokenizer.pad_id, device=torch.device("cpu"))
    medians = {}
    for title, pause in (("right after a sleep", seconds), ("back to back", 0.0)):
        times = []
        for _ in range(rounds):
            time.sleep(pause)
            start = time.perf_counter()
            for launched in runner.launch(batch, runner.collate(batch)):
                launched.read()
            times.append(time.perf_counter() - start)
        medians[title] = statistics.median(times)
    return medians


def start_of_a_call(model, texts: list[str], labels: list[str], seconds: float, calls: int = 8) -> dict[str, list]:
    """Seconds from the start of each of ``calls`` calls (the synchronous stand-in taking ``seconds`` per batch) to
    the first time each step happened: the request built, a first piece prepared (on a host thread), the first
    batch collated (the first piece taken, in order), the first forward pass."""
    marks: dict[str, float] = {}

    def marking(function, started: str | None, returned: str):
        def marked(*args, **kwargs):
            if started is not None:
                marks.setdefault(started, time.perf_counter())
            result = function(*args, **kwargs)
            marks.setdefault(returned, time.perf_counter())
            return result
        return marked

    shipped = [(_model.GLiClass, "_request", _model.GLiClass.__dict__["_request"]),
               (_model.GLiClass, "_prepare", _model.GLiClass._prepare), (_engine, "collate", _engine.collate)]
    _model.GLiClass._request = staticmethod(marking(_model.GLiClass._request, None, "the request built"))
    _model.GLiClass._prepare = marking(_model.GLiClass._prepare, None, "a first piece prepared")
    _engine.collate = marking(_engine.collate, "the first batch taken, collating", "the first batch collated")
    network, model.network = model.network, StandInNetwork(seconds)
    model.network.sleep = marking(model.network.sleep, "the first forward pass", "the first forward pass done")
    steps: dict[str, list] = {}
    try:
        for _ in range(calls):
            marks.clear()
            start = time.perf_counter()
            model.logits(texts, labels)
            for step, at in sorted(marks.items(), key=lambda mark: mark[1]):
                steps.setdefault(step, []).append(at - start)
    finally:
        for owner, name, value in shipped:
            setattr(owner, name, value)
        model.network = network
    return steps


def first_result(rows) -> float:
    """Seconds until the first of ``rows`` arrives; the rest are taken too."""
    start = time.perf_counter()
    first = None
    for _ in rows:
        if first is None:
            first = time.perf_counter() - start
    return first


def spread(values: list[float]) -> dict[str, float]:
    """Median, mean and 90th percentile of ``values``."""
    ordered = sorted(values)
    return {"median": ordered[len(ordered) // 2], "mean": statistics.mean(ordered),
            "90th percentile": ordered[int(0.9 * len(ordered))]}


def launch_time(ops: int = LAUNCHED_OPS) -> float:
    """Seconds to call ``ops`` small torch operations one after another (each gives up the GIL and takes it
    back, as every kernel launch of a forward pass does)."""
    value = torch.zeros(16)
    start = time.perf_counter()
    for _ in range(ops):
        value = value + 1
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--words", type=int, default=200)
    parser.add_argument("--labels", type=int, default=8)
    parser.add_argument("--forward-ms", type=float, default=None,
                        help="stand-in forward time per batch (default: matches the preparation time)")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--switch-interval", type=float, default=None,
                        help="sys.setswitchinterval(seconds) first (CPython's default: 0.005)")
    parser.add_argument("--max-batch-tokens", type=int, default=16384, help="as on CUDA (default: 16384)")
    parser.add_argument("--slices", default=f"{_assembly.SLICE_ROWS},{_assembly.POOLED_SLICE_ROWS},{_model.PIECE_ROWS}",
                        help="rows per slice to measure the wake-up delay with (default: ours with the tokenizer's "
                             "pool off and on, and one per piece)")
    parser.add_argument("--call-sizes", default=None,
                        help="rows per tokenizer call to compare the overlap with (e.g. 16,32,64; default: none)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--overlap-only", action="store_true", help="stop after the overlap table")
    parser.add_argument("--worker-processes", action="store_true",
                        help="tokenize and lay out rows in worker processes (one per host thread), not on the threads")
    args = parser.parse_args(argv)
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)

    with tempfile.TemporaryDirectory() as folder:
        throughput.build_checkpoint("tiny", Path(folder))
        model = GLiClass.from_pretrained(folder, device="cpu", max_length=512)
    texts, labels = throughput.make_word_texts(args.n, args.words), throughput.make_labels(args.labels)
    request = build_request(texts, labels)
    print(f"CPU: {throughput._cpu_name()}, {torch.get_num_threads()} torch threads; {args.n} texts of "
          f"{args.words} words, {args.labels} labels, parts of {_model.PREPARED_ROWS} texts")
    thread_counts = [int(count) for count in args.workers.split(",")]
    if args.worker_processes:
        model.assembler = ProcessAssembler(model.assembler, max(thread_counts))
        print(f"Tokenization and assembly in {max(thread_counts)} worker processes (the host threads wait for them).")
    try:
        return measure(model, texts, labels, request, thread_counts, args)
    finally:
        if args.worker_processes:
            model.assembler.close()


def measure(model, texts: list[str], labels: list[str], request, thread_counts: list[int], args) -> int:
    rows = model.encode(request)
    tokens = sum(len(row.ids) for row in rows)
    network = model.network
    model.max_batch_tokens = args.max_batch_tokens
    try:
        model.network = StandInNetwork(0.0)
        times = preparation_times(model, request, texts, labels, thread_counts, args.repeat,
                                  pools=(False,) if args.worker_processes else (True, False))
        encode_batch = times.pop("encode_batch")
        preparations = {"`GLiClass.encode` (one call)": times.pop("encode")}
        for (threads, pool), seconds in times.items():
            preparations[f"engine, network returning at once, {threads} host thread(s), tokenizer pool "
                 f"{'on' if pool else 'off'}"] = seconds
        print("The tokenizer's own thread pool (`TOKENIZERS_PARALLELISM`) is as this process was started for the "
              f"first two rows, switched for the engine's (fastest of {args.repeat} runs, all rows interleaved).")
        print()
        print("| what | texts/s | M tokens/s | time vs encode_batch |")
        print("|---|---|---|---|")
        print(f"| tokenizer `encode_batch` (texts alone) | {args.n / encode_batch:,.0f} | - | 1.00 |")
        for title, seconds in preparations.items():
            print(f"| {title} | {args.n / seconds:,.0f} | {tokens / seconds / 1e6:.2f} | "
                  f"{seconds / encode_batch:.2f} |")
        model.num_workers = max(thread_counts)
        model.network.batches = 0
        model.logits(texts, labels)
        batches = model.network.batches
        if args.forward_ms is not None:
            per_batch = args.forward_ms / 1000
        else:  # as long as everything else the engine does per batch
            per_batch = throughput.fastest(lambda: model.logits(texts, labels), args.repeat) / batches
        stand_in = StandInNetwork(per_batch)
        devices = {"preparation": StandInNetwork(0.0), "sync": stand_in, "queued": QueuedStandIn(per_batch),
                   "queued, waiting for all": QueuedStandIn(per_batch, read_waits_for_all=True)}
        ways = {"call": lambda: model.logits(texts, labels),  # one call, and a stream in chunks of 1024 texts
                "stream": lambda: first_result(model.iter_logits(iter(texts), labels))}
        times = {(name, way): [] for name in ["network", *devices] for way in ways}
        stream_starts: dict[str, list[float]] = {name: [] for name in devices}
        stream_batches_run = devices["preparation"].batches
        sync_idle: dict[str, float] = {}
        for _ in range(args.repeat):  # interleaved, so that a slow spell of a shared machine hits every figure
            times["network", "call"].append(stand_in.back_to_back(batches))
            for (name, device), (way, run) in product(devices.items(), ways.items()):
                model.network = device
                stand_in.spans, counted = [], devices["preparation"].batches
                with TimeOnThisThread(_Planned, "__next__") as taking_groups:  # the launching thread's
                    start = time.perf_counter()
                    first = run()
                    times[name, way].append(time.perf_counter() - start)
                if way == "stream":
                    stream_starts[name].append(first)
                if (name, way) == ("preparation", "stream"):
                    stream_batches_run = devices["preparation"].batches - counted
                if (name, way) == ("sync", "call") and times[name, way][-1] == min(times[name, way]):
                    sync_idle = idle_device(stand_in.spans, start, start + times[name, way][-1], per_batch)
                    sync_idle["(in all: the launching thread taking the next group, waiting for its preparation)"] = (
                        taking_groups.seconds)
        times["network", "stream"] = [seconds * stream_batches_run / batches for seconds in times["network", "call"]]
        fastest = {key: min(values) for key, values in times.items()}
        bound = {way: max(fastest["preparation", way], fastest["network", way]) for way in ways}
        print()
        print(f"Overlap ({model.num_workers} host threads, {batches} batches of at most {args.max_batch_tokens} "
              f"tokens ({stream_batches_run} in the stream), {per_batch * 1000:.1f} ms per batch; fastest of "
              f"{args.repeat} interleaved runs): preparation alone {fastest['preparation', 'call']:.2f} s "
              f"(stream: {fastest['preparation', 'stream']:.2f} s), network alone {fastest['network', 'call']:.2f} s "
              f"(their sum: {(fastest['preparation', 'call'] + fastest['network', 'call']) / bound['call']:.2f} × "
              "the larger)")
        print()
        print("| stand-in network | one call | × the larger | a stream (`iter_logits`) | × the larger |")
        print("|---|---|---|---|---|")
        for name, title in (("sync", "forward sleeps (a synchronous device, as the CPU)"),
                            ("queued", "queued, read back later (a CUDA stream)"),
                            ("queued, waiting for all", "queued, each read waiting for every batch launched "
                                                        "(a `.cpu()` on the stream)")):
            print(f"| {title} | " + " | ".join(f"{fastest[name, way]:.2f} s | {fastest[name, way] / bound[way]:.2f}"
                                                for way in ways) + " |")
        print()
        print("The stream's first result after (fastest of the runs): " + ", ".join(
            f"{min(seconds) * 1000:.0f} ms ({name})" for name, seconds in stream_starts.items()))
        if args.call_sizes:
            sizes = [int(size) for size in args.call_sizes.split(",")]
            print()
            by_size = overlap_by_call_size(model, texts, labels, sizes, per_batch, batches, args.repeat)
            print_overlap_by_call_size(by_size, sizes, args.repeat)
        if args.overlap_only:
            return 0
        print()
        print(f"The fastest synchronous run's time beyond its {batches} × {per_batch * 1000:.1f} ms of forward passes "
              "(the device idle, or a forward pass finishing late):")
        print()
        print("| where | ms | ms per batch |")
        print("|---|---|---|")
        for where, seconds in sync_idle.items():
            print(f"| {where} | {seconds * 1000:.0f} | {seconds * 1000 / batches:.2f} |")
        print()
        print("The start of a call with the synchronous stand-in: when each step first happens, from the call's start "
              "(8 calls):")
        print()
        print("| step | median | fastest of the calls |")
        print("|---|---|---|")
        for step, seconds in start_of_a_call(model, texts, labels, per_batch).items():
            print(f"| {step} | {statistics.median(seconds) * 1000:.1f} ms | {min(seconds) * 1000:.1f} ms |")
    finally:
        model.network = network

    loop_batches, per_batch_extra = loop_overhead(model, rows, per_batch, args.max_batch_tokens, args.repeat)
    print()
    print(f"The launching loop alone ({len(rows)} rows encoded beforehand, no host thread preparing; "
          f"{loop_batches} batches of {per_batch * 1000:.1f} ms, fastest of {args.repeat}): "
          f"{per_batch_extra * 1000:.2f} ms per batch beyond the sleeps "
          f"({1 + per_batch_extra / per_batch:.3f} × the network time alone).")
    print()
    print("| one batch collated, launched (returning at once) and read back | median |")
    print("|---|---|")
    for title, seconds in one_batch_times(model, rows, per_batch, args.max_batch_tokens).items():
        print(f"| {title} | {seconds * 1000:.2f} ms |")

    print()
    print(f"Wake-up delay of the launching thread after a 5 ms sleep, while {model.num_workers} host threads prepare "
          f"the texts ({args.repeat} rounds):")
    print()
    print("| rows per slice | mean | 90th percentile |")
    print("|---|---|---|")
    slices = [int(size) for size in args.slices.split(",")]
    if args.worker_processes:  # the workers lay rows out in their own slices
        slices = [_assembly.SLICE_ROWS]
    delays: dict[int, list[float]] = {size: [] for size in slices}
    for _ in range(args.repeat):
        for size in slices:
            delays[size] += wake_up_delays(model, texts, labels, size, model.num_workers)
    for size, values in delays.items():
        stats = spread(values)
        print(f"| {size} | {stats['mean'] * 1000:.2f} ms | {stats['90th percentile'] * 1000:.2f} ms |")

    print()
    print(f"Launching {LAUNCHED_OPS} small torch operations in a row on the launching thread (as a forward pass "
          f"launches its kernels), alone and while {model.num_workers} host threads prepare the texts "
          f"({args.repeat} rounds):")
    print()
    print("| launching thread | median | mean | 90th percentile |")
    print("|---|---|---|---|")
    alone = [launch_time() for _ in range(200 * args.repeat)]
    busy = [seconds for _ in range(args.repeat)
            for seconds in while_preparing(model, texts, labels, model.num_workers, launch_time)]
    for title, values in (("alone", alone), ("while preparing", busy)):
        print(f"| {title} | " + " | ".join(f"{seconds * 1000:.2f} ms" for seconds in spread(values).values()) + " |")

    if not args.worker_processes:
        shares = [gil_share(model, request) for _ in range(args.repeat)]
        total, inside = min(shares)
        held = (total - inside) / total
        least = min(least_layout(model, texts) for _ in range(args.repeat))
        print()
        print(f"The GIL's share of preparation (`GLiClass.encode`, one thread, tokenizer pool off, fastest of "
              f"{args.repeat}): {total:.2f} s, {inside:.2f} s of it in the tokenizer (GIL released), {held:.0%} "
              f"holding the GIL: host threads cannot prepare more than {1 / held:.1f} × one thread's "
              f"{args.n / total:,.0f} texts/s ({args.n / (total - inside):,.0f} texts/s) on any number of cores. "
              f"Of the {total - inside:.3f} s holding the GIL, {least:.3f} s is the least any layout needs (each "
              f"row's ids read from the tokenizer and made an array); the rest, {total - inside - least:.3f} s "
              f"({(total - inside - least) / total:.0%} of preparation), is our assembly beyond that.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
