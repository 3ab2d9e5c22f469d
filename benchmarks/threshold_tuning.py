"""Time ``MultiLabelThresholdTuner``'s search once the scores exist: the sorted pass against per-candidate calls.

The scores are random (``--labels`` × ``--texts``, with labels that follow them noisily), held by a
stand-in classifier, and the tuner runs with ``cv="prefit"``, so only the search is timed: every
midpoint between distinct scores is a candidate (the default). For comparison, the search the tuner
did before (one ``f1_score`` call per candidate) is timed on one label and multiplied by the number
of labels; both give the same thresholds, which is checked on that label.

Usage:
    python benchmarks/threshold_tuning.py                          # 50 labels x 10,000 texts
    python benchmarks/threshold_tuning.py --labels 50 --texts 1000,4000,10000 --brute-force-texts 1000,4000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from gliclass_integrations import MultiLabelThresholdTuner

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path[:0] = [str(TESTS / "sklearn"), str(TESTS)]  # the adapter tests' conftest first

from test_sklearn_threshold import FixedScores  # noqa: E402  (the stand-in classifier of the tests)


def brute_force_label(truth: np.ndarray, scores: np.ndarray) -> float:
    distinct = np.unique(scores)
    candidates = np.concatenate([[0.0], (distinct[:-1] + distinct[1:]) / 2, [1.0]])
    values = [f1_score(truth, (scores >= t).astype(int), zero_division=0) for t in candidates]
    return float(candidates[int(np.argmax(values))])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", type=int, default=50)
    parser.add_argument("--texts", default="10000", help="comma-separated text counts")
    parser.add_argument("--brute-force-texts", default="1000", help="text counts to time the old search at")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"| texts | labels | sorted pass (s, best of {args.repeat}) | one f1_score per candidate (s, estimated) |")
    print("|---|---|---|---|")
    brute_counts = {int(n) for n in args.brute_force_texts.split(",") if n}
    for n in map(int, args.texts.split(",")):
        scores = rng.random((n, args.labels)).astype(np.float32).astype(np.float64)
        truth = (scores + rng.normal(0, 0.3, scores.shape) > 0.6).astype(int)
        texts = [str(i) for i in range(n)]
        fitted = FixedScores(scores).fit(texts)
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            tuner = MultiLabelThresholdTuner(fitted, cv="prefit").fit(texts, truth)
            best = min(best, time.perf_counter() - start)
        brute = "–"
        if n in brute_counts:
            start = time.perf_counter()
            threshold = brute_force_label(truth[:, 0], scores[:, 0])
            per_label = time.perf_counter() - start
            assert threshold == tuner.thresholds_[0], (threshold, tuner.thresholds_[0])
            brute = f"{per_label * args.labels:.1f} ({per_label:.2f} per label)"
        print(f"| {n:,} | {args.labels} | {best:.3f} | {brute} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
