"""Ray Data in local mode: two actors give the single-process scores row for row, each loading the model once."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from tolerances import FLOAT64

ray = pytest.importorskip("ray")

LABELS = ["positive", "negative", "politics"]
N_ROWS = 2000


@pytest.fixture(scope="module")
def local_ray(load_log):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def texts(n: int) -> list:
    words = ["battery", "screen", "match", "election", "love", "hate", "slow", "fast", "price", "team"]
    rng = np.random.default_rng(1)
    return [" ".join(rng.choice(words, size=rng.integers(2, 14))) for _ in range(n)]


def test_two_actors_give_the_single_process_scores_loading_the_model_once_each(
    local_ray, load_log, tiny_checkpoint, load_model
):
    from gliclass_integrations.ray import GLiClassPredictor

    frame = pd.DataFrame({"id": np.arange(N_ROWS), "text": texts(N_ROWS)})
    blocks = [frame.iloc[start : start + 250] for start in range(0, N_ROWS, 250)]  # made here: actors take both CPUs
    scored = ray.data.from_pandas(blocks).map_batches(
        GLiClassPredictor, batch_size=100, batch_format="pandas", concurrency=2,
        fn_constructor_kwargs={"labels": LABELS, "model": str(tiny_checkpoint), "dtype": "float64"},
    ).to_pandas()
    scored = scored.set_index("id").loc[frame["id"]]  # Ray keeps each block's rows in order, not the blocks'
    expected = load_model("deberta", "multilang", dtype="float64").predict_proba(frame["text"].tolist(), LABELS)
    np.testing.assert_allclose(scored[LABELS].to_numpy(dtype=float), expected, atol=FLOAT64, rtol=0)
    assert scored["text"].tolist() == frame["text"].tolist()
    assert all(isinstance(value, np.ndarray | list) for value in scored["predicted"])
    loads, batches = load_log.counts("load"), load_log.counts("batch")
    assert 1 <= len(loads) <= 2 and set(loads.values()) == {1}  # one load per actor
    assert sum(batches.values()) >= N_ROWS // 100 and set(batches) <= set(loads)  # many batches, same actors


@pytest.mark.parametrize("batch_format", ["pandas", "numpy", "pyarrow"])
def test_every_batch_format_keeps_rows_and_skips_missing_texts(local_ray, tiny_checkpoint, batch_format):
    from gliclass_integrations.ray import GLiClassPredictor

    frame = pd.DataFrame({"id": np.arange(6), "text": ["a", None, "b", "c", None, ""]})
    scored = ray.data.from_pandas(frame).map_batches(
        GLiClassPredictor, batch_format=batch_format, concurrency=1,
        fn_constructor_kwargs={"labels": LABELS, "model": str(tiny_checkpoint), "missing": "skip", "prefix": "p_"},
    ).to_pandas()
    assert scored["id"].tolist() == list(range(6))
    scores = scored[[f"p_{label}" for label in LABELS]].astype(float)
    assert scores.iloc[[1, 4]].isna().all().all() and not scores.iloc[[0, 2, 3, 5]].isna().any().any()


def test_a_missing_text_fails_the_job_naming_its_id(local_ray, tiny_checkpoint):
    from gliclass_integrations.ray import GLiClassPredictor

    frame = pd.DataFrame({"id": [10, 11, 12], "text": ["a", None, "b"]})
    dataset = ray.data.from_pandas(frame).map_batches(
        GLiClassPredictor, batch_format="pandas", concurrency=1,
        fn_constructor_kwargs={"labels": LABELS, "model": str(tiny_checkpoint), "id_column": "id"},
    )
    with pytest.raises(Exception, match=r"id=np.int64\(11\) is missing|id=11 is missing"):
        dataset.materialize()


def test_settings_are_checked_where_the_predictor_is_built(tiny_checkpoint):
    from gliclass_integrations.ray import GLiClassPredictor

    with pytest.raises(ValueError, match="missing must be one of 'raise', 'skip'"):
        GLiClassPredictor(LABELS, model=str(tiny_checkpoint), missing="drop")


def test_a_clear_error_without_ray():
    code = "import sys; sys.modules['ray'] = None; import gliclass_integrations.ray"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0 and 'pip install "gliclass-integrations[ray]"' in result.stderr
