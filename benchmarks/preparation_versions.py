"""Host preparation of one version of this package, to set two versions side by side on one machine.

The host pipeline's first target compares preparation on two host threads with the single-threaded rate
before it (8b11e59). A shared VM's speed drifts by up to 2× within an hour, so the two versions must be
timed in alternation, not in different sessions. Run this once per version, one after the other, for a
few rounds:

    git worktree add /tmp/before 8b11e59
    for round in 1 2 3; do
        PYTHONPATH=/tmp/before python benchmarks/preparation_versions.py
        python benchmarks/preparation_versions.py
    done

Each run prints one row per measurement: texts/s, and that rate over the tokenizer's own ``encode_batch``
rate on the same texts in the same process (which cancels most of the drift between two runs).
Measured: ``encode_batch`` (the tokenizer's thread pool as the process started), ``GLiClass.encode`` (one
call, on the calling thread), and, in a version with host threads (``num_workers``), the engine with a
network that returns at once on 1 and 2 host threads; the last two with the tokenizer's pool
(``TOKENIZERS_PARALLELISM``) on and off. 4096 texts of 200 words, 8 labels, the ``tiny`` checkpoint of
``throughput.py``; each figure the fastest of ``--repeat``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput

import gliclass_integrations
from gliclass_integrations import GLiClass
from gliclass_integrations.core._requests import build_request


class ReturnsAtOnce(torch.nn.Module):
    """A network that returns zero logits at once: only preparation is timed."""

    def forward(self, batch):
        return torch.zeros(batch.label_positions.shape, dtype=torch.float32)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--words", type=int, default=200)
    parser.add_argument("--labels", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/gliclass-bench-checkpoints"))
    args = parser.parse_args(argv)
    folder = args.folder / "tiny"
    if not (folder / "config.json").exists():
        throughput.build_checkpoint("tiny", folder)
    model = GLiClass.from_pretrained(folder, device="cpu")
    texts = throughput.make_word_texts(args.n, args.words)  # as in host_pipeline.py
    labels = throughput.make_labels(args.labels)
    request = build_request(texts, labels)
    backend = model.assembler.tokenizer._backend
    shipped = os.environ.get("TOKENIZERS_PARALLELISM")
    rates: dict[str, float] = {}

    def time_with_pool(title: str, call) -> None:
        for pool in ("on", "off"):
            os.environ["TOKENIZERS_PARALLELISM"] = "true" if pool == "on" else "false"
            rates[f"{title}, tokenizer pool {pool}"] = args.n / throughput.fastest(call, args.repeat)

    try:
        rates["tokenizer `encode_batch`"] = args.n / throughput.fastest(
            lambda: backend.encode_batch(texts, add_special_tokens=False), args.repeat)
        time_with_pool("`GLiClass.encode`, one call", lambda: model.encode(request))
        if hasattr(model, "num_workers"):
            model.network = ReturnsAtOnce()
            model.max_batch_tokens = 16384  # as on CUDA
            for threads in (1, 2):
                model.num_workers = threads
                model.logits(texts[:256], labels)  # threads and batch shapes warmed up
                time_with_pool(f"engine, network returning at once, {threads} host thread(s)",
                               lambda: model.logits(texts, labels))
    finally:
        if shipped is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = shipped
    print(f"# {gliclass_integrations.__file__}; {throughput._cpu_name()}; {args.n} texts of {args.words} words, "
          f"{args.labels} labels")
    print("| what | texts/s | × encode_batch's rate |")
    print("|---|---|---|")
    for title, rate in rates.items():
        print(f"| {title} | {rate:,.0f} | {rate / rates['tokenizer `encode_batch`']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
