"""How far bfloat16 moves scores from float32, for the reference pipeline and for ours alike.

``throughput.py`` compares our bfloat16 scores with the reference's bfloat16 scores and flags a
difference over 2e-2. Where a shape's depth and width make bfloat16 itself move scores by more than
that, the flag says nothing about the two implementations. This tells which: on the benchmark
checkpoint of each shape (random weights, multilang head; nothing downloaded), on mixed-length texts,
it prints the largest score difference of

- ours against the reference, both in float32 (the parity the implementations keep: within 1e-4);
- the reference in bfloat16 against itself in float32 (bfloat16's own effect);
- ours in bfloat16 against the reference in float32;
- ours against the reference, both in bfloat16 (what ``throughput.py`` reports).

Runs on CUDA when there is one, else on the CPU (``ultra`` there takes minutes).

Usage: python benchmarks/bf16_error.py --shapes mini,ultra --labels 1,16 --n 6
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput

from gliclass_integrations import GLiClass

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def scores_by_dtype(folder: Path, reference, tokenizer, texts: list[str], label_sets: list[list[str]],
                    device: str) -> dict:
    """``{(implementation, dtype name, label count): scores}`` for the reference and ours."""
    from gliclass import ZeroShotClassificationPipeline

    scores = {}
    for name, dtype in DTYPES.items():  # float32 first: the reference is cast in place, and bfloat16 rounds it
        reference.to(dtype=dtype)
        pipeline = ZeroShotClassificationPipeline(reference, tokenizer, classification_type="multi-label",
                                                  device=device, progress_bar=False)
        ours = GLiClass.from_pretrained(folder, device=device, dtype=name)
        for labels in label_sets:
            scores["reference", name, len(labels)] = throughput.reference_scores(pipeline, texts, labels)
            scores["ours", name, len(labels)] = ours.predict_proba(texts, labels).astype(np.float64)
        del ours
    return scores


COMPARISONS = (
    (("ours", "float32"), ("reference", "float32")),
    (("reference", "bfloat16"), ("reference", "float32")),
    (("ours", "bfloat16"), ("reference", "float32")),
    (("ours", "bfloat16"), ("reference", "bfloat16")),
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="mini")
    parser.add_argument("--labels", default="1,16")
    parser.add_argument("--n", type=int, default=6)
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(f"# bfloat16 against float32 on {name}, torch {torch.__version__}, {args.n} mixed-length texts")
    print("| shape | labels | " + " | ".join(f"{a[0]} {a[1]} vs {b[0]} {b[1]}" for a, b in COMPARISONS) + " |")
    print("|---|---|" + "---|" * len(COMPARISONS))
    texts = throughput.make_texts("mixed", args.n)
    counts = [int(count) for count in args.labels.split(",")]
    label_sets = [throughput.make_labels(count) for count in counts]
    for shape in args.shapes.split(","):
        with tempfile.TemporaryDirectory() as folder:
            reference, tokenizer = throughput.build_checkpoint(shape, Path(folder), device=device)
            scores = scores_by_dtype(Path(folder), reference, tokenizer, texts, label_sets, device)
            for count in counts:
                cells = [f"{np.abs(scores[(*a, count)] - scores[(*b, count)]).max():.2g}" for a, b in COMPARISONS]
                print(f"| {shape} | {count} | " + " | ".join(cells) + " |", flush=True)
            del reference
    return 0


if __name__ == "__main__":
    sys.exit(main())
