"""Scores on the GPU against scores on the CPU, before anything is timed (benchmarks/gpu_session.sh).

Builds the benchmark checkpoint of each shape (random weights, multilang head; nothing downloaded) and
compares, on mixed-length texts with 1 and 16 labels: float32 on CUDA against float32 on the CPU
(within 1e-4) and bfloat16 on CUDA against float32 on the CPU (within 2e-2). Without CUDA (the
``SMOKE=1`` run) the "device" side runs on the CPU too, so only the code path is exercised.
Exits with status 1 if any comparison is over its limit.

Usage: python benchmarks/gpu_parity.py --shapes small,edge --n 32
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

LIMITS = {"float32": 1e-4, "bfloat16": 2e-2}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="small")
    parser.add_argument("--n", type=int, default=32)
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name() if device == "cuda" else "no CUDA: CPU against CPU"
    print(f"# parity on {name}")
    print("| shape | labels | dtype on the device | max abs diff vs CPU float32 | limit | result |")
    print("|---|---|---|---|---|---|")
    failed = False
    for shape in args.shapes.split(","):
        with tempfile.TemporaryDirectory() as folder:
            throughput.build_checkpoint(shape, Path(folder), device=device)  # its random weights drawn there
            cpu = GLiClass.from_pretrained(folder, device="cpu", dtype="float32")
            texts = throughput.make_texts("mixed", args.n)
            for n_labels in (1, 16):
                labels = throughput.make_labels(n_labels)
                expected = cpu.predict_proba(texts, labels)
                for dtype, limit in LIMITS.items():
                    model = GLiClass.from_pretrained(folder, device=device, dtype=dtype)
                    diff = float(np.abs(model.predict_proba(texts, labels) - expected).max())
                    ok = diff <= limit
                    failed |= not ok
                    print(f"| {shape} | {n_labels} | {dtype} | {diff:.2g} | {limit:g} | {'ok' if ok else 'OVER'} |",
                          flush=True)
                    del model
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
