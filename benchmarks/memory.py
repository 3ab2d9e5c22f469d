"""Peak memory of streaming many short texts through ``GLiClass.iter_predict_proba``.

Builds one random checkpoint (see throughput.py; ``--shape``, default "tiny"), then, for each count
in ``--counts`` (default 10000,100000), starts a fresh Python process that classifies that many
generated short texts (8 to 40 words each, produced lazily by a generator) against ``--labels``
labels and reports its peak resident set size (``ru_maxrss``) and its time. The target: 100k texts
stay within 300 MB of 10k, i.e. memory does not grow with the number of texts.

Usage:
    python benchmarks/memory.py                       # about 2 minutes on 2 CPU cores
    python benchmarks/memory.py --counts 10000,100000,300000 --shape small
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import throughput


def texts(count: int, seed: int = 0):
    rng = random.Random(seed)
    for _ in range(count):
        yield " ".join(f"w{rng.randrange(throughput.N_WORDS - 2000)}" for _ in range(rng.randint(8, 40)))


def child(checkpoint: str, count: int, n_labels: int, threads: int) -> None:
    import torch

    from gliclass_integrations import GLiClass

    torch.set_num_threads(threads)
    model = GLiClass.from_pretrained(checkpoint, device="cpu")
    labels = throughput.make_labels(n_labels)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    seen, total = 0, 0.0
    for scores in model.iter_predict_proba(texts(count), labels):
        seen += 1
        total += float(scores[0])
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps(dict(texts=seen, peak_rss_mb=peak / 1024, after_load_mb=baseline / 1024, seconds=seconds)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", default="10000,100000")
    parser.add_argument("--shape", default="tiny")
    parser.add_argument("--labels", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: robust on a shared CPU)")
    parser.add_argument("--child", nargs=2, metavar=("CHECKPOINT", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.labels, args.threads)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        throughput.build_checkpoint(args.shape, Path(folder))
        print("| texts | peak RSS (MB) | RSS after loading (MB) | seconds | texts/s |")
        print("|---|---|---|---|---|")
        peaks = []
        for count in map(int, args.counts.split(",")):
            command = [sys.executable, __file__, "--labels", str(args.labels), "--threads", str(args.threads),
                       "--child", folder, str(count)]
            result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            peaks.append(result["peak_rss_mb"])
            print(f"| {result['texts']} | {result['peak_rss_mb']:.0f} | {result['after_load_mb']:.0f} | "
                  f"{result['seconds']:.0f} | {result['texts'] / result['seconds']:.0f} |", flush=True)
        print(f"\nGrowth from the first count to the last: {peaks[-1] - peaks[0]:+.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
