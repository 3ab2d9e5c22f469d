"""How far float32 scores move with the CPU's kernels, and how far they lie from exact scores.

The numbers behind ``tests/tolerances.py`` (docs/parity.md, "Tolerances"). For every tiny test
checkpoint (``tests/checkpoints.py``: 4 encoders × 18 head layouts), in this process's configuration
(thread count, and the instruction sets the environment leaves to PyTorch, MKL and oneDNN):

- ``batching``: largest |score at batch_size=8 or in reversed order − score at batch_size=1|, float32,
  on the texts and label sets of ``tests/core/test_engine.py``;
- ``f32 vs f64``: largest |float32 score − float64 score| on the same runs (float64 stands in for the
  exact scores: its rounding is about 1e-16);
- ``parity f64`` / ``parity f32``: largest |ours − reference| at batch_size=1 on every case of
  ``tests/core/test_parity.py``, both sides in float64 / float32;
- ``ref f32 vs f64``: largest |reference float32 score − our float64 score|: the reference's own
  float32 rounding.

``--sweep`` runs the measurement in subprocesses under each configuration in ``CONFIGURATIONS`` (one
per kind of CPU the suite may land on, emulated by capping the instruction sets) and prints a table.

Usage:
    python benchmarks/rounding.py                  # this process only
    python benchmarks/rounding.py --sweep          # every configuration (about 10 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path[:0] = [str(TESTS), str(TESTS / "core")]

import checkpoints  # noqa: E402
import test_engine  # noqa: E402
import test_parity  # noqa: E402

# name -> (threads, environment). Capping MKL and oneDNN at AVX2 and ATen at AVX2 stands in for an
# AVX2-only CPU; ATen at AVX-512 with MKL at AVX2 for CPUs on which MKL does not take its AVX-512
# paths (AMD Zen 4 and later: MKL dispatches on the vendor).
CONFIGURATIONS = {
    "default, 2 threads": (2, {}),
    "default, 1 thread": (1, {}),
    "AVX2 everywhere, 2 threads": (
        2, {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    ),
    "AVX2 everywhere, 1 thread": (
        1, {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    ),
    "ATen AVX-512, MKL AVX2, 2 threads": (2, {"ATEN_CPU_CAPABILITY": "avx512", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}),
    "ATen AVX-512, MKL AVX2, 1 thread": (1, {"ATEN_CPU_CAPABILITY": "avx512", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}),
    "no vector kernels in ATen, MKL SSE4.2, 2 threads": (
        2, {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "ONEDNN_MAX_CPU_ISA": "SSE41"},
    ),
}


def build_all(root: Path) -> dict[tuple[str, str], Path]:
    paths = {}
    for encoder in sorted(checkpoints.ENCODERS):
        for head in sorted(checkpoints.HEADS):
            path = root / f"{encoder}-{head}"
            if not (path / "config.json").exists():
                checkpoints.build_checkpoint(path, encoder, checkpoints.HEADS[head])
            paths[encoder, head] = path
    return paths


def largest(pairs) -> float:
    return max((float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))) for a, b in pairs),
               default=0.0)


def engine_runs(model) -> dict:
    """Scores as ``test_engine.assert_batch_invariant`` computes them: alone, batched, reversed."""
    texts, order = test_engine.TEXTS, list(reversed(range(len(test_engine.TEXTS))))
    runs = {}
    for name, labels in (("shared", ["positive", "negative", "sports"]), ("per-text", test_engine.PER_TEXT_LABELS)):
        reordered = [labels[i] for i in order] if name == "per-text" else labels
        for multi_label in (True, False):
            alone = model.predict_proba(texts, labels, multi_label=multi_label, batch_size=1)
            batched = model.predict_proba(texts, labels, multi_label=multi_label, batch_size=8)
            shuffled = model.predict_proba([texts[i] for i in order], reordered, multi_label=multi_label)
            runs[name, multi_label] = (
                [alone[i] for i in range(len(texts))],
                [batched[i] for i in range(len(texts))],
                [shuffled[order.index(i)] for i in range(len(texts))],
            )
    return runs


def measure(paths: dict) -> dict:
    from gliclass_integrations import GLiClass

    worst: dict[str, tuple[float, str]] = {}

    def note(quantity: str, value: float, where: str) -> None:
        if value >= worst.get(quantity, (-1.0, ""))[0]:
            worst[quantity] = (value, where)

    for (encoder, head), path in paths.items():
        where = f"{encoder}/{head}"
        single = GLiClass.from_pretrained(path, device="cpu")
        double = GLiClass.from_pretrained(path, device="cpu", dtype="float64")
        runs32, runs64 = engine_runs(single), engine_runs(double)
        for key, (alone, batched, shuffled) in runs32.items():
            exact = runs64[key][0]
            note("batching", largest([*zip(batched, alone), *zip(shuffled, alone)]), where)
            note("f32 vs f64", largest([*zip(alone, exact), *zip(batched, exact), *zip(shuffled, exact)]), where)
        for scenario in sorted(test_parity.SCENARIOS):
            ours64 = test_parity.our_scores(double, scenario)
            ours32 = test_parity.our_scores(single, scenario)
            theirs64 = test_parity.reference_scores(path, head, scenario, "float64")
            theirs32 = test_parity.reference_scores(path, head, scenario, "float32")
            note("parity f64", largest(zip(ours64, theirs64)), f"{where}/{scenario}")
            note("parity f32", largest(zip(ours32, theirs32)), f"{where}/{scenario}")
            note("ours f32 vs f64", largest(zip(ours32, ours64)), f"{where}/{scenario}")
            note("ref f32 vs f64", largest(zip(theirs32, ours64)), f"{where}/{scenario}")
    return {
        "threads": torch.get_num_threads(),
        "aten": torch.backends.cpu.get_cpu_capability(),
        "worst": {quantity: {"value": value, "where": where} for quantity, (value, where) in worst.items()},
    }


def sweep(root: Path) -> None:
    quantities = ["batching", "f32 vs f64", "parity f64", "parity f32", "ours f32 vs f64", "ref f32 vs f64"]
    print(f"# {cpu_name()}; torch {torch.__version__}")
    print("| configuration | ATen | " + " | ".join(quantities) + " |")
    print("|---|---|" + "---|" * len(quantities))
    for name, (threads, environment) in CONFIGURATIONS.items():
        command = [sys.executable, __file__, "--checkpoints", str(root), "--threads", str(threads), "--json"]
        result = subprocess.run(command, env={**os.environ, **environment}, capture_output=True, text=True)
        if result.returncode:
            print(f"| {name} | failed: {result.stderr.strip().splitlines()[-1]} |", flush=True)
            continue
        found = json.loads(result.stdout.strip().splitlines()[-1])
        cells = [f"{found['worst'][q]['value']:.2g} ({found['worst'][q]['where']})" for q in quantities]
        print(f"| {name} | {found['aten']} | " + " | ".join(cells) + " |", flush=True)


def cpu_name() -> str:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    wanted = [flag for flag in flags if flag.startswith(("avx512", "amx")) or flag in ("avx2", "avx_vnni")]
    return f"{model} ({', '.join(wanted)})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoints", type=Path, help="folder for the tiny checkpoints (reused)")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    root = args.checkpoints or Path(tempfile.mkdtemp(prefix="rounding-"))
    paths = build_all(root)
    if args.sweep:
        sweep(root)
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    found = measure(paths)
    if args.json:
        print(json.dumps(found))
    else:
        for quantity, worst in found["worst"].items():
            print(f"{quantity}: {worst['value']:.3g} ({worst['where']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
