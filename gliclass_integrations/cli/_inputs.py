"""Reading the command line's input: CSV, TSV, JSONL, Parquet or plain lines, from a file or stdin.

The columns (and so the text column and any clash with output columns) are known as soon as the input
is opened, before a model is loaded: a CSV's header, a JSONL file's first object, a Parquet schema.
Rows come out lazily as ``(line number, row)``.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, TextIO

INPUT_FORMATS = ("csv", "tsv", "jsonl", "parquet", "lines")
EXTENSIONS = {
    ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".txt": "lines",
}
DELIMITERS = {"csv": ",", "tsv": "\t"}
LINES_COLUMN = "text"

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # a CSV field of any size that fits in memory


class UsageError(ValueError):
    """A problem with the command line or the input, reported as one line without a traceback."""


@dataclass
class Input:
    """An opened input: its name for messages, its columns, and its rows as ``(line number, row)``."""

    name: str
    format: str
    columns: list[str]
    rows: Iterator[tuple[int, dict[str, Any]]]
    schema: Any = None  # the pyarrow schema of a Parquet input
    stream: TextIO | None = field(default=None, repr=False)

    def close(self) -> None:
        if self.stream is None or self.stream is sys.stdin:
            return
        if self.name == "stdin":
            self.stream.detach()  # a wrapper around sys.stdin's buffer: leave stdin open
        else:
            self.stream.close()


def format_of(name: str, given: str | None, *, known: tuple[str, ...], default: str, what: str) -> str:
    """The format given, else the one the file extension names; an unknown extension is an error."""
    if given is not None:
        return given
    if name == "-":
        return default
    suffix = Path(name).suffix.lower()
    found = EXTENSIONS.get(suffix)
    if found not in known:
        shown = suffix or "no extension"
        raise UsageError(
            f"{name}: cannot tell the {what} format from {shown!r}; name the file .{', .'.join(_extensions(known))}, "
            f"or pass --{what}-format."
        )
    return found


def open_input(source: str, input_format: str | None, text_column: str) -> Input:
    """Open ``source`` ("-" for stdin) and read what names its columns; the text column must be among them."""
    if source == "-":
        # UTF-8 and no newline translation, as for files (CSV fields may hold line breaks)
        has_buffer = hasattr(sys.stdin, "buffer")
        stream: TextIO = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline="") if has_buffer else sys.stdin
        lines: Iterable[str] = stream
        if input_format is None:
            input_format, lines = _detect(stream, text_column)
        return _open_text("stdin", input_format, lines, stream, text_column)
    path = Path(source)
    if not path.is_file():
        raise UsageError(f"{source}: no such file.")
    input_format = format_of(source, input_format, known=INPUT_FORMATS, default="lines", what="input")
    if input_format == "parquet":
        return _open_parquet(source, text_column)
    stream = path.open(encoding="utf-8", newline="")
    try:
        return _open_text(source, input_format, stream, stream, text_column)
    except Exception:
        stream.close()
        raise


def _open_text(name: str, input_format: str, lines: Iterable[str], stream: TextIO, text_column: str) -> Input:
    if input_format in DELIMITERS:
        reader = csv.DictReader(lines, delimiter=DELIMITERS[input_format])
        try:
            columns = list(reader.fieldnames or [])
        except csv.Error as error:
            raise UsageError(f"{name}, line 1: not a valid {input_format.upper()} header ({error}).") from None
        if not columns:
            raise UsageError(f"{name}: empty input, not even a header row.")
        _require_column(name, columns, text_column)
        return Input(name, input_format, columns, _delimited_rows(reader, name), stream=stream)
    if input_format == "jsonl":
        rows = _jsonl_rows(lines, name)
        first = next(rows, None)
        columns = list(first[1]) if first is not None else [text_column]
        if first is not None:
            _require_column(f"{name}, line {first[0]}", columns, text_column)
        return Input(name, input_format, columns, chain([first] if first else [], rows), stream=stream)
    if text_column != LINES_COLUMN:
        raise UsageError(f"{name}: plain lines have one column, {LINES_COLUMN!r}; --text-column {text_column!r} "
                         "needs a CSV, TSV, JSONL or Parquet input.")
    return Input(name, "lines", [LINES_COLUMN], _text_rows(lines), stream=stream)


def _open_parquet(source: str, text_column: str) -> Input:
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise UsageError('reading Parquet needs pyarrow: pip install "gliclass-integrations[parquet]"') from None
    file = parquet.ParquetFile(source)
    columns = list(file.schema_arrow.names)
    _require_column(source, columns, text_column)
    return Input(source, "parquet", columns, _parquet_rows(file), schema=file.schema_arrow)


def _require_column(where: str, columns: list[str], text_column: str) -> None:
    if text_column not in columns:
        shown = ", ".join(map(str, columns)) or "none"
        raise UsageError(f"{where}: no column {text_column!r} (columns: {shown}); choose one with --text-column.")


def _detect(stream: TextIO, text_column: str) -> tuple[str, Iterable[str]]:
    """The format of stdin from its first line: a JSON object, a CSV/TSV header naming the text column, or
    plain lines. The first line is put back in front of the rest."""
    first = stream.readline()
    lines = chain([first], stream) if first else iter(())
    stripped = first.strip()
    if stripped.startswith("{"):
        return "jsonl", lines
    for input_format, delimiter in (("tsv", "\t"), ("csv", ",")):
        fields = next(csv.reader([stripped], delimiter=delimiter), [])
        if text_column in fields:
            return input_format, lines
    return "lines", lines


def _delimited_rows(reader: csv.DictReader, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise UsageError(f"{name}, line {reader.line_num}: {error}.") from None
        if None in row:
            raise UsageError(f"{name}, line {reader.line_num}: more fields than the header has.")
        yield reader.line_num, row  # a short row holds None in its last columns: a missing value


def _jsonl_rows(lines: Iterable[str], name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise UsageError(f"{name}, line {number}: not valid JSON ({error}).") from None
        if not isinstance(row, dict):
            raise UsageError(f"{name}, line {number}: expected a JSON object, got {type(row).__name__}.")
        yield number, row


def _text_rows(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """One text per line; blank lines at the end are not texts (blank lines between texts are)."""
    blank: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        text = line.rstrip("\r\n")
        if not text.strip():
            blank.append((number, text))
            continue
        for held, held_text in blank:
            yield held, {LINES_COLUMN: held_text}
        blank = []
        yield number, {LINES_COLUMN: text}


def _parquet_rows(file) -> Iterator[tuple[int, dict[str, Any]]]:
    number = 0
    for batch in file.iter_batches():
        for row in batch.to_pylist():
            number += 1
            yield number, row


def _extensions(formats: tuple[str, ...]) -> list[str]:
    return [suffix.lstrip(".") for suffix, name in EXTENSIONS.items() if name in formats]
