"""Label sets: flat lists, hierarchical dicts flattened to dot notation, and nested score output."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

LabelTree = Mapping[str, Any]
SEPARATOR = "."


def flatten_labels(labels: Sequence[str] | LabelTree, where: str = "labels") -> tuple[str, ...]:
    """Return the label texts fed to the model, in order.

    A flat 1-D collection of strings (list, tuple, NumPy array, pandas Index or Series) is returned as
    a tuple in its order. A dict is flattened depth first in insertion order: ``{"sentiment":
    ["positive", "negative"]}`` gives ``("sentiment.positive", "sentiment.negative")``; values may be
    dicts, lists of strings or a single string. A set is refused: its order, and with it every score,
    could change from one process to the next.
    """
    if isinstance(labels, Mapping):
        flat = tuple(_flatten_tree(labels, "", where))
    else:
        flat = tuple(str(label) for label in label_sequence(labels, where))
    _check_labels(flat, where)
    return flat


def label_sequence(labels: Any, where: str = "labels") -> list[str]:
    """The items of a flat, ordered, 1-D collection of label strings, checked one by one."""
    if isinstance(labels, str):
        raise TypeError(f"{where} must be a list of strings or a dict, got the string {labels!r}.")
    if isinstance(labels, (set, frozenset)):
        raise TypeError(f"{where} is a set, whose order is not defined; give a list (e.g. sorted(labels)).")
    ndim = getattr(labels, "ndim", 1)
    if ndim != 1:
        raise ValueError(f"{where} must be one-dimensional, got an array of shape {getattr(labels, 'shape', '?')}.")
    if not isinstance(labels, Iterable):
        raise TypeError(f"{where} must be a list of strings or a dict, got {type(labels).__name__}: {labels!r}.")
    items = list(labels)
    for index, label in enumerate(items):
        if not isinstance(label, str):
            raise TypeError(f"{where}[{index}] must be a string, got {type(label).__name__}: {label!r}.")
    return items


def label_paths(labels: Sequence[str] | LabelTree, where: str = "labels") -> list[tuple[str, ...]]:
    """Each label of ``flatten_labels`` as the path of names that leads to it, in the same order.

    ``{"sentiment": ["positive"], "topic": {"news": "politics"}}`` gives ``[("sentiment", "positive"),
    ("topic", "news", "politics")]``; a flat label is a path of one name.
    """
    flat = flatten_labels(labels, where)
    if not isinstance(labels, Mapping):
        return [(label,) for label in flat]
    return list(_paths(labels, ()))


def _paths(tree: LabelTree, prefix: tuple[str, ...]):
    for key, value in tree.items():
        if isinstance(value, Mapping):
            yield from _paths(value, (*prefix, key))
        else:
            for leaf in [value] if isinstance(value, str) else value:
                yield (*prefix, key, leaf)


def _flatten_tree(tree: LabelTree, prefix: str, where: str):
    for key, value in tree.items():
        if not isinstance(key, str):
            raise TypeError(f"{where}: label group names must be strings, got {key!r}.")
        name = f"{prefix}{SEPARATOR}{key}" if prefix else key
        if isinstance(value, Mapping):
            yield from _flatten_tree(value, name, where)
        elif isinstance(value, str):
            yield f"{name}{SEPARATOR}{value}"
        elif isinstance(value, Sequence):
            for leaf in value:
                if not isinstance(leaf, str):
                    raise TypeError(f"{where}[{name!r}] must hold strings, got {type(leaf).__name__}: {leaf!r}.")
                yield f"{name}{SEPARATOR}{leaf}"
        else:
            raise TypeError(
                f"{where}[{name!r}] must be a dict, a list of strings or a string, got {type(value).__name__}."
            )


def _check_labels(labels: tuple[str, ...], where: str) -> None:
    if not labels:
        raise ValueError(f"{where} is empty; give at least one label.")
    seen: dict[str, int] = {}
    for index, label in enumerate(labels):
        if not label.strip():
            raise ValueError(f"{where}[{index}] is an empty label.")
        if label in seen:
            raise ValueError(f"{where} repeats the label {label!r} (positions {seen[label]} and {index}).")
        seen[label] = index


def nest_scores(structure: Sequence[str] | LabelTree, scores: Mapping[str, float]) -> dict[str, Any]:
    """Scores shaped like the labels that were given: ``{label: score}`` or nested dicts."""
    if not isinstance(structure, Mapping):
        return {label: scores[label] for label in structure}
    return _nest(structure, "", scores)


def _nest(tree: LabelTree, prefix: str, scores: Mapping[str, float]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{SEPARATOR}{key}" if prefix else key
        if isinstance(value, Mapping):
            nested[key] = _nest(value, name, scores)
        else:
            leaves = [value] if isinstance(value, str) else value
            nested[key] = {leaf: scores[f"{name}{SEPARATOR}{leaf}"] for leaf in leaves}
    return nested
