"""``classify``: a Spark DataFrame with GLiClass scores added, through ``mapInPandas``.

Why ``mapInPandas`` and not ``pyspark.ml.functions.predict_batch_udf``: both run a model per Python
worker over Arrow batches, but a ``predict_batch_udf`` returns one column whose struct fields must be
scalars or fixed-width numeric arrays, so a skipped row could not get null scores and the predicted
labels (a list of any length) could not be returned. ``mapInPandas`` returns whole rows: the input
columns untouched (the caller's id column included), the scores as nullable doubles and the
predictions as ``array<string>``, under a schema derived from the labels.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from ..core import DEFAULT_MODEL, check_positive_int, column_settings, flatten_labels, score_columns, shared_model


def classify(
    frame: Any,
    labels: Any,
    *,
    model: str | os.PathLike = DEFAULT_MODEL,
    text_column: str = "text",
    id_column: str | None = None,
    multi_label: bool = True,
    threshold: float | Mapping[str, float] = 0.5,
    prompt: str | None = None,
    examples: list[dict[str, Any]] | None = None,
    label_descriptions: Mapping[str, str] | None = None,
    missing: str = "raise",
    long_texts: str = "truncate",
    chunk_aggregation: str = "max",
    prefix: str = "",
    predicted: str | None = "predicted",
    device: Any = "auto",
    dtype: Any = "auto",
    max_length: int | None = None,
    batch_size: int | None = None,
    rows_per_batch: int = 1024,
) -> Any:
    """``frame`` with one score column per label and a column of predicted labels added.

    Lazy, as Spark transformations are: the model runs when an action (``write``, ``count``,
    ``collect``) runs the plan. Each row keeps its columns; rows keep their order within a partition.

    Parameters
    ----------
    frame : pyspark.sql.DataFrame
    labels : list of str or dict
        The labels; groups are flattened to ``group.label`` column names.
    model : str or path, default="knowledgator/gliclass-multilang-mini"
        A hub id or checkpoint directory every executor can read (shared storage, ``SparkFiles``, or a
        pre-filled Hugging Face cache on each node; see docs/spark.md).
    text_column : str, default="text"
    id_column : str, optional
        A column that names rows in error messages (``id=17 is missing``).
    multi_label : bool, default=True
        True: a sigmoid per label and an ``array<string>`` of predicted labels; False: a softmax and the
        best label (``string``).
    threshold : float or dict of str to float, default=0.5
        Multi-label cut-off for the predictions (one, or one per label).
    prompt, examples, label_descriptions
        As for ``GLiClass.predict_proba``, for all rows.
    missing : {"raise", "skip"}, default="raise"
        A missing (null) text fails the job with an error naming the row; "skip" gives it null scores and
        a null prediction.
    long_texts, chunk_aggregation
        As for ``GLiClass.predict_proba``.
    prefix : str, default=""
        Put before every score column name.
    predicted : str or None, default="predicted"
        The name of the predictions column; None for none.
    device, dtype, max_length, batch_size
        As for ``GLiClass.from_pretrained``; ``device="auto"`` uses a GPU the executor has.
    rows_per_batch : int, default=1024
        Rows scored together in a Python worker (Arrow batches, sized by Spark's
        ``spark.sql.execution.arrow.maxRecordsPerBatch``, are split into pieces of at most this many).

    Returns
    -------
    pyspark.sql.DataFrame
    """
    settings = column_settings(
        labels, multi_label=multi_label, threshold=threshold, prompt=prompt, examples=examples,
        label_descriptions=label_descriptions, missing=missing, long_texts=long_texts,
        chunk_aggregation=chunk_aggregation, prefix=prefix, predicted=predicted, batch_size=batch_size,
    )
    check_positive_int(rows_per_batch, "rows_per_batch")
    for column in [text_column, *([id_column] if id_column else [])]:
        if column not in frame.columns:
            raise ValueError(f"no column {column!r} in the frame (columns: {', '.join(map(repr, frame.columns))}).")
    flat = list(flatten_labels(labels))
    names = [f"{prefix}{label}" for label in flat] + ([predicted] if predicted is not None else [])
    taken = [name for name in names if name in frame.columns]
    if taken:
        raise ValueError(f"the frame already has the column(s) {', '.join(map(repr, taken))}; pass prefix= or "
                         "predicted= to name the new columns differently.")
    loading = {"name_or_path": model, "device": device, "dtype": dtype,
               **({} if max_length is None else {"max_length": max_length})}
    scorer = _PartitionScorer(labels, text_column, id_column, rows_per_batch, settings, loading)
    return frame.mapInPandas(scorer, schema=_schema(frame.schema, [f"{prefix}{label}" for label in flat], predicted,
                                                     multi_label))


class _PartitionScorer:
    """What each Python worker runs on the Arrow batches of a partition (pickled to the executors)."""

    def __init__(self, labels, text_column, id_column, rows_per_batch, settings, loading) -> None:
        self.labels = labels
        self.text_column = text_column
        self.id_column = id_column
        self.rows_per_batch = rows_per_batch
        self.settings = settings
        self.loading = loading

    def __call__(self, batches: Iterator[Any]) -> Iterator[Any]:
        model = shared_model(**self.loading)  # once per worker process; reused by later tasks
        for batch in batches:
            for start in range(0, len(batch), self.rows_per_batch):
                yield self._score(model, batch.iloc[start : start + self.rows_per_batch])

    def _score(self, model, rows) -> Any:
        texts = rows[self.text_column].tolist()
        names = "texts" if self.id_column is None else [f"{self.id_column}={value!r}" for value in rows[self.id_column]]
        columns = score_columns(model, texts, self.labels, row_names=names, **self.settings)
        return rows.assign(**columns)  # NaN scores become nulls on the way to Spark


def _schema(input_schema: Any, score_names: list[str], predicted: str | None, multi_label: bool) -> Any:
    from pyspark.sql.types import ArrayType, DoubleType, StringType, StructField, StructType

    fields = list(input_schema.fields) + [StructField(name, DoubleType(), nullable=True) for name in score_names]
    if predicted is not None:
        kind = ArrayType(StringType(), containsNull=False) if multi_label else StringType()
        fields.append(StructField(predicted, kind, nullable=True))
    return StructType(fields)
