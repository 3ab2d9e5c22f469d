"""Spark in local mode: the single-process scores row for row, with one model load per Python worker."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from spark_sessions import shut_down_spark
from tolerances import FLOAT64

pyspark = pytest.importorskip("pyspark")

LABELS = ["positive", "negative", "politics"]
N_ROWS = 2000


@pytest.fixture(scope="module")
def spark(load_log):
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]").appName("gliclass-tests")
        .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "250").getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    shut_down_spark()  # the next session's workers must not inherit this one's environment


def texts(n: int) -> list:
    words = ["battery", "screen", "match", "election", "love", "hate", "slow", "fast", "price", "team"]
    rng = np.random.default_rng(2)
    return [" ".join(rng.choice(words, size=rng.integers(2, 14))) for _ in range(n)]


def test_the_single_process_scores_with_one_model_load_per_python_worker(spark, load_log, tiny_checkpoint,
                                                                         load_model):
    from gliclass_integrations.spark import classify

    rows = list(enumerate(texts(N_ROWS)))
    frame = spark.createDataFrame(rows, "id long, text string").repartition(4)
    scored = classify(frame, LABELS, model=str(tiny_checkpoint), dtype="float64", rows_per_batch=100)
    assert scored.columns == ["id", "text", *LABELS, "predicted"]
    result = scored.toPandas().set_index("id").loc[[i for i, _ in rows]]
    expected = load_model("deberta", "multilang", dtype="float64").predict_proba([text for _, text in rows], LABELS)
    np.testing.assert_allclose(result[LABELS].to_numpy(dtype=float), expected, atol=FLOAT64, rtol=0)
    assert result["text"].tolist() == [text for _, text in rows]  # the rows pass through whole
    cuts = expected >= 0.5
    assert [list(labels) for labels in result["predicted"]] == [
        [label for label, on in zip(LABELS, row) if on] for row in cuts
    ]
    loads, batches = load_log.counts("load"), load_log.counts("batch")
    assert loads and set(loads.values()) == {1}  # each Python worker loaded the model once
    assert sum(batches.values()) >= N_ROWS // 100 > len(loads) and set(batches) <= set(loads)


def test_rows_keep_their_order_within_a_partition_and_missing_texts_follow_the_policy(spark, tiny_checkpoint):
    from gliclass_integrations.spark import classify

    frame = spark.createDataFrame([(1, "a"), (2, None), (3, "b"), (4, "")], "id long, text string").coalesce(1)
    skipped = classify(frame, LABELS, model=str(tiny_checkpoint), missing="skip", multi_label=False).collect()
    assert [row["id"] for row in skipped] == [1, 2, 3, 4]
    assert all(row[label] is None for label in LABELS for row in skipped[1:2]) and skipped[1]["predicted"] is None
    assert all(row["predicted"] in LABELS for row in (skipped[0], skipped[2], skipped[3]))  # "" is a text
    failing = classify(frame, LABELS, model=str(tiny_checkpoint), id_column="id")
    with pytest.raises(Exception, match=r"id=np.int64\(2\) is missing|id=2 is missing"):
        failing.collect()


def test_settings_and_columns_are_checked_on_the_driver(spark, tiny_checkpoint):
    from gliclass_integrations.spark import classify

    frame = spark.createDataFrame([(1, "a")], "id long, positive string")
    with pytest.raises(ValueError, match="no column 'text'"):
        classify(frame, LABELS, model=str(tiny_checkpoint))
    with pytest.raises(ValueError, match=r"already has the column.*'positive'"):
        classify(frame, LABELS, model=str(tiny_checkpoint), text_column="positive")
    with pytest.raises(ValueError, match="long_texts must be one of"):
        classify(frame, LABELS, model=str(tiny_checkpoint), text_column="positive", prefix="p_", long_texts="split")


def test_a_clear_error_without_pyspark():
    code = "import sys; sys.modules['pyspark'] = None; import gliclass_integrations.spark"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0 and 'pip install "gliclass-integrations[spark]"' in result.stderr
