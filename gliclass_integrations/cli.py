"""``gliclass-integrations classify``: score every row of a CSV, JSONL or Parquet file (or stdin lines).

Each output row holds the input row's columns, then ``predicted`` (the labels at or above the
threshold, or the best label with ``--single-label``), then one column per label with its score.
Rows are read and written in chunks, so memory does not grow with the file.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

from .core import (
    DEFAULT_MAX_LENGTH,
    DEFAULT_MODEL,
    DTYPE_NAMES,
    check_device,
    check_dtype,
    check_positive_int,
    check_threshold,
    flatten_labels,
    predictions,
)

INPUT_FORMATS = ("csv", "jsonl", "parquet", "lines")
OUTPUT_FORMATS = ("csv", "jsonl")
EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".txt": "lines"}
PREDICTED = "predicted"
CSV_LABEL_JOINER = "|"


class UsageError(ValueError):
    """A problem with the command line or the input file, reported without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gliclass-integrations", description="GLiClass zero-shot text classification."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    classify = commands.add_parser(
        "classify",
        help="score each row of a file against labels",
        description="Score each input row against the labels; writes one row per input row.",
    )
    classify.add_argument("input", nargs="?", default="-", help="CSV, JSONL, Parquet or text file; '-' = stdin")
    labels = classify.add_mutually_exclusive_group(required=True)
    labels.add_argument("--labels", help="comma-separated labels, e.g. 'positive,negative,neutral'")
    labels.add_argument("--labels-file", type=Path, help="one label per line, or a JSON list or dict of groups")
    classify.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"hub id or local directory (default: {DEFAULT_MODEL})"
    )
    classify.add_argument("--revision", help="branch, tag or commit of a hub model")
    classify.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    classify.add_argument("--dtype", default="auto", help=f"{', '.join(DTYPE_NAMES)} (default: auto)")
    classify.add_argument("--threshold", type=float, default=0.5, help="multi-label cut-off (default: 0.5)")
    classify.add_argument("--single-label", action="store_true", help="exactly one label per row (softmax)")
    classify.add_argument("--prompt", help="task description given to the model with every text")
    classify.add_argument("--examples", type=Path, help='JSONL of few-shot examples {"text": ..., "labels": [...]}')
    classify.add_argument("--text-column", default="text", help="column holding the text (default: text)")
    classify.add_argument("--input-format", choices=INPUT_FORMATS, help="default: from the extension; stdin: lines")
    classify.add_argument("--output", "-o", default="-", help="output file; '-' = stdout (default)")
    classify.add_argument(
        "--output-format", choices=OUTPUT_FORMATS, help="default: from --output's extension, else csv"
    )
    classify.add_argument(
        "--batch-size", type=int, help="most texts per forward pass (default: as many as the token budget allows)"
    )
    classify.add_argument(
        "--max-length", type=int, default=DEFAULT_MAX_LENGTH,
        help=f"most tokens per input (default: {DEFAULT_MAX_LENGTH})",
    )
    classify.add_argument("--chunk-size", type=int, default=2048, help="rows read and written at a time")
    progress = classify.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None, help="show progress")
    progress.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    from .errors import CheckpointError

    try:
        return run_classify(arguments)
    except (UsageError, CheckpointError, ValueError, TypeError, OSError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1


def run_classify(arguments: argparse.Namespace) -> int:
    labels = read_labels(arguments)
    flat_labels = list(flatten_labels(labels))
    check_settings(arguments)
    examples = read_examples(arguments.examples) if arguments.examples else None
    input_format = arguments.input_format or _format_from_name(arguments.input, default="lines", known=INPUT_FORMATS)
    output_format = arguments.output_format or _format_from_name(arguments.output, default="csv", known=OUTPUT_FORMATS)

    from .core import GLiClass

    model = GLiClass.from_pretrained(
        arguments.model, revision=arguments.revision, device=arguments.device, dtype=arguments.dtype,
        max_length=arguments.max_length, batch_size=arguments.batch_size,
    )
    rows = read_rows(arguments.input, input_format, arguments.text_column)
    show_progress = sys.stderr.isatty() if arguments.progress is None else arguments.progress
    with _open_output(arguments.output) as stream:
        writer = None
        progress = _progress_bar() if show_progress else None
        try:
            for chunk in _chunks(rows, arguments.chunk_size):
                texts = [row[arguments.text_column] for _, row in chunk]
                scores = model.predict_proba(
                    texts, labels, multi_label=not arguments.single_label, prompt=arguments.prompt,
                    examples=examples,
                )
                if writer is None:
                    writer = RowWriter(stream, output_format, list(chunk[0][1]), flat_labels)
                for (_, row), row_scores in zip(chunk, scores):
                    writer.write(row, _predicted(flat_labels, row_scores, arguments), row_scores)
                if progress is not None:
                    progress.update(len(chunk))
        finally:
            if progress is not None:
                progress.close()
    return 0


def check_settings(arguments: argparse.Namespace) -> None:
    """The options shared with the other entry points, by the core's rules, before anything is loaded."""
    check_threshold(arguments.threshold, "--threshold")
    check_dtype(arguments.dtype, "--dtype")
    check_device(arguments.device, "--device")
    check_positive_int(arguments.batch_size, "--batch-size", optional=True)
    check_positive_int(arguments.max_length, "--max-length")
    check_positive_int(arguments.chunk_size, "--chunk-size")


def _predicted(labels: list[str], scores, arguments) -> list[str]:
    found = predictions(labels, scores, threshold=arguments.threshold, multi_label=not arguments.single_label)
    return [item["label"] for item in found]


# -- input ------------------------------------------------------------------------------------------


def read_labels(arguments: argparse.Namespace) -> list[str] | dict[str, Any]:
    if arguments.labels is not None:
        labels = [label.strip() for label in arguments.labels.split(",")]
        if not all(labels):
            raise UsageError(f"--labels has an empty label: {arguments.labels!r}.")
        return labels
    path: Path = arguments.labels_file
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            labels = json.loads(text)
        except json.JSONDecodeError as error:
            raise UsageError(f"{path}: not valid JSON ({error}).") from None
        if not isinstance(labels, (list, dict)):
            raise UsageError(f"{path}: expected a JSON list of labels or a dict of label groups.")
        return labels
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    if not labels:
        raise UsageError(f"{path}: no labels found.")
    return labels


def read_examples(path: Path) -> list[dict[str, Any]]:
    examples = []
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                examples.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise UsageError(f"{path}, line {number}: not valid JSON ({error}).") from None
    return examples


def read_rows(source: str, input_format: str, text_column: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, row)`` pairs; each row's text column is checked to be a string."""
    name = "stdin" if source == "-" else source
    if input_format == "parquet":
        if source == "-":
            raise UsageError("Parquet input must be a file, not stdin.")
        yield from _checked(_parquet_rows(source), name, text_column)
        return
    reader = {"csv": _csv_rows, "jsonl": _jsonl_rows, "lines": _text_rows}[input_format]
    if source == "-":
        yield from _checked(reader(sys.stdin, name), name, text_column)
        return
    with open(source, encoding="utf-8", newline="") as stream:
        yield from _checked(reader(stream, name), name, text_column)


def _checked(rows, name: str, text_column: str):
    for number, row in rows:
        if text_column not in row:
            columns = ", ".join(map(str, row)) or "none"
            raise UsageError(f"{name}: no column {text_column!r} (columns: {columns}); choose one with --text-column.")
        value = row[text_column]
        if not isinstance(value, str):
            raise UsageError(
                f"{name}, line {number}: {text_column!r} is {type(value).__name__} ({value!r}), expected text."
            )
        yield number, row


def _csv_rows(stream: TextIO, name: str):
    reader = csv.DictReader(stream)
    for row in reader:
        if None in row:
            raise UsageError(f"{name}, line {reader.line_num}: more fields than the header has.")
        yield reader.line_num, row


def _jsonl_rows(stream: TextIO, name: str):
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise UsageError(f"{name}, line {number}: not valid JSON ({error}).") from None
        if not isinstance(row, dict):
            raise UsageError(f"{name}, line {number}: expected a JSON object, got {type(row).__name__}.")
        yield number, row


def _text_rows(stream: TextIO, name: str):
    for number, line in enumerate(stream, start=1):
        yield number, {"text": line.rstrip("\r\n")}


def _parquet_rows(path: str):
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise UsageError('reading Parquet needs pyarrow: pip install "gliclass-integrations[parquet]"') from None
    number = 0
    for batch in parquet.ParquetFile(path).iter_batches():
        for row in batch.to_pylist():
            number += 1
            yield number, row


def _format_from_name(name: str, *, default: str, known: tuple[str, ...]) -> str:
    if name == "-":
        return default
    found = EXTENSIONS.get(Path(name).suffix.lower())
    return found if found in known else default


def _chunks(rows, size: int):
    while chunk := list(islice(rows, size)):
        yield chunk


# -- output -----------------------------------------------------------------------------------------


class RowWriter:
    """Writes input columns, ``predicted`` and one score column per label, as CSV or JSONL."""

    def __init__(self, stream: TextIO, output_format: str, columns: list[str], labels: list[str]) -> None:
        clashes = sorted(set(columns) & ({PREDICTED} | set(labels)))
        if clashes:
            raise UsageError(
                f"input column(s) {', '.join(map(repr, clashes))} would be overwritten by the output's "
                f"{PREDICTED!r} and label score columns; rename them first."
            )
        if output_format == "csv" and any(CSV_LABEL_JOINER in label for label in labels):
            raise UsageError(f"a label contains {CSV_LABEL_JOINER!r}, which joins predicted labels in CSV; use JSONL.")
        self.stream, self.format, self.labels = stream, output_format, labels
        self.columns = columns
        if output_format == "csv":
            self.csv = csv.writer(stream)
            self.csv.writerow([*columns, PREDICTED, *labels])

    def write(self, row: dict[str, Any], predicted: list[str], scores) -> None:
        values = [round(float(score), 7) for score in scores]
        if self.format == "csv":
            cells = [row.get(column, "") for column in self.columns]
            self.csv.writerow([*cells, CSV_LABEL_JOINER.join(predicted), *values])
        else:
            record = {**row, PREDICTED: predicted, **dict(zip(self.labels, values))}
            self.stream.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")


@contextmanager
def _open_output(target: str) -> Iterator[TextIO]:
    if target != "-":
        with open(target, "w", encoding="utf-8", newline="") as stream:
            yield stream
        return
    stream = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="", write_through=True)
    try:
        yield stream
    finally:
        stream.flush()
        stream.detach()  # leave sys.stdout open


def _progress_bar():
    from tqdm.auto import tqdm

    return tqdm(unit="row", desc="classify", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
