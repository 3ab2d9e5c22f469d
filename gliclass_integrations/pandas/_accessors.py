"""The ``.gliclass`` accessors of pandas Series and DataFrames: scores, predictions and top labels, index intact.

Texts stream through the core (``iter_predict_proba``) straight from the column, so a long column is
never copied; logits go through the process-wide logit cache, so ``scores`` then ``predict`` on the
same column encode each text once. Models come from the process-wide registry, as for the
scikit-learn estimator and the spaCy component.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..core import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MODEL,
    GLiClass,
    check_positive_int,
    flatten_labels,
    label_paths,
    label_thresholds,
    predicted_labels,
    shared_logit_cache,
    shared_model,
)

PREDICTED = "predicted"


class _IndexNames(Sequence):
    """How errors and warnings name a row: the Series' name and the row's index label, made on demand."""

    def __init__(self, series: pd.Series) -> None:
        self.index = series.index
        self.prefix = "index" if series.name is None else f"{series.name!r} at index"

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, position: int) -> str:
        return f"{self.prefix} {self.index[position]!r}"


class GLiClassSeriesAccessor:
    """``series.gliclass``: GLiClass scores of a column of texts, one row per text, the index kept.

    Every method takes the labels (a list, or a dict of label groups) and these keyword options:

    model : str, path or GLiClass, optional
        A hub id, a checkpoint directory or a loaded ``GLiClass``; by default the package's default
        model. Hub ids and paths come from the process-wide registry (loaded once per process).
    multi_label : bool, default=True
        True: a sigmoid per label; False: a softmax over the labels.
    prompt, examples, label_descriptions
        As for ``GLiClass.predict_proba``: one prompt string, one list of few-shot examples, and
        ``{label: description}``, for all rows.
    missing : {"raise", "skip"}, default="raise"
        A missing text (NaN, None, ``pd.NA``) is an error naming its index label; "skip" gives its row
        NaN scores (and no prediction). Empty strings are texts, and are scored.
    long_texts : {"truncate", "chunk"}, default="truncate"
        Texts longer than ``max_length`` beside their labels: shortened, or scored in windows.
    chunk_aggregation : {"max", "mean"}, default="max"
        How a chunked text's windows make one score per label.
    batch_size, chunk_size, progress_bar
        As for ``GLiClass.iter_predict_proba``.
    cache : bool, default=True
        Reuse logits computed earlier in this process for the same model and inputs.
    device, dtype, max_length
        For a model given by name: where and how it runs (``max_length`` None: the model's default).
    """

    def __init__(self, series: pd.Series) -> None:
        self._series = series

    def scores(self, labels: Any, *, prefix: str | None = None, **options: Any) -> pd.DataFrame:
        """One column of scores per label, indexed like the Series.

        Parameters
        ----------
        labels : list of str or dict
            The labels; a dict of groups gives MultiIndex columns (``("sentiment", "positive")``),
            paths of unequal depth padded with "" at the end.
        prefix : str, optional
            Put before every column name (the first level's, with groups), e.g. ``"score_"``.
        **options
            The options above.

        Returns
        -------
        DataFrame of shape (len(series), n_labels)
            Float32 scores (float64 for a float64 model); NaN in the rows of skipped missing texts.
        """
        matrix = self._matrix(labels, options)
        return pd.DataFrame(matrix, index=self._series.index, columns=_columns(labels, prefix))

    def predict(self, labels: Any, *, threshold: float | Mapping[str, float] = 0.5, multi_label: bool = True,
                **options: Any) -> pd.Series:
        """The predicted labels of each text, indexed like the Series.

        Parameters
        ----------
        labels : list of str or dict
        threshold : float or dict of str to float, default=0.5
            Multi-label cut-off (score >= threshold): one for all labels or ``{label: threshold}`` for
            every label (flattened names for groups). Not used when ``multi_label=False``.
        multi_label : bool, default=True
            True: the list of labels at or above the threshold, in label order; False: the best label.
        **options
            The options above.

        Returns
        -------
        Series of object, named "predicted"
            Lists of labels, or one label per text; None for a skipped missing text.
        """
        flat = list(flatten_labels(labels))
        cuts = label_thresholds(threshold, flat)
        matrix = self._matrix(labels, {**options, "multi_label": multi_label})
        values = [predicted_labels(row, flat, cuts, multi_label) for row in matrix]
        return pd.Series(values, index=self._series.index, name=PREDICTED, dtype=object)

    def top_k(self, labels: Any, k: int = 3, **options: Any) -> pd.DataFrame:
        """The ``k`` best labels of each text, best first, as a long table.

        Parameters
        ----------
        labels : list of str or dict
        k : int, default=3
            Labels per text (all of them when there are fewer).
        **options
            The options above.

        Returns
        -------
        DataFrame with columns "rank" (1 = best), "label" and "score"
            ``min(k, n_labels)`` rows per text, indexed by the text's index label (repeated); a skipped
            missing text has no rows.
        """
        check_positive_int(k, "k")
        flat = np.array(flatten_labels(labels), dtype=object)
        matrix = self._matrix(labels, options)
        scored = np.flatnonzero(~np.isnan(matrix).any(axis=1))
        k = min(k, len(flat))
        best = np.argsort(-matrix[scored], axis=1, kind="stable")[:, :k]
        return pd.DataFrame(
            {
                "rank": np.tile(np.arange(1, k + 1), len(scored)),
                "label": flat[best].ravel(),
                "score": np.take_along_axis(matrix[scored], best, axis=1).ravel(),
            },
            index=self._series.index.take(np.repeat(scored, k)),
        )

    def _matrix(self, labels: Any, options: dict[str, Any]) -> np.ndarray:
        options = dict(options)
        model = _model(options.pop("model", None), options.pop("device", "auto"), options.pop("dtype", "auto"),
                       options.pop("max_length", None))
        cache = shared_logit_cache() if options.pop("cache", True) else None
        n_labels = len(flatten_labels(labels))
        rows = model.iter_predict_proba(
            iter(self._series), labels, chunk_size=options.pop("chunk_size", DEFAULT_CHUNK_SIZE), cache=cache,
            row_names=_IndexNames(self._series), **options,
        )
        matrix = np.empty((len(self._series), n_labels), dtype=np.float64 if _is_float64(model) else np.float32)
        for position, row in enumerate(rows):
            matrix[position] = row
        return matrix


class GLiClassFrameAccessor:
    """``frame.gliclass``: score a DataFrame's text column and add the scores (and predictions) beside it."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def classify(
        self,
        text: str = "text",
        labels: Any = None,
        *,
        prefix: str = "",
        predicted: str | None = PREDICTED,
        threshold: float | Mapping[str, float] = 0.5,
        multi_label: bool = True,
        **options: Any,
    ) -> pd.DataFrame:
        """A copy of the frame with one score column per label and a column of predicted labels.

        Parameters
        ----------
        text : str, default="text"
            The column holding the texts.
        labels : list of str or dict
            The labels; groups are flattened to ``group.label`` column names.
        prefix : str, default=""
            Put before every score column name, e.g. ``"score_"``.
        predicted : str or None, default="predicted"
            The name of the predictions column; None for none.
        threshold, multi_label
            As for ``Series.gliclass.predict``.
        **options
            As for ``Series.gliclass``.

        Returns
        -------
        DataFrame
            The frame's columns, then the score columns, then the predictions; index unchanged. A new
            column whose name is already taken is an error, not an overwrite.
        """
        if labels is None:
            raise TypeError("classify needs labels=[...] (a list, or a dict of label groups).")
        if text not in self._frame.columns:
            shown = ", ".join(map(repr, self._frame.columns))
            raise KeyError(f"no column {text!r} in the frame (columns: {shown}); choose one with text=...")
        flat = list(flatten_labels(labels))
        names = [f"{prefix}{label}" for label in flat]
        new = names + ([predicted] if predicted is not None else [])
        taken = [name for name in new if name in self._frame.columns]
        if taken or len(set(new)) < len(new):
            raise ValueError(
                f"classify would overwrite the column(s) {', '.join(map(repr, taken or new))}; pass prefix= or "
                "predicted= to name the new columns differently."
            )
        accessor = GLiClassSeriesAccessor(self._frame[text])
        matrix = accessor._matrix(labels, {**options, "multi_label": multi_label})
        added = pd.DataFrame(matrix, index=self._frame.index, columns=names)
        if predicted is not None:
            cuts = label_thresholds(threshold, flat)
            values = [predicted_labels(row, flat, cuts, multi_label) for row in matrix]
            added[predicted] = pd.Series(values, index=self._frame.index, dtype=object)
        return pd.concat([self._frame, added], axis=1)


def _model(model: Any, device: Any, dtype: Any, max_length: int | None) -> GLiClass:
    if isinstance(model, GLiClass):
        return model if max_length is None else model.with_max_length(max_length)
    if model is not None and not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be a hub id, a checkpoint path or a GLiClass, got {type(model).__name__}.")
    options = {} if max_length is None else {"max_length": max_length}
    return shared_model(model or DEFAULT_MODEL, device=device, dtype=dtype, **options)


def _is_float64(model: GLiClass) -> bool:
    return str(model.dtype) == "torch.float64"


def _columns(labels: Any, prefix: str | None) -> pd.Index:
    paths = label_paths(labels)
    prefix = prefix or ""
    if not isinstance(labels, Mapping):
        return pd.Index([f"{prefix}{path[0]}" for path in paths])
    depth = max(map(len, paths))
    padded = [(f"{prefix}{path[0]}", *path[1:], *[""] * (depth - len(path))) for path in paths]
    return pd.MultiIndex.from_tuples(padded)
