"""``GLiClassPredictor``: the callable class Ray Data's ``map_batches`` runs in each actor."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..core import DEFAULT_MODEL, column_settings, score_columns, shared_model


class GLiClassPredictor:
    """Scores a batch's text column with GLiClass and appends the scores (and predictions) to the batch.

    Ray Data builds one per actor (``concurrency`` actors), so the model loads once per actor, and calls
    it with each batch. Batches may be pandas DataFrames, dicts of NumPy arrays or pyarrow Tables
    (``batch_format``); the result has the same form, the input columns untouched and in order.

    Parameters
    ----------
    labels : list of str or dict
        The labels; groups are flattened to ``group.label`` column names.
    model : str or path, default="knowledgator/gliclass-multilang-mini"
        A hub id or a checkpoint directory every worker can read (shared storage, or a pre-filled
        Hugging Face cache on each node; see docs/ray.md).
    text_column : str, default="text"
    id_column : str, optional
        A column that names rows in error messages (``id=17 is missing``); by default their position
        in the batch.
    multi_label : bool, default=True
    threshold : float or dict of str to float, default=0.5
        Multi-label cut-off for the predictions (one, or one per label).
    prompt, examples, label_descriptions
        As for ``GLiClass.predict_proba``, for all rows.
    missing : {"raise", "skip"}, default="raise"
        A missing text stops the job with an error naming the row; "skip" gives it null scores and no
        prediction.
    long_texts, chunk_aggregation
        As for ``GLiClass.predict_proba``.
    prefix : str, default=""
        Put before every score column name.
    predicted : str or None, default="predicted"
        The name of the predictions column (a list of labels, or the best label); None for none.
    device, dtype, max_length, batch_size
        As for ``GLiClass.from_pretrained``; ``device="auto"`` takes the actor's GPU when it has one
        (``num_gpus=1``).
    """

    def __init__(
        self,
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
    ) -> None:
        self.labels = labels
        self.settings = column_settings(
            labels, multi_label=multi_label, threshold=threshold, prompt=prompt, examples=examples,
            label_descriptions=label_descriptions, missing=missing, long_texts=long_texts,
            chunk_aggregation=chunk_aggregation, prefix=prefix, predicted=predicted, batch_size=batch_size,
        )
        self.text_column = text_column
        self.id_column = id_column
        options = {} if max_length is None else {"max_length": max_length}
        self.model = shared_model(model, device=device, dtype=dtype, **options)

    def __call__(self, batch: Any) -> Any:
        texts, ids = _column(batch, self.text_column), None
        if self.id_column is not None:
            ids = _column(batch, self.id_column)
        names = "texts" if ids is None else [f"{self.id_column}={value!r}" for value in ids]
        columns = score_columns(self.model, texts, self.labels, row_names=names, **self.settings)
        return _with_columns(batch, columns)


def _column(batch: Any, name: str) -> list[Any]:
    """The values of one column of a pandas DataFrame, a dict of arrays or a pyarrow Table."""
    try:
        values = batch[name]
    except KeyError:
        raise KeyError(f"no column {name!r} in the batch (columns: {', '.join(map(repr, _names(batch)))}).") from None
    if hasattr(values, "to_pylist"):  # pyarrow
        return values.to_pylist()
    return list(values)


def _names(batch: Any) -> list[str]:
    if hasattr(batch, "column_names"):
        return list(batch.column_names)
    return list(batch.columns) if hasattr(batch, "columns") else list(batch)


def _with_columns(batch: Any, columns: dict[str, Any]) -> Any:
    taken = [name for name in columns if name in _names(batch)]
    if taken:
        raise ValueError(f"the batch already has the column(s) {', '.join(map(repr, taken))}; pass prefix= or "
                         "predicted= to name the new columns differently.")
    if hasattr(batch, "append_column"):  # pyarrow Table: missing scores are nulls
        import pyarrow as pa

        for name, values in columns.items():
            if isinstance(values, np.ndarray):
                batch = batch.append_column(name, pa.array(values, mask=np.isnan(values)))
            else:
                batch = batch.append_column(name, pa.array(values))
        return batch
    if hasattr(batch, "assign"):  # pandas DataFrame
        return batch.assign(**{name: _object_array(values) for name, values in columns.items()})
    return {**batch, **{name: _object_array(values) for name, values in columns.items()}}


def _object_array(values: Any) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values
    array = np.empty(len(values), dtype=object)  # lists of labels stay lists, one per row
    array[:] = values
    return array
