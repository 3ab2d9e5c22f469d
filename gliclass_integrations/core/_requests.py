"""Turn the caller's arguments (texts, labels, prompt, examples, descriptions) into one request per text.

Everything is checked here, with errors that name the argument and the row, so later stages can
trust their input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._labels import flatten_labels
from ._options import check_descriptions, check_missing, is_missing

EXAMPLE_LABELS_INTRO = " \nLabels:\n "  # between an example's text and its labels (training format)
SKIP_HINT = "Pass missing='skip' to give such rows NaN scores"


@dataclass(frozen=True)
class Example:
    """One few-shot example: its text and its labels joined as the model saw them in training."""

    text: str
    labels: str

    @property
    def body(self) -> str:
        return f"{self.text}{EXAMPLE_LABELS_INTRO}{self.labels}"


@dataclass(frozen=True)
class RowRequest:
    """Everything that goes into one text's input sequence."""

    text: str
    labels: tuple[str, ...]
    prompt: str = ""
    lead: str = ""  # rendered label descriptions, placed before the text and never shortened
    examples: tuple[Example, ...] = ()


@dataclass(frozen=True)
class Request:
    rows: list[RowRequest]
    shared_labels: tuple[str, ...] | None  # None when every text has its own labels
    structures: list[Any]  # per text, the labels as given (for nested output)
    missing: frozenset[int] = frozenset()  # rows whose text is missing (missing="skip"): NaN scores
    names: RowNames = field(default_factory=lambda: RowNames())


@dataclass(frozen=True)
class RowNames:
    """How errors and warnings name the caller's rows.

    By default ``texts[i]``, with ``i`` the position in the caller's input (``offset`` counts the rows
    of a stream that came before this chunk); ``X[i]`` when ``names`` is the string "X"; or the caller's
    own names (a DataFrame's index labels, file lines), given as a sequence and shown as ``str(name)``.
    """

    names: Sequence[Any] | None = None
    offset: int = 0
    where: str = "texts"

    def __post_init__(self) -> None:
        if isinstance(self.names, str):  # a name for the collection: rows are named names[i]
            object.__setattr__(self, "where", self.names)
            object.__setattr__(self, "names", None)

    def __call__(self, index: int) -> str:
        if self.names is not None:
            return str(self.names[self.offset + index])
        return f"{self.where}[{self.offset + index}]"

    def subset(self, indices: Sequence[int]) -> RowNames:
        """The names of some rows, numbered from 0 in the order given."""
        return RowNames([self(i) for i in indices])


def build_request(
    texts: str | Iterable[str],
    labels: Any,
    *,
    prompt: str | Sequence[str | None] | None = None,
    examples: Sequence[Any] | None = None,
    label_descriptions: Mapping[str, str] | None = None,
    missing: str = "raise",
    names: RowNames | None = None,
) -> Request:
    names = names or RowNames()
    text_list, skipped = normalize_texts(texts, missing=missing, names=names)
    n = len(text_list)
    shared, per_text, structures = normalize_labels(labels, n)
    prompts = normalize_prompt(prompt, n)
    example_lists = normalize_examples(examples, n)
    descriptions = normalize_descriptions(label_descriptions, shared if shared is not None else per_text)
    shared_lead = render_descriptions(shared, descriptions) if shared is not None else None
    rows = []
    for index, text in enumerate(text_list):
        row_labels = shared if shared is not None else per_text[index]
        rows.append(
            RowRequest(
                text=text,
                labels=row_labels,
                prompt=prompts[index],
                lead=shared_lead if shared is not None else render_descriptions(row_labels, descriptions),
                examples=example_lists[index],
            )
        )
    return Request(rows=rows, shared_labels=shared, structures=structures, missing=skipped, names=names)


def normalize_texts(
    texts: str | Iterable[str], *, missing: str = "raise", names: RowNames | None = None
) -> tuple[list[str], frozenset[int]]:
    """The texts as a list of strings (a single string is a list of one), and the rows skipped as missing.

    A skipped row holds "" in the list; it is never scored.
    """
    names = names or RowNames()
    where = names.where
    if isinstance(texts, str):
        return [texts], frozenset()
    if texts is None:
        raise TypeError(f"{where} must be a string or a sequence of strings, got None.")
    if getattr(texts, "ndim", 1) != 1:
        raise ValueError(f"{where} must be one-dimensional, got an array of shape {getattr(texts, 'shape', '?')}.")
    values = getattr(texts, "values", texts) if hasattr(texts, "index") else texts  # a pandas Series
    if isinstance(values, Mapping) or not isinstance(values, Iterable):
        raise TypeError(f"{where} must be a string or a sequence of strings, got {type(texts).__name__}.")
    return check_texts(list(values), missing=missing, names=names)


def check_texts(
    values: list[Any], *, missing: str = "raise", names: RowNames | None = None, hint: str = ""
) -> tuple[list[str], frozenset[int]]:
    """Every value a string, or missing (None, NaN, pandas NA) and skipped when ``missing="skip"``.

    Anything else is an error naming its row. Missing texts are an error by default, naming the first
    one and counting the others; ``hint`` says how the caller's API lets them through.
    """
    names = names or RowNames()
    check_missing(missing)
    absent = []
    for index, value in enumerate(values):
        if isinstance(value, str):
            continue
        if is_missing(value):
            absent.append(index)
        else:
            raise TypeError(f"{names(index)} is {type(value).__name__} ({value!r}); expected str.")
    if absent and missing == "raise":
        others = f" (and {len(absent) - 1} more rows)" if len(absent) > 1 else ""
        raise ValueError(
            f"{names(absent[0])} is missing ({values[absent[0]]!r}){others}. "
            f"{hint or SKIP_HINT}, or fill or drop them first."
        )
    for index in absent:
        values[index] = ""
    return values, frozenset(absent)


def text_values(X: Any, where: str = "X") -> list[Any]:
    """The items of a 1-D collection of texts: list, ndarray of shape (n,) or (n, 1), Series or one-column
    DataFrame, unchecked (see ``check_texts``). A bare string is refused: it is one text, not a
    collection of texts.
    """
    if X is None or isinstance(X, (str, bytes)):
        what = "None" if X is None else f"a single {type(X).__name__}"
        raise TypeError(f"{where} must be a collection of texts (list, array, Series or one-column DataFrame), "
                        f"got {what}; wrap a single text in a list.")
    if hasattr(X, "columns") and hasattr(X, "iloc"):  # a pandas DataFrame
        if X.shape[1] != 1:
            raise ValueError(
                f"{where} is a DataFrame with {X.shape[1]} columns; give the text column only, e.g. df['text']."
            )
        X = X.iloc[:, 0]
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) == 2 and shape[1] == 1:
        X = X[:, 0]
    elif shape is not None and len(shape) != 1:
        raise ValueError(f"{where} must be one-dimensional (or one column), got an array of shape {shape}.")
    return list(X.to_numpy() if hasattr(X, "to_numpy") else X)


def text_column(X: Any, where: str = "X", *, missing: str = "raise") -> tuple[list[str], frozenset[int]]:
    """The texts of a 1-D collection (see ``text_values``), checked by ``check_texts``: any item
    that is neither a string nor missing is refused with its row named, and missing ones follow
    ``missing``. Nothing is converted or dropped silently.
    """
    return check_texts(text_values(X, where), missing=missing, names=RowNames(where=where))


def normalize_labels(labels: Any, n_texts: int):
    """``(shared, per_text, structures)``: shared labels or one label tuple per text."""
    if isinstance(labels, Mapping):
        return flatten_labels(labels), None, [labels] * n_texts
    if isinstance(labels, str):
        raise TypeError(f"labels must be a list of labels, got the string {labels!r}; wrap it in a list: [{labels!r}].")
    if labels is None or not isinstance(labels, Iterable):
        raise TypeError(
            "labels must be a list of strings, a dict of label groups, or one of those per text; "
            f"got {type(labels).__name__}: {labels!r}."
        )
    if isinstance(labels, (set, frozenset)) or getattr(labels, "ndim", 1) != 1:
        flatten_labels(labels)  # explains what is wrong
    items = list(labels)
    if not items or any(isinstance(item, str) for item in items):
        flat = flatten_labels(items)  # names the first item that is not a string
        return flat, None, [list(flat)] * n_texts
    if not all(isinstance(item, (Mapping, list, tuple)) for item in items):
        raise TypeError(
            "labels mixes strings with lists or dicts; give one flat list for all texts or one list (or dict) per text."
        )
    if len(items) != n_texts:
        raise ValueError(f"labels has {len(items)} per-text label lists for {n_texts} texts.")
    flat = [flatten_labels(item, where=f"labels[{index}]") for index, item in enumerate(items)]
    return None, flat, items


def normalize_prompt(prompt: str | Sequence[str | None] | None, n_texts: int) -> list[str]:
    if prompt is None:
        return [""] * n_texts
    if isinstance(prompt, str):
        return [prompt] * n_texts
    prompts = list(prompt)
    if len(prompts) != n_texts:
        raise ValueError(f"prompt has {len(prompts)} entries for {n_texts} texts; give one string or one per text.")
    for index, item in enumerate(prompts):
        if item is not None and not isinstance(item, str):
            raise TypeError(f"prompt[{index}] is {type(item).__name__}; expected str or None.")
    return [item or "" for item in prompts]


def normalize_examples(examples: Sequence[Any] | None, n_texts: int) -> list[tuple[Example, ...]]:
    """One tuple of examples per text: shared (a list of dicts) or per text (a list of lists or None)."""
    if examples is None:
        return [()] * n_texts
    if isinstance(examples, (str, Mapping)) or not isinstance(examples, Iterable):
        raise TypeError("examples must be a list of {'text', 'labels'} dicts, or one such list (or None) per text.")
    items = list(examples)
    if all(isinstance(item, Mapping) for item in items):
        shared = tuple(_example(item, f"examples[{index}]") for index, item in enumerate(items))
        return [shared] * n_texts
    if not all(item is None or isinstance(item, (list, tuple)) for item in items):
        raise TypeError("examples mixes dicts with lists; give one list of dicts, or one list (or None) per text.")
    if len(items) != n_texts:
        raise ValueError(f"examples has {len(items)} per-text lists for {n_texts} texts.")
    return [
        tuple(_example(example, f"examples[{row}][{index}]") for index, example in enumerate(item or ()))
        for row, item in enumerate(items)
    ]


def _example(item: Any, where: str) -> Example:
    if not isinstance(item, Mapping):
        raise TypeError(f"{where} must be a dict with 'text' and 'labels', got {type(item).__name__}.")
    text = item.get("text")
    if not isinstance(text, str):
        raise TypeError(f"{where}['text'] must be a string, got {type(text).__name__}.")
    if "labels" in item:
        labels = item["labels"]
    elif "true_labels" in item:
        labels = item["true_labels"]
    else:
        raise ValueError(f"{where} has no 'labels' (the labels that apply to the example text).")
    if isinstance(labels, str):
        return Example(text, labels)
    if not isinstance(labels, (list, tuple)) or not all(isinstance(label, str) for label in labels):
        raise TypeError(f"{where}['labels'] must be a list of strings or a string, got {labels!r}.")
    return Example(text, ", ".join(labels))


def normalize_descriptions(
    descriptions: Mapping[str, str] | None, labels: tuple[str, ...] | list[tuple[str, ...]]
) -> dict[str, str]:
    known = labels if isinstance(labels, tuple) else {label for row in labels for label in row}
    return check_descriptions(descriptions, known) or {}


def check_examples(examples: Any, where: str = "examples") -> list[dict[str, Any]] | None:
    """Few-shot examples shared by all texts, as plain dicts (None when there are none)."""
    if examples is None:
        return None
    if isinstance(examples, (str, Mapping)) or not isinstance(examples, Iterable):
        raise TypeError(f"{where} must be a list of {{'text': ..., 'labels': [...]}} dicts.")
    items = list(examples)
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise TypeError(f"{where}[{index}] must be a dict with 'text' and 'labels', got {type(item).__name__}.")
        _example(item, f"{where}[{index}]")
    return [dict(item) for item in items] or None


def render_descriptions(labels: tuple[str, ...], descriptions: Mapping[str, str]) -> str:
    """``"label: description"`` for each described label, in label order, space-joined, then one space.

    This is the text that GLiClass training inserts next to the text when it augments with
    descriptions; here it always goes before the text.
    """
    parts = [f"{label}: {descriptions[label]}" for label in labels if label in descriptions]
    return " ".join(parts) + " " if parts else ""
