"""Rows per second of Ray Data and Spark in local mode with one and two workers, beside the single-process core.

The same texts and labels go through ``GLiClass.predict_proba`` in this process, Ray Data's
``map_batches(GLiClassPredictor, concurrency=n)`` and Spark's ``classify`` on ``local[n]``. Each engine's
time covers the whole job once the engine is up (its start-up is reported apart): reading the rows,
starting the workers, loading the model in each, scoring, and collecting the results. The model is a
randomly initialised checkpoint shaped like a released one (``throughput.py``'s shapes), saved to a
temporary folder that every worker reads.

Usage:
    python benchmarks/scale_out.py --shape tiny --rows 4000
    python benchmarks/scale_out.py --shape small --rows 2000 --engines core,ray,spark --workers 1,2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import _cpu_name, build_checkpoint, make_labels, make_texts

LABELS = make_labels(8)


def run_core(checkpoint: Path, rows: list[str], workers: int) -> float:
    from gliclass_integrations import GLiClass

    start = time.perf_counter()
    GLiClass.from_pretrained(checkpoint, device="cpu").predict_proba(rows, LABELS)
    return time.perf_counter() - start


def run_ray(checkpoint: Path, rows: list[str], workers: int) -> float:
    import ray

    from gliclass_integrations.ray import GLiClassPredictor

    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        frame = pd.DataFrame({"text": rows})
        blocks = [frame.iloc[start : start + 500] for start in range(0, len(frame), 500)]
        start = time.perf_counter()
        ray.data.from_pandas(blocks).map_batches(
            GLiClassPredictor, batch_format="pandas", batch_size=500, concurrency=workers,
            fn_constructor_kwargs={"labels": LABELS, "model": str(checkpoint), "device": "cpu"},
        ).materialize()
        return time.perf_counter() - start
    finally:
        ray.shutdown()


def run_spark(checkpoint: Path, rows: list[str], workers: int) -> float:
    from pyspark.sql import SparkSession

    from gliclass_integrations.spark import classify

    spark = (
        SparkSession.builder.master(f"local[{workers}]").config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "500").getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        frame = spark.createDataFrame([(text,) for text in rows], "text string").repartition(2 * workers).cache()
        frame.count()
        start = time.perf_counter()
        classify(frame, LABELS, model=str(checkpoint), device="cpu").write.format("noop").mode("overwrite").save()
        return time.perf_counter() - start
    finally:
        spark.stop()


ENGINES = {"core": run_core, "ray": run_ray, "spark": run_spark}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", default="tiny", help="a throughput.py shape: tiny, small, mini, edge")
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--length", default="64", help="tokens per text (or mixed), as in throughput.py")
    parser.add_argument("--engines", default="core,ray,spark")
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args(argv)
    rows = make_texts(args.length, args.rows)
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / "model"
        build_checkpoint(args.shape, checkpoint)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        print(f"# {_cpu_name()}, {os.cpu_count()} CPUs; shape {args.shape}, {args.rows} texts of {args.length} "
              f"tokens, {len(LABELS)} labels")
        print("| engine | workers | seconds | rows/s |")
        print("|---|---|---|---|")
        for engine in args.engines.split(","):
            for workers in map(int, args.workers.split(",")):
                if engine == "core" and workers > 1:
                    continue  # one process; its threads are PyTorch's
                seconds = ENGINES[engine](checkpoint, rows, workers)
                print(f"| {engine} | {workers if engine != 'core' else '1 process'} | {seconds:.1f} | "
                      f"{args.rows / seconds:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
