"""Read ``y`` in every format scikit-learn users hold it in, and decide the classes.

Single-label ``y`` is 1-D: a list, array or Series of label strings, or of integer class codes when
``labels`` is given (code k is the k-th label in sorted order, the numbering scikit-learn's
``LabelEncoder`` gives string classes; ``cross_val_predict`` and ``StackingClassifier`` hand such codes
to the estimator). Multi-label ``y`` is a list of label lists, an indicator matrix (ndarray or sparse,
columns in ``labels`` order) or a DataFrame of 0/1 columns named by label. The model reads label
texts, so without ``labels`` the classes must be strings.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Target:
    multi_label: bool
    classes: tuple[Any, ...]  # classes_: label strings (sorted if single-label), or integer codes
    class_labels: tuple[str, ...]  # the label text of each class, in classes_ order
    model_labels: tuple[str, ...]  # the order the model reads the labels in
    row_labels: list[tuple[str, ...]] | None  # per row, its label texts (None without y)


def read_target(y: Any, labels: tuple[str, ...] | None, multi_label: bool | str, n_rows: int | None) -> Target:
    """The classes and per-row labels of a fit."""
    if y is None:
        if labels is None:
            raise ValueError(
                "Nothing to classify into: labels is None and fit got no y. Pass labels=[...] to the constructor "
                "(zero-shot), or y to fit."
            )
        multi = multi_label is True
        classes = labels if multi else tuple(sorted(labels))
        return Target(multi, classes, classes, labels, None)
    multi = is_multilabel_target(y)
    if multi_label != "auto" and bool(multi_label) != multi:
        shape = "label lists or an indicator matrix" if multi else "one label per row"
        raise ValueError(
            f"multi_label={multi_label} but y holds {shape}. Give y in the other format, or set multi_label="
            f"{multi} (or 'auto')."
        )
    if not multi:
        values = single_label_values(y)
        if values and _is_code(values[0]):
            return _coded_target(values, labels, n_rows)
        rows = [(value,) for value in values]
    else:
        rows = multilabel_rows(y, labels)
    if n_rows is not None and len(rows) != n_rows:
        raise ValueError(f"X has {n_rows} texts but y has {len(rows)} rows.")
    if labels is not None:
        _check_covered([_column_names(y) or (), *rows], labels, first_row=-1)
        model_labels = labels
    else:
        model_labels = _column_names(y) or tuple(sorted({label for row in rows for label in row}))
        if not multi and len(model_labels) < 2:
            raise ValueError(
                f"y has a single class ({', '.join(map(repr, model_labels))}); a single-label classifier needs at "
                "least two. Pass labels=[...] with every class the model should choose from."
            )
    classes = model_labels if multi else tuple(sorted(model_labels))
    return Target(multi, classes, classes, model_labels, rows)


def _coded_target(codes: list[Any], labels: tuple[str, ...] | None, n_rows: int | None) -> Target:
    """Single-label integer codes: code k is ``sorted(labels)[k]``; ``classes_`` are the codes."""
    if labels is None:
        raise ValueError(
            f"y holds integer class codes ({codes[0]!r}, ...) but the model reads label texts: pass labels=[...]. "
            "Code k stands for the k-th label in sorted order, as scikit-learn's LabelEncoder numbers them."
        )
    names = tuple(sorted(labels))
    for index, code in enumerate(codes):
        if not 0 <= code < len(names):
            raise ValueError(
                f"y[{index}] is the class code {code!r}, but {len(names)} labels give the codes 0 to {len(names) - 1} "
                f"({', '.join(f'{k}: {name!r}' for k, name in enumerate(names))})."
            )
    if names != labels:
        warnings.warn(
            f"y holds integer class codes, read as positions in sorted(labels): "
            f"{', '.join(f'{k} = {name!r}' for k, name in enumerate(names))} (the numbering of scikit-learn's "
            "LabelEncoder, which cross_val_predict and StackingClassifier use). If your codes follow another "
            "order, map them to label strings first; to silence this, give labels in sorted order.",
            UserWarning,
            stacklevel=4,
        )
    if n_rows is not None and len(codes) != n_rows:
        raise ValueError(f"X has {n_rows} texts but y has {len(codes)} rows.")
    rows = [(names[code],) for code in codes]
    return Target(False, tuple(range(len(names))), names, labels, rows)


def is_multilabel_target(y: Any) -> bool:
    if hasattr(y, "toarray") or hasattr(y, "columns"):
        return True
    if isinstance(y, np.ndarray):
        return y.ndim == 2
    if isinstance(y, (str, bytes)):
        raise TypeError("y must be a collection of labels, got a single string.")
    items = list(y) if not hasattr(y, "to_numpy") else list(y.to_numpy())
    return bool(items) and all(isinstance(item, (list, tuple, set, frozenset, np.ndarray)) for item in items)


def single_label_values(y: Any) -> list[Any]:
    """One class per row: all label strings, or all integer codes."""
    values = y.to_numpy() if hasattr(y, "to_numpy") else y
    if getattr(values, "ndim", 1) != 1:
        raise ValueError(f"y must be one-dimensional for single-label classification, got shape {values.shape}.")
    values = list(values)
    codes = bool(values) and _is_code(values[0])
    for index, value in enumerate(values):
        if codes and not _is_code(value):
            raise TypeError(f"y[{index}] is {value!r} ({type(value).__name__}), but y[0] is an integer class code.")
        if not codes and not isinstance(value, str):
            raise TypeError(_not_a_name(f"y[{index}]", value))
    return [int(value) for value in values] if codes else [str(value) for value in values]


def _is_code(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


def multilabel_rows(y: Any, labels: tuple[str, ...] | None) -> list[tuple[str, ...]]:
    if hasattr(y, "columns"):
        return _indicator_rows(y.to_numpy(), _column_names(y), "y")
    if hasattr(y, "toarray") or isinstance(y, np.ndarray):
        matrix = y.toarray() if hasattr(y, "toarray") else y
        if labels is None:
            raise ValueError(
                "An indicator matrix y has no label names; pass labels=[...] (one per column, in column order) or "
                "give y as a DataFrame whose columns are the labels."
            )
        if matrix.shape[1] != len(labels):
            raise ValueError(f"y has {matrix.shape[1]} columns but labels has {len(labels)} entries.")
        return _indicator_rows(matrix, labels, "y")
    rows = []
    for index, item in enumerate(y):
        if isinstance(item, (set, frozenset)):
            item = sorted(item)
        for label in item:
            if not isinstance(label, str):
                raise TypeError(_not_a_name(f"y[{index}]", label))
        rows.append(tuple(item))
    return rows


def indicator(rows: Sequence[tuple[str, ...]], classes: Sequence[str]) -> np.ndarray:
    column = {label: j for j, label in enumerate(classes)}
    matrix = np.zeros((len(rows), len(classes)), dtype=int)
    for i, row in enumerate(rows):
        for label in row:
            matrix[i, column[label]] = 1
    return matrix


def _indicator_rows(matrix: np.ndarray, names: Sequence[str], where: str) -> list[tuple[str, ...]]:
    values = np.asarray(matrix)
    if values.ndim != 2:
        raise ValueError(f"{where} must be a 2-D indicator matrix, got shape {values.shape}.")
    bad = np.argwhere(~np.isin(values, (0, 1)))
    if len(bad):
        row, col = bad[0]
        raise ValueError(
            f"{where}[{row}, {col}] is {values[row, col].item()!r}; an indicator matrix holds only 0 and 1 "
            "(or booleans)."
        )
    return [tuple(name for name, flag in zip(names, row) if flag) for row in values.astype(bool)]


def _column_names(y: Any) -> tuple[str, ...] | None:
    if not hasattr(y, "columns"):
        return None
    names = tuple(y.columns)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(_not_a_name("a column name of y", name))
    return names


def _check_covered(rows: list[tuple[str, ...]], labels: tuple[str, ...], first_row: int = 0) -> None:
    known = set(labels)
    for index, row in enumerate(rows, start=first_row):
        for label in row:
            if label not in known:
                where = "y has a column for" if index < 0 else f"y[{index}] has"
                raise ValueError(
                    f"{where} the label {label!r}, which is not among labels ({', '.join(map(repr, labels))}). "
                    "Add it to labels, or fix that row."
                )


def _not_a_name(where: str, value: Any) -> str:
    return (
        f"{where} is {value!r} ({type(value).__name__}); class names must be strings the model can read, such as "
        "'positive' (or, with labels=[...] given, integer codes of the sorted labels)."
    )
