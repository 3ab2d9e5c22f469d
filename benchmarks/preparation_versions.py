"""Host preparation of this package beside another version of it, to set the two side by side on one machine.

The host pipeline's first target compares preparation on two host threads with the single-threaded rate
before it (8b11e59). A shared VM's speed drifts by up to 2× within an hour, so the two versions must be
timed in alternation, not in different sessions. With ``--against``, the other version's package is
imported in this same process (under another name: both versions import their own modules relatively)
and every measurement of both runs round after round, each round in a new order, so that a slow spell
falls on all of them:

    git worktree add /tmp/before 8b11e59
    python benchmarks/preparation_versions.py --against /tmp/before

Without ``--against`` it measures the version it imports, so an older version can also be run alone
(``PYTHONPATH=/tmp/before python benchmarks/preparation_versions.py``) and compared through the
``encode_batch`` column: each rate over the tokenizer's own ``encode_batch`` rate in the same round.

Measured: ``encode_batch`` (the tokenizer's thread pool as the process started), ``GLiClass.encode`` (one
call, on the calling thread), and, in a version with host threads (``num_workers``), the engine with a
network that returns at once on 1 and 2 host threads, and 2 host threads preparing the engine's pieces
alone (nothing batched or collated: preparation as ``GLiClass.encode`` does it, on the threads); each with
the tokenizer's pool (``TOKENIZERS_PARALLELISM``) on and off. 4096 texts of 200 words, 8 labels, the
``tiny`` checkpoint of ``throughput.py``; every call once before the rounds. Each row: the fastest round,
the median round, and with ``--against``, the ratio of its rate to the other version's one call with the
pool on in the same round (smallest, median, largest).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import random
import statistics
import sys
from pathlib import Path
from types import ModuleType

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput

import gliclass_integrations

OTHER = "gliclass_other_version"  # the module name the other version is imported under


class ReturnsAtOnce(torch.nn.Module):
    """A network that returns zero logits at once: only preparation is timed."""

    def forward(self, batch):
        return torch.zeros(batch.label_positions.shape, dtype=torch.float32)


def import_version(checkout: Path) -> ModuleType:
    """The ``gliclass_integrations`` package of another checkout, imported as ``OTHER`` beside this one."""
    package = checkout / "gliclass_integrations"
    spec = importlib.util.spec_from_file_location(OTHER, package / "__init__.py",
                                                  submodule_search_locations=[str(package)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[OTHER] = module
    spec.loader.exec_module(module)
    return module


def with_pool(on: bool, call):
    """``call`` with the tokenizer's thread pool switched on or off (the tokenizer reads it at every call)."""

    def run() -> None:
        with throughput.tokenizer_pool(on):
            call()

    return run


def measurements(package: ModuleType, folder: Path, texts: list[str], labels: list[str], tag: str) -> tuple:
    """One version's model, and its measurements (title -> call)."""
    model = package.GLiClass.from_pretrained(folder, device="cpu")
    request = importlib.import_module(f"{package.__name__}.core._requests").build_request(texts, labels)
    calls = {f"{tag}`GLiClass.encode`, one call, tokenizer pool {state}": with_pool(state == "on",
                                                                                 lambda: model.encode(request))
             for state in ("on", "off")}
    if hasattr(model, "num_workers"):
        model.network = ReturnsAtOnce()
        model.max_batch_tokens = 16384  # as on CUDA
        model.logits(texts[:256], labels)  # threads and batch shapes warmed up
        for threads in (1, 2):
            def engine(threads=threads) -> None:
                model.num_workers = threads
                model.logits(texts, labels)

            for state in ("on", "off"):
                calls[f"{tag}engine, network returning at once, {threads} host thread(s), tokenizer pool {state}"] = (
                    with_pool(state == "on", engine))
        core = importlib.import_module(f"{package.__name__}.core._model")
        pipeline = importlib.import_module(f"{package.__name__}.core._pipeline")

        def host_threads_alone() -> None:  # the engine's pieces on 2 host threads, nothing batched or collated
            pieces = core.piece_ranges(len(request.rows), 2)
            prepare = lambda piece: model.assembler.encode(request.rows[piece.start : piece.stop])  # noqa: E731
            with pipeline.AheadOfTime(prepare, pieces, workers=2) as prepared:
                for _ in prepared:
                    pass

        for state in ("on", "off"):
            calls[f"{tag}2 host threads preparing the pieces alone, tokenizer pool {state}"] = with_pool(
                state == "on", host_threads_alone)
    return model, calls


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--words", type=int, default=200)
    parser.add_argument("--labels", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--against", type=Path, help="a checkout of another version, measured in this process")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/gliclass-bench-checkpoints"))
    args = parser.parse_args(argv)
    folder = args.folder / "tiny"
    if not (folder / "config.json").exists():
        throughput.build_checkpoint("tiny", folder)
    texts = throughput.make_word_texts(args.n, args.words)  # as in host_pipeline.py
    labels = throughput.make_labels(args.labels)
    calls = {}
    baseline = None
    if args.against is not None:
        _, calls = measurements(import_version(args.against), folder, texts, labels, "other version: ")
        baseline = "other version: `GLiClass.encode`, one call, tokenizer pool on"
    model, ours = measurements(gliclass_integrations, folder, texts, labels, "")
    backend = model.assembler.tokenizer._backend
    calls["tokenizer `encode_batch`"] = lambda: backend.encode_batch(texts, add_special_tokens=False)
    calls.update(ours)
    for call in calls.values():  # each version's caches and threads warmed up
        call()
    seconds: dict[str, list[float]] = {title: [] for title in calls}
    for round_number in range(args.rounds):
        order = list(calls)
        random.Random(round_number).shuffle(order)
        for title in order:
            seconds[title].append(throughput.fastest(calls[title], 1))
    rates = {title: [args.n / s for s in values] for title, values in seconds.items()}
    versions = f"{gliclass_integrations.__file__}" + (f" against {args.against}" if args.against else "")
    print(f"# {versions}; {throughput._cpu_name()}; {args.n} texts of {args.words} words, {args.labels} labels; "
          f"{args.rounds} rounds")
    print("| what | texts/s, fastest round | median round | × encode_batch's rate, median | "
          "× the other version's one call (pool on), in the same round: smallest / median / largest |")
    print("|---|---|---|---|---|")
    for title, values in rates.items():
        over_tokenizer = statistics.median(v / t for v, t in zip(values, rates["tokenizer `encode_batch`"]))
        ratios = "-"
        if baseline is not None:
            per_round = sorted(v / b for v, b in zip(values, rates[baseline]))
            ratios = f"{per_round[0]:.2f} / {statistics.median(per_round):.2f} / {per_round[-1]:.2f}"
        print(f"| {title} | {max(values):,.0f} | {statistics.median(values):,.0f} | {over_tokenizer:.2f} | {ratios} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
