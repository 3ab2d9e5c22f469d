"""Writing the command line's output so that no run loses or fakes data.

Rows go to ``<output>.partial`` and the file is renamed to ``<output>`` only when every row is written,
so a failed or interrupted run never touches an existing output, and never leaves a file that looks
finished. ``--resume`` reopens the partial file, keeps its complete rows (a row cut short by a kill is
dropped) and appends the rest. CSV, TSV and JSONL are written as they go; Parquet is staged as an Arrow
stream (one record batch per chunk of rows) and converted when the run completes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ._inputs import DELIMITERS, UsageError

OUTPUT_FORMATS = ("csv", "tsv", "jsonl", "parquet")
PREDICTED = "predicted"
CSV_LABEL_JOINER = "|"
PARTIAL_SUFFIX = ".partial"


def check_columns(columns: Sequence[str], labels: Sequence[str], output_format: str) -> None:
    """The output's own columns must not overwrite input columns; CSV joins predicted labels with "|"."""
    clashes = sorted(set(columns) & ({PREDICTED} | set(labels)))
    if clashes:
        raise UsageError(
            f"input column(s) {', '.join(map(repr, clashes))} would be overwritten by the output's "
            f"{PREDICTED!r} and label score columns; rename them first."
        )
    if output_format in DELIMITERS and any(CSV_LABEL_JOINER in label for label in labels):
        raise UsageError(f"a label contains {CSV_LABEL_JOINER!r}, which joins predicted labels in CSV; use JSONL.")


def partial_path(target: str) -> Path:
    return Path(target + PARTIAL_SUFFIX)


class Writer:
    """Rows out, in input order: the input columns, ``predicted``, then one score column per label."""

    def __init__(self, target: str, columns: list[str], labels: list[str]) -> None:
        self.target = target
        self.columns = columns
        self.labels = labels
        self.kept: list[dict[str, Any]] = []  # rows an earlier run wrote, as read back (with --resume)

    @property
    def header(self) -> list[str]:
        return [*self.columns, PREDICTED, *self.labels]

    def write(self, rows: Sequence[dict[str, Any]], predicted: Sequence[list[str] | None],
              scores: Sequence[Sequence[float] | None]) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        """Every row is written: the output takes its final name."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop writing; what is written stays in the partial file (for --resume)."""
        raise NotImplementedError


def open_writer(target: str, output_format: str, columns: list[str], labels: list[str], *, schema: Any,
                resume: bool) -> Writer:
    if target == "-":
        if resume:
            raise UsageError("--resume needs an --output file: rows written to stdout cannot be read back.")
        if output_format == "parquet":
            raise UsageError("Parquet output must go to a file (--output scores.parquet).")
        return TextWriter(target, columns, labels, output_format, resume=False)
    directory = Path(target).resolve().parent
    if not directory.is_dir():
        raise UsageError(f"{target}: the folder {directory} does not exist.")
    if resume and not partial_path(target).exists():
        if Path(target).exists():
            raise UsageError(f"{target} is complete (no {partial_path(target).name} to resume); nothing to do.")
        raise UsageError(f"--resume: no earlier run to continue ({partial_path(target).name} does not exist).")
    if output_format == "parquet":
        return ParquetWriter(target, columns, labels, schema=schema, resume=resume)
    return TextWriter(target, columns, labels, output_format, resume=resume)


class TextWriter(Writer):
    """CSV, TSV or JSONL, written row by row (to stdout, or to the partial file)."""

    def __init__(self, target: str, columns: list[str], labels: list[str], output_format: str, *,
                 resume: bool) -> None:
        super().__init__(target, columns, labels)
        self.format = output_format
        self.stream: TextIO
        if target == "-":
            self.stream = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="", write_through=True) \
                if hasattr(sys.stdout, "buffer") else sys.stdout
            self._write_header()
            return
        partial = partial_path(target)
        if resume:
            kept_text = self._recover(partial)
            self.stream = partial.open("w", encoding="utf-8", newline="")
            self.stream.write(kept_text)
        else:
            self.stream = partial.open("w", encoding="utf-8", newline="")
            self._write_header()
        self.stream.flush()

    def _write_header(self) -> None:
        if self.format in DELIMITERS:
            self.stream.write(self._csv_line(self.header))

    def _csv_line(self, cells: Sequence[Any]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=DELIMITERS[self.format]).writerow(cells)
        return buffer.getvalue()

    def write(self, rows, predicted, scores) -> None:
        lines = []
        for row, labels, row_scores in zip(rows, predicted, scores):
            values = _rounded(row_scores, len(self.labels))
            if self.format in DELIMITERS:
                cells = ["" if row.get(column) is None else row.get(column) for column in self.columns]
                joined = "" if labels is None else CSV_LABEL_JOINER.join(labels)
                lines.append(self._csv_line([*cells, joined, *("" if v is None else v for v in values)]))
            else:
                record = {**row, PREDICTED: labels, **dict(zip(self.labels, values))}
                lines.append(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self.stream.write("".join(lines))
        self.stream.flush()

    def commit(self) -> None:
        if self.target == "-":
            self.stream.flush()
            if self.stream is not sys.stdout:
                self.stream.detach()  # leave sys.stdout open
            return
        self.stream.close()
        os.replace(partial_path(self.target), self.target)

    def close(self) -> None:
        if self.target == "-":
            self.stream.flush()
            if self.stream is not sys.stdout:
                self.stream.detach()
        elif not self.stream.closed:
            self.stream.close()

    def _recover(self, partial: Path) -> str:
        """The complete rows of an earlier run's partial file, as text to write back (``self.kept`` gets them)."""
        # Bytes decoded as they are (no newline translation); a character cut by a kill stays undecodable and
        # falls in the row that is dropped.
        text = partial.read_bytes().decode("utf-8", errors="surrogateescape")
        if self.format in DELIMITERS:
            return self._recover_delimited(text, partial)
        kept_text, position = [], 0
        for line in text.splitlines(keepends=True):
            if not line.endswith("\n"):
                break  # cut short by a kill
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break
            if not isinstance(record, dict) or PREDICTED not in record or not set(self.labels) <= set(record):
                raise UsageError(f"{partial}: line {len(self.kept) + 1} is not a row of this run's output "
                                 "(other labels?); remove the file to start over.")
            self.kept.append(record)
            position += len(line)
        kept_text.append(text[:position])
        return "".join(kept_text)

    def _recover_delimited(self, text: str, partial: Path) -> str:
        records = []
        try:
            for record in csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[self.format]):
                records.append(record)
        except csv.Error:
            pass  # the last record was cut short
        header = self._csv_line(self.header)
        if not text.startswith(header):
            raise UsageError(f"{partial}: its header is not this run's ({', '.join(self.header)}); other labels or "
                             "columns? Remove the file to start over.")
        position = len(header)
        for record in records[1:]:
            line = self._csv_line(record)
            if len(record) != len(self.header) or text[position : position + len(line)] != line:
                break  # the first row not written whole
            self.kept.append(dict(zip(self.header, record)))
            position += len(line)
        return text[:position]


class ParquetWriter(Writer):
    """Parquet, staged as an Arrow IPC stream with one record batch per chunk of rows."""

    def __init__(self, target: str, columns: list[str], labels: list[str], *, schema: Any, resume: bool) -> None:
        super().__init__(target, columns, labels)
        try:
            import pyarrow
        except ImportError:
            raise UsageError('writing Parquet needs pyarrow: pip install "gliclass-integrations[parquet]"') from None
        self.pa = pyarrow
        self.schema = None if schema is None else self._output_schema(schema)
        self.partial = partial_path(target)
        self.sink = None
        kept_batches = self._recover() if resume else []
        if kept_batches or (resume and self.schema is not None):
            self._open(self.schema)
            for batch in kept_batches:
                self.sink.write_batch(batch)

    def _output_schema(self, input_schema) -> Any:
        pa = self.pa
        fields = [input_schema.field(name) for name in self.columns]
        fields.append(pa.field(PREDICTED, pa.list_(pa.string())))
        fields += [pa.field(label, pa.float64()) for label in self.labels]
        return pa.schema(fields)

    def _open(self, schema) -> None:
        self.schema = schema
        self.sink = self.pa.ipc.new_stream(str(self.partial), schema)

    def write(self, rows, predicted, scores) -> None:
        pa = self.pa
        records = [
            {
                **{column: row.get(column) for column in self.columns}, PREDICTED: labels,
                **dict(zip(self.labels, _rounded(row_scores, len(self.labels)))),
            }
            for row, labels, row_scores in zip(rows, predicted, scores)
        ]
        try:
            if self.schema is None:  # CSV or JSONL input: the first rows tell the input columns' types
                inferred = pa.Table.from_pylist(records).schema
                self._open(self._output_schema(inferred))
            table = pa.Table.from_pylist(records, schema=self.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise UsageError(f"these rows do not fit the Parquet columns of the first ones ({error}).") from None
        if self.sink is None:
            self._open(self.schema)
        for batch in table.to_batches():
            self.sink.write_batch(batch)

    def commit(self) -> None:
        import pyarrow.parquet as parquet

        if self.sink is None:  # no row at all: the input columns as text
            text_columns = self.pa.schema([(column, self.pa.string()) for column in self.columns])
            self._open(self.schema or self._output_schema(text_columns))
        self.sink.close()
        with self.pa.ipc.open_stream(str(self.partial)) as reader:
            table = reader.read_all()
        staged = Path(self.target + ".writing")
        parquet.write_table(table, staged)
        os.replace(staged, self.target)
        self.partial.unlink()

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()
            self.sink = None

    def _recover(self) -> list:
        """The complete record batches of an earlier run (a batch cut short by a kill is dropped)."""
        pa = self.pa
        batches = []
        data = pa.py_buffer(self.partial.read_bytes())  # in memory: the file is rewritten from these batches
        try:
            with pa.ipc.open_stream(data) as reader:
                schema = reader.schema
                while True:
                    try:
                        batches.append(reader.read_next_batch())
                    except StopIteration:
                        break
                    except (pa.ArrowInvalid, OSError):
                        break
        except (pa.ArrowInvalid, OSError):
            return []  # not even a whole schema: nothing was written
        expected = [*self.columns, PREDICTED, *self.labels]
        if schema.names != expected:
            raise UsageError(f"{self.partial}: its columns are not this run's ({', '.join(expected)}); other labels? "
                             "Remove the file to start over.")
        self.schema = schema
        for batch in batches:
            self.kept.extend(batch.to_pylist())
        return batches


def _rounded(scores: Sequence[float] | None, n_labels: int) -> list[float | None]:
    """Scores to 7 decimals; a skipped (missing) text has no scores."""
    if scores is None:
        return [None] * n_labels
    return [round(float(score), 7) for score in scores]
