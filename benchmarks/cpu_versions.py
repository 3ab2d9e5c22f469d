"""Our engine alone, timed and its scores saved, to compare two versions of this package on one machine.

Run it once per version (``PYTHONPATH`` pointing at each source tree, or each installed), on the same
machine, one after the other; the second run loads the first's scores and reports the largest score
difference per cell. The checkpoints are the deterministic benchmark shapes of ``throughput.py``
(random weights from a fixed seed), built in ``--folder`` on first use and reused.

Usage:
    PYTHONPATH=/path/to/old python benchmarks/cpu_versions.py --save old.npz
    python benchmarks/cpu_versions.py --save new.npz --compare old.npz
Options: --shapes (default small,mini,edge), --labels (default 1,8,64), --n (default 24), --repeat (default 2)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput

import gliclass_integrations
from gliclass_integrations import GLiClass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="small,mini,edge")
    parser.add_argument("--labels", default="1,8,64")
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/gliclass-bench-checkpoints"))
    parser.add_argument("--save", type=Path, required=True)
    parser.add_argument("--compare", type=Path)
    args = parser.parse_args(argv)
    before = dict(np.load(args.compare)) if args.compare else {}
    print(f"# {gliclass_integrations.__file__}; {throughput._cpu_name()}")
    print("| shape | labels | texts/s | max abs score diff vs --compare |")
    print("|---|---|---|---|")
    saved = {}
    for shape in args.shapes.split(","):
        folder = args.folder / shape
        if not (folder / "config.json").exists():
            throughput.build_checkpoint(shape, folder)
        model = GLiClass.from_pretrained(folder, device="cpu", dtype="float32")
        texts = throughput.make_texts("mixed", args.n)
        for n_labels in map(int, args.labels.split(",")):
            labels = throughput.make_labels(n_labels)
            model.predict_proba(texts[:4], labels)  # warm-up
            seconds = min(throughput.timed(torch.device("cpu"), model.predict_proba, texts, labels)
                          for _ in range(args.repeat))
            key = f"{shape}-{n_labels}"
            saved[key] = model.predict_proba(texts, labels)
            diff = f"{np.abs(saved[key] - before[key]).max():.2g}" if key in before else "-"
            print(f"| {shape} | {n_labels} | {len(texts) / seconds:.2f} | {diff} |", flush=True)
    np.savez(args.save, **saved)
    return 0


if __name__ == "__main__":
    sys.exit(main())
