"""The floor of the synchronous overlap on this machine: the same preparation, the barest pipeline around it.

``host_pipeline.py`` measures the engine against a synchronous stand-in network (a forward pass that
sleeps a fixed time, releasing the GIL). This script asks how close to the larger of preparation alone and
network alone *any* pipeline of Python threads can come on this machine, and how much of the engine's
distance from it is its own. Three pipelines, on the same texts, in the same rounds:

- **bare**: host threads tokenize and lay out pieces of ``PIECE`` texts (``GLiClass.encode``, the engine's
  own preparation; the requests built beforehand) into a bounded queue; the launching thread takes one
  piece per batch and sleeps the stand-in's time. Nothing else.
- **bare, collated**: the same, and the launching thread also collates each piece into tensors, runs the
  stand-in network (sleep, then zero logits) and reads the batch before back, as the engine does on the
  CPU.
- **engine**: ``GLiClass.logits`` with the stand-in network and batches of at most 16384 tokens (as on
  CUDA), which gives as many batches as the pieces above for 200-word texts.

Each round times the network alone (the sleeps back to back), then each pipeline with a network that
returns at once (preparation alone) and with the stand-in (overlapped). Printed per pipeline: medians of
both times, the overlapped time over the larger of the two alone (fastest and median of the rounds), and
where the overlapped call's time beyond its sleeps went (medians, ms): before the first forward pass,
between forward passes, inside them beyond the fixed time (the wake-up: a core, then the GIL), after the
last. ``--scale`` sets the stand-in's time per batch to that multiple of preparation's share (1: balanced).

Usage:
    python benchmarks/overlap_floor.py --rounds 10              # balanced
    python benchmarks/overlap_floor.py --rounds 10 --scale 1.25 # the network 25 % longer
"""

from __future__ import annotations

import argparse
import queue
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput
from host_pipeline import StandInNetwork, idle_device

from gliclass_integrations import GLiClass
from gliclass_integrations.core._engine import Launched, collate
from gliclass_integrations.core._requests import build_request

PIECE = 64
CPU = torch.device("cpu")
PIPELINES = ("bare", "bare, collated", "engine")


def threaded(model, requests: list, seconds: float, workers: int,
             collated: bool) -> tuple[float, float, StandInNetwork]:
    """When it started and how many seconds it took for ``workers`` host threads to encode every request while
    this thread runs one batch per request through a stand-in network of ``seconds`` per batch; the network
    (its ``spans``) with them."""
    network = StandInNetwork(seconds)
    pad_id = model.assembler.tokenizer.pad_id
    ready: queue.Queue = queue.Queue(maxsize=8)
    taken = iter(range(len(requests)))
    lock = threading.Lock()

    def prepare() -> None:
        while True:
            with lock:
                index = next(taken, None)
            ready.put(None if index is None else model.encode(requests[index]))
            if index is None:
                return

    start = time.perf_counter()
    threads = [threading.Thread(target=prepare, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    finished, waiting = 0, None
    with torch.inference_mode():
        while finished < workers:
            rows = ready.get()
            if rows is None:
                finished += 1
            elif not collated:
                began = time.perf_counter()
                network.sleep()
                network.spans.append((began, time.perf_counter()))
            else:
                launched = Launched(rows, network(collate(rows, pad_id, CPU)), CPU)
                if waiting is not None:
                    waiting.read()
                waiting = launched
        if waiting is not None:
            waiting.read()
    elapsed = time.perf_counter() - start
    for thread in threads:
        thread.join()
    return start, elapsed, network


def engine(model, texts: list[str], labels: list[str], seconds: float) -> tuple[float, float, StandInNetwork]:
    model.network = network = StandInNetwork(seconds)
    start = time.perf_counter()
    model.logits(texts, labels)
    return start, time.perf_counter() - start, network


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--words", type=int, default=200)
    parser.add_argument("--labels", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="host threads (default: 2)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="the stand-in's time per batch over preparation's share (default: 1, balanced)")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        throughput.build_checkpoint("tiny", Path(folder))
        model = GLiClass.from_pretrained(folder, device="cpu", max_length=512)
    model.num_workers, model.max_batch_tokens = args.workers, 16384
    texts, labels = throughput.make_word_texts(args.n, args.words), throughput.make_labels(args.labels)
    requests = [build_request(texts[start : start + PIECE], labels) for start in range(0, len(texts), PIECE)]

    def run(pipeline: str, seconds: float) -> tuple[float, float, StandInNetwork]:
        if pipeline == "engine":
            return engine(model, texts, labels, seconds)
        return threaded(model, requests, seconds, args.workers, collated=pipeline == "bare, collated")

    run("bare", 0.0)  # warm-up
    engine_batches = run("engine", 0.0)[2].batches
    per_batch = args.scale * statistics.median(run("bare", 0.0)[1] for _ in range(3)) / len(requests)
    alone = StandInNetwork(per_batch)
    times: dict[str, dict[str, list]] = {pipeline: {"alone": [], "overlapped": [], "ratio": [], "where": []}
                                         for pipeline in PIPELINES}
    networks = []
    for _ in range(args.rounds):
        networks.append(alone.back_to_back(len(requests)))
        for pipeline in PIPELINES:
            preparation = run(pipeline, 0.0)[1]
            start, overlapped, network = run(pipeline, per_batch)
            where = idle_device(network.spans, start, start + overlapped, per_batch)
            network_alone = networks[-1] * len(network.spans) / len(requests)
            record = times[pipeline]
            record["alone"].append(preparation)
            record["overlapped"].append(overlapped)
            record["ratio"].append(overlapped / max(preparation, network_alone))
            record["where"].append([seconds * 1000 for seconds in where.values()])

    print(f"CPU: {throughput._cpu_name()}; {args.n} texts of {args.words} words, {args.labels} labels; "
          f"{args.workers} host threads; {len(requests)} pieces of {PIECE} texts, {engine_batches} engine batches; "
          f"{per_batch * 1000:.1f} ms per batch ({args.scale:g} × preparation's share); network alone "
          f"{statistics.median(networks):.3f} s (median of {args.rounds} rounds)")
    print()
    print("| pipeline | preparation alone | overlapped | × the larger: fastest / median | "
          "ms beyond the sleeps: before / between / inside / after |")
    print("|---|---|---|---|---|")
    for pipeline, record in times.items():
        where = " / ".join(f"{statistics.median(column):.0f}" for column in zip(*record["where"]))
        preparation, overlapped = statistics.median(record["alone"]), statistics.median(record["overlapped"])
        print(f"| {pipeline} | {preparation:.3f} s | {overlapped:.3f} s | {min(record['ratio']):.2f} / "
              f"{statistics.median(record['ratio']):.2f} | {where} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
