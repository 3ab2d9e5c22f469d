"""The command line, end to end, with a tiny checkpoint saved on disk."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from tolerances import FLOAT32

from gliclass_integrations.cli import main

TEXTS = ["i love this product", "the election results, announced today", "stocks fell", "", "das ist gut"]
LABELS = ["positive", "negative", "politics"]


@pytest.fixture
def reviews_csv(tmp_path):
    path = tmp_path / "reviews.csv"
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["id", "text"])
        writer.writerows([[i, text] for i, text in enumerate(TEXTS)])
    return path


def run(*arguments: str) -> int:
    return main(["classify", *map(str, arguments)])


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def test_csv_end_to_end(reviews_csv, tiny_checkpoint, tiny_model, tmp_path):
    output = tmp_path / "scores.csv"
    assert run(reviews_csv, "--labels", ",".join(LABELS), "--model", tiny_checkpoint, "-o", output) == 0
    rows = read_csv(output)
    assert list(rows[0]) == ["id", "text", "predicted", *LABELS]
    assert [row["text"] for row in rows] == TEXTS and [row["id"] for row in rows] == ["0", "1", "2", "3", "4"]
    scores = np.array([[float(row[label]) for label in LABELS] for row in rows])
    np.testing.assert_allclose(scores, tiny_model.predict_proba(TEXTS, LABELS), atol=FLOAT32)
    for row, text_scores in zip(rows, scores):
        expected = [label for label, score in zip(LABELS, text_scores) if score >= 0.5]
        assert row["predicted"] == "|".join(expected)


def test_jsonl_single_label_with_chunks(tmp_path, tiny_checkpoint, tiny_model):
    source = tmp_path / "texts.jsonl"
    source.write_text("".join(json.dumps({"body": text, "n": i}) + "\n" for i, text in enumerate(TEXTS)))
    output = tmp_path / "out.jsonl"
    code = run(source, "--labels", ",".join(LABELS), "--model", tiny_checkpoint, "--text-column", "body",
               "--single-label", "--chunk-size", "2", "-o", output)
    assert code == 0
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [record["n"] for record in records] == list(range(len(TEXTS)))
    scores = np.array([[record[label] for label in LABELS] for record in records])
    # chunks are batched differently from one call: float32 rounding differs (tests/tolerances.py)
    np.testing.assert_allclose(scores, tiny_model.predict_proba(TEXTS, LABELS, multi_label=False), atol=FLOAT32)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)
    assert [record["predicted"] for record in records] == [[LABELS[i]] for i in scores.argmax(axis=1)]


def test_hierarchical_labels_file_prompt_and_examples(tmp_path, reviews_csv, tiny_checkpoint, tiny_model):
    tree = {"sentiment": ["positive", "negative"], "topic": ["politics", "sports"]}
    (tmp_path / "labels.json").write_text(json.dumps(tree))
    examples = [{"text": "great food", "labels": ["sentiment.positive"]}]
    (tmp_path / "examples.jsonl").write_text(json.dumps(examples[0]) + "\n\n")
    output = tmp_path / "out.csv"
    code = run(reviews_csv, "--labels-file", tmp_path / "labels.json", "--model", tiny_checkpoint,
               "--prompt", "classify:", "--examples", tmp_path / "examples.jsonl", "--threshold", "0.3", "-o", output)
    assert code == 0
    rows = read_csv(output)
    flat = ["sentiment.positive", "sentiment.negative", "topic.politics", "topic.sports"]
    assert list(rows[0])[3:] == flat
    expected = tiny_model.predict_proba(TEXTS, tree, prompt="classify:", examples=examples)
    np.testing.assert_allclose([[float(row[label]) for label in flat] for row in rows], expected, atol=FLOAT32)


def test_parquet_input(tmp_path, tiny_checkpoint, tiny_model):
    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.parquet as parquet

    source = tmp_path / "texts.parquet"
    parquet.write_table(pyarrow.table({"text": TEXTS, "score_me": [True] * len(TEXTS)}), source)
    output = tmp_path / "out.jsonl"
    assert run(source, "--labels", ",".join(LABELS), "--model", tiny_checkpoint, "-o", output) == 0
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [record["text"] for record in records] == TEXTS and records[0]["score_me"] is True


def test_lines_from_stdin(tmp_path, tiny_checkpoint, tiny_model, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("i love this product\nstocks fell\n"))
    output = tmp_path / "out.csv"
    assert run("--labels", "positive,negative", "--model", tiny_checkpoint, "-o", output) == 0
    rows = read_csv(output)
    assert [row["text"] for row in rows] == ["i love this product", "stocks fell"]
    expected = tiny_model.predict_proba(["i love this product", "stocks fell"], ["positive", "negative"])
    scores = [[float(row["positive"]), float(row["negative"])] for row in rows]
    np.testing.assert_allclose(scores, expected, atol=FLOAT32)


def test_progress_bar_on_request(reviews_csv, tiny_checkpoint, tmp_path, capsys):
    assert run(reviews_csv, "--labels", "a,b", "--model", tiny_checkpoint, "-o", tmp_path / "o.csv", "--progress") == 0
    assert "classify" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "arguments", "message"),
    [
        ("id,text\n1,hello\n", ["--text-column", "body"], "no column 'body' (columns: id, text)"),
        ('{"text": "ok"}\n{"text": 42}\n', [], "line 2, 'text' is int (42); expected str"),
        ('{"text": "ok"}\n{"text": null}\n', [], "line 2, 'text' is missing (None). Pass --missing skip"),
        ("id,text\n1,hello\n", ["-o", "scores.xlsx"], "cannot tell the output format from '.xlsx'"),
        ('{"text": "ok"}\nnot json\n', [], "line 2: not valid JSON"),
        ("id,text\n1,hello\n", ["--threshold", "1.5"], "--threshold must be a number from 0 to 1"),
        ("id,positive,text\n1,2,hello\n", [], "input column(s) 'positive' would be overwritten"),
    ],
)
def test_input_errors_are_one_line_messages(tmp_path, tiny_checkpoint, capsys, content, arguments, message):
    suffix = ".jsonl" if content.startswith("{") else ".csv"
    source = tmp_path / f"input{suffix}"
    source.write_text(content)
    code = run(source, "--labels", "positive,negative", "--model", tiny_checkpoint, "-o", tmp_path / "o.csv",
               *arguments)
    assert code == 1
    error = capsys.readouterr().err
    assert message in error and error.startswith("gliclass-integrations: error:") and "Traceback" not in error


def test_label_errors(tmp_path, reviews_csv, tiny_checkpoint, capsys):
    assert run(reviews_csv, "--labels", "a,,b", "--model", tiny_checkpoint) == 1
    assert "--labels has an empty label" in capsys.readouterr().err
    (tmp_path / "labels.json").write_text("{bad")
    assert run(reviews_csv, "--labels-file", tmp_path / "labels.json", "--model", tiny_checkpoint) == 1
    assert "labels.json: not valid JSON" in capsys.readouterr().err


def test_unloadable_model_is_reported(reviews_csv, tmp_path, capsys):
    assert run(reviews_csv, "--labels", "a,b", "--model", tmp_path / "nowhere") == 1
    assert "no checkpoint directory" in capsys.readouterr().err
