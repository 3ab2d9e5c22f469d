"""Our engine alone, timed and its scores saved, to compare two versions of this package on one machine.

Run it once per version (``PYTHONPATH`` pointing at each source tree, or each installed), on the same
machine, one after the other; the second run loads the first's scores and reports the largest score
difference per cell. The checkpoints are the deterministic benchmark shapes of ``throughput.py``
(random weights from a fixed seed), built in ``--folder`` on first use and reused.

With ``--against`` another checkout's package is imported beside this one (as ``preparation_versions.py``
does) and both are timed in one process, call after call in alternation (the first version of each pair
changing from round to round), so that a slow spell of a shared machine falls on both: per cell, the median
and fastest of each version's calls, the median of the per-round ratios, and the largest score difference.

Usage:
    PYTHONPATH=/path/to/old python benchmarks/cpu_versions.py --save old.npz
    python benchmarks/cpu_versions.py --save new.npz --compare old.npz
    python benchmarks/cpu_versions.py --against /path/to/old --repeat 6
Options: --shapes (default small,mini,edge), --labels (default 1,8,64), --n (default 24), --repeat (default 2;
with --against, the rounds)
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput
from preparation_versions import import_version

import gliclass_integrations
from gliclass_integrations import GLiClass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="small,mini,edge")
    parser.add_argument("--labels", default="1,8,64")
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/gliclass-bench-checkpoints"))
    parser.add_argument("--save", type=Path)
    parser.add_argument("--compare", type=Path)
    parser.add_argument("--against", type=Path, help="a checkout of another version, timed in this process")
    args = parser.parse_args(argv)
    if args.against is not None:
        return side_by_side(import_version(args.against), args)
    if args.save is None:
        parser.error("--save is needed without --against")
    before = dict(np.load(args.compare)) if args.compare else {}
    print(f"# {gliclass_integrations.__file__}; {throughput._cpu_name()}")
    print("| shape | labels | texts/s | max abs score diff vs --compare |")
    print("|---|---|---|---|")
    saved = {}
    for shape in args.shapes.split(","):
        folder = checkpoint(args.folder, shape)
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


def checkpoint(root: Path, shape: str) -> Path:
    """The folder of the benchmark checkpoint of ``shape`` under ``root``, built there on first use."""
    folder = root / shape
    if not (folder / "config.json").exists():
        throughput.build_checkpoint(shape, folder)
    return folder


def side_by_side(other, args) -> int:
    """Both versions in this process, each cell's calls alternated round after round."""
    versions = {"this": GLiClass, "other": other.GLiClass}
    print(f"# this: {gliclass_integrations.__file__}; other: {other.__file__}; {throughput._cpu_name()}")
    print(f"| shape | labels | texts/s this: median, fastest | other: median, fastest | this / other, median of "
          f"{args.repeat} rounds | max abs score diff |")
    print("|---|---|---|---|---|---|")
    cpu = torch.device("cpu")
    for shape in args.shapes.split(","):
        folder = checkpoint(args.folder, shape)
        models = {name: cls.from_pretrained(folder, device="cpu", dtype="float32") for name, cls in versions.items()}
        texts = throughput.make_texts("mixed", args.n)
        for n_labels in map(int, args.labels.split(",")):
            labels = throughput.make_labels(n_labels)
            scores = {name: model.predict_proba(texts, labels) for name, model in models.items()}  # and warm-up
            seconds: dict[str, list[float]] = {name: [] for name in models}
            for round_ in range(args.repeat):
                for name in (("this", "other") if round_ % 2 == 0 else ("other", "this")):
                    seconds[name].append(throughput.timed(cpu, models[name].predict_proba, texts, labels))
            rates = {name: [len(texts) / s for s in values] for name, values in seconds.items()}
            ratio = statistics.median(t / o for t, o in zip(rates["this"], rates["other"]))
            cells = [f"{statistics.median(rates[name]):.2f}, {max(rates[name]):.2f}" for name in models]
            diff = np.abs(scores["this"] - scores["other"]).max()
            print(f"| {shape} | {n_labels} | {cells[0]} | {cells[1]} | {ratio:.2f} | {diff:.2g} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
