"""``gliclass-integrations classify``: score every row of a CSV, TSV, JSONL or Parquet file (or stdin lines).

Each output row holds the input row's columns, then ``predicted`` (the labels at or above the
threshold, or the best label with ``--single-label``), then one column per label with its score.
Everything that can be checked is checked before the model loads; rows are read and written in
chunks, so memory does not grow with the file; the output takes its name only once it is complete,
and ``--resume`` continues an interrupted run (see docs/cli.md and docs/robustness.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from .. import __version__
from ..core import (
    CHUNK_AGGREGATIONS,
    DEFAULT_MAX_LENGTH,
    DEFAULT_MODEL,
    DTYPE_NAMES,
    LONG_TEXT_POLICIES,
    MISSING_POLICIES,
    RowNames,
    check_device,
    check_dtype,
    check_positive_int,
    check_texts,
    check_threshold,
    cpu_capabilities,
    flatten_labels,
    predictions,
)
from ._inputs import INPUT_FORMATS, Input, UsageError, format_of, open_input
from ._outputs import OUTPUT_FORMATS, Writer, check_columns, open_writer, partial_path

__all__ = ["UsageError", "build_parser", "main"]

INTERRUPTED = 130  # the shell's code for a run stopped by Ctrl-C


def build_parser() -> argparse.ArgumentParser:
    """The ``gliclass-integrations`` argument parser: the ``classify`` command with its options, and ``--version``."""
    parser = argparse.ArgumentParser(
        prog="gliclass-integrations", description="GLiClass zero-shot text classification."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    classify = commands.add_parser(
        "classify",
        help="score each row of a file against labels",
        description="Score each input row against the labels; writes one row per input row.",
    )
    classify.add_argument("input", nargs="?", default="-", help="CSV, TSV, JSONL, Parquet or text file; '-' = stdin")
    labels = classify.add_mutually_exclusive_group(required=True)
    labels.add_argument("--labels", help="comma-separated labels, e.g. 'positive,negative,neutral'")
    labels.add_argument("--labels-file", type=Path, help="one label per line, or a JSON list or dict of groups")
    classify.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"hub id or local directory (default: {DEFAULT_MODEL})"
    )
    classify.add_argument("--revision", help="branch, tag or commit of a hub model")
    classify.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    classify.add_argument(
        "--dtype", default="auto",
        help=f"{', '.join(DTYPE_NAMES)} (default: auto, float32 on the CPU and bfloat16 on CUDA; bfloat16 is "
        "faster on CPUs with AVX-512 BF16 or AMX)",
    )
    classify.add_argument("--threshold", type=float, default=0.5, help="multi-label cut-off (default: 0.5)")
    classify.add_argument("--single-label", action="store_true", help="exactly one label per row (softmax)")
    classify.add_argument("--prompt", help="task description given to the model with every text")
    classify.add_argument("--examples", type=Path, help='JSONL of few-shot examples {"text": ..., "labels": [...]}')
    classify.add_argument("--text-column", default="text", help="column holding the text (default: text)")
    classify.add_argument(
        "--input-format", choices=INPUT_FORMATS, help="default: from the extension; stdin: detected from line 1"
    )
    classify.add_argument("--output", "-o", default="-", help="output file; '-' = stdout (default)")
    classify.add_argument(
        "--output-format", choices=OUTPUT_FORMATS, help="default: from --output's extension (stdout: csv)"
    )
    classify.add_argument(
        "--missing", choices=MISSING_POLICIES, default="raise",
        help="a row without its text: stop with an error (raise, the default) or write it with empty scores (skip)",
    )
    classify.add_argument(
        "--long-texts", choices=LONG_TEXT_POLICIES, default="truncate",
        help="a text too long for --max-length: shorten it (truncate, the default) or score it in windows (chunk)",
    )
    classify.add_argument(
        "--chunk-aggregation", choices=CHUNK_AGGREGATIONS, default="max",
        help="how a chunked text's windows make one score per label (default: max)",
    )
    classify.add_argument("--resume", action="store_true", help="continue an interrupted run into the same --output")
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
    """Run the command line, as the ``gliclass-integrations`` command does.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name; default: ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 when every row was written, 1 after an error (its message goes to stderr),
        130 when interrupted with Ctrl-C (rows written so far are kept for ``--resume``). ``--help``,
        ``--version`` and arguments argparse refuses exit through ``SystemExit`` instead.
    """
    parser = build_parser()
    arguments = parser.parse_args(argv)
    from ..errors import CheckpointError

    try:
        return run_classify(arguments)
    except (UsageError, CheckpointError, ValueError, TypeError, OSError, UnicodeDecodeError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1


def run_classify(arguments: argparse.Namespace) -> int:
    started = time.perf_counter()
    labels = read_labels(arguments)
    flat_labels = list(flatten_labels(labels))
    check_settings(arguments)
    examples = read_examples(arguments.examples) if arguments.examples else None
    output_format = format_of(arguments.output, arguments.output_format, known=OUTPUT_FORMATS, default="csv",
                              what="output")
    source = open_input(arguments.input, arguments.input_format, arguments.text_column)
    try:
        check_columns(source.columns, flat_labels, output_format)
        writer = open_writer(arguments.output, output_format, source.columns, flat_labels, schema=source.schema,
                             resume=arguments.resume)
        run = Run(arguments, source, writer, labels, flat_labels, examples)
        try:
            run.skip_kept_rows()
            run.load_model()
            run.score_rows()
        except KeyboardInterrupt:
            writer.close()
            print(run.interrupted_message(), file=sys.stderr)
            return INTERRUPTED
        except BaseException:
            writer.close()  # what was written stays in the partial file; the output is untouched
            raise
        writer.commit()
    finally:
        source.close()
    print(run.summary(time.perf_counter() - started), file=sys.stderr)
    return 0


def check_settings(arguments: argparse.Namespace) -> None:
    """The options shared with the other entry points, by the core's rules, before anything is loaded."""
    check_threshold(arguments.threshold, "--threshold")
    check_dtype(arguments.dtype, "--dtype")
    check_device(arguments.device, "--device")
    check_positive_int(arguments.batch_size, "--batch-size", optional=True)
    check_positive_int(arguments.max_length, "--max-length")
    check_positive_int(arguments.chunk_size, "--chunk-size")


class Run:
    """One classify run: the rows kept from an earlier run, then the rest scored chunk by chunk."""

    def __init__(self, arguments, source: Input, writer: Writer, labels, flat_labels: list[str], examples) -> None:
        self.arguments = arguments
        self.source = source
        self.writer = writer
        self.labels = labels
        self.flat_labels = flat_labels
        self.examples = examples
        self.model = None
        self.kept = len(writer.kept)
        self.scored = self.skipped = self.shortened = 0
        self.first_shortened: str | None = None

    def skip_kept_rows(self) -> None:
        """Check that the rows an earlier run wrote are the input's first rows, text for text."""
        column = self.arguments.text_column
        partial = partial_path(self.arguments.output).name
        seen = 0
        for number, row in islice(self.source.rows, self.kept):
            if _as_written(row.get(column), self.writer) != self.writer.kept[seen].get(column):
                raise UsageError(
                    f"{self.source.name}, line {number}: its text differs from row {seen + 1} of {partial}; the "
                    "input changed since the interrupted run. Remove the partial file to start over."
                )
            seen += 1
        if seen < self.kept:
            raise UsageError(
                f"{partial} holds {self.kept} rows but {self.source.name} has only {seen}; the input changed since "
                "the interrupted run. Remove the partial file to start over."
            )

    def load_model(self) -> None:
        from ..core import GLiClass

        self.model = GLiClass.from_pretrained(
            self.arguments.model, revision=self.arguments.revision, device=self.arguments.device,
            dtype=self.arguments.dtype, max_length=self.arguments.max_length, batch_size=self.arguments.batch_size,
        )

    def score_rows(self) -> None:
        arguments = self.arguments
        show_progress = sys.stderr.isatty() if arguments.progress is None else arguments.progress
        progress = _progress_bar(self.kept) if show_progress else None
        try:
            for chunk in _chunks(self.source.rows, arguments.chunk_size):
                self._score_chunk(chunk)
                if progress is not None:
                    progress.update(len(chunk))
        finally:
            if progress is not None:
                progress.close()

    def _score_chunk(self, chunk: list[tuple[int, dict[str, Any]]]) -> None:
        arguments = self.arguments
        names = [f"{self.source.name}, line {number}, {arguments.text_column!r}" for number, _ in chunk]
        values = [row.get(arguments.text_column) for _, row in chunk]
        _, skipped = check_texts(list(values), missing=arguments.missing, names=RowNames(names),
                                 hint="Pass --missing skip to write such rows with empty scores")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scores = self.model.predict_proba(
                values, self.labels, multi_label=not arguments.single_label, prompt=arguments.prompt,
                examples=self.examples, missing="skip", long_texts=arguments.long_texts,
                chunk_aggregation=arguments.chunk_aggregation, row_names=names,
            )
        self._note_warnings(caught)
        predicted = [
            None if i in skipped else _predicted(self.flat_labels, row_scores, arguments)
            for i, row_scores in enumerate(scores)
        ]
        kept_scores = [None if i in skipped else row_scores for i, row_scores in enumerate(scores)]
        self.writer.write([row for _, row in chunk], predicted, kept_scores)
        self.scored += len(chunk) - len(skipped)
        self.skipped += len(skipped)

    def _note_warnings(self, caught) -> None:
        from ..errors import TextsShortenedWarning

        for warning in caught:
            if isinstance(warning.message, TextsShortenedWarning):
                self.shortened += warning.message.shortened
                if self.first_shortened is None and warning.message.shortened:
                    self.first_shortened = str(warning.message)
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)

    def summary(self, seconds: float) -> str:
        rows = self.scored + self.skipped
        parts = [f"{self.scored} rows scored"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped (missing text; written with empty scores)")
        if self.shortened:
            parts.append(f"{self.shortened} shortened to --max-length (--long-texts chunk scores them whole)")
        if self.kept:
            parts.append(f"{self.kept} kept from the interrupted run")
        rate = f", {rows / seconds:.3g} rows/s" if seconds > 0 and rows else ""
        return f"gliclass-integrations: {', '.join(parts)}; {seconds:.1f} s{rate}{self._hardware()}."

    def _hardware(self) -> str:
        """Where the rows ran, so that a rate can be compared: device, dtype, and the CPU's fast paths."""
        if self.model is None:
            return ""
        model = self.model
        where = f"{model.device.type}, {str(model.dtype)[6:]}"
        if model.device.type == "cpu":
            where += f", CPU {cpu_capabilities()}"
        return f" on {where}"

    def interrupted_message(self) -> str:
        done = self.kept + self.scored + self.skipped
        where = partial_path(self.arguments.output).name if self.arguments.output != "-" else "stdout"
        return (
            f"gliclass-integrations: interrupted after {done} rows (kept in {where}); run the same command with "
            "--resume to continue."
        )


def _as_written(value: Any, writer: Writer) -> Any:
    """A text as a CSV/TSV output holds it (missing ones as empty cells); JSONL and Parquet keep values."""
    from ._outputs import TextWriter

    if isinstance(writer, TextWriter) and writer.format != "jsonl":
        return "" if value is None else str(value)
    return value


def _predicted(labels: list[str], scores, arguments) -> list[str]:
    found = predictions(labels, scores, threshold=arguments.threshold, multi_label=not arguments.single_label)
    return [item["label"] for item in found]


def _chunks(rows: Iterator, size: int):
    while chunk := list(islice(rows, size)):
        yield chunk


# -- labels and examples ----------------------------------------------------------------------------------


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


def _progress_bar(initial: int):
    from tqdm.auto import tqdm

    return tqdm(unit="row", desc="classify", file=sys.stderr, initial=initial)


if __name__ == "__main__":
    sys.exit(main())
