"""The command line with real-world files: formats, header-only and huge inputs, missing texts, stdin, failed and
interrupted runs, and --resume."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from tolerances import FLOAT32

from gliclass_integrations.cli import main

LABELS = ["positive", "negative", "politics"]
TEXTS = ["i love this product", "the election results, announced today", "stocks fell", "", "das ist gut"]


def run(*arguments) -> int:
    return main(["classify", *map(str, arguments)])


def write_csv(path, rows, header=("id", "text"), delimiter=","):
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_csv(path, delimiter=","):
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream, delimiter=delimiter))


@pytest.fixture
def reviews(tmp_path):
    return write_csv(tmp_path / "reviews.csv", [[i, text] for i, text in enumerate(TEXTS)])


def scores_of(rows):
    return np.array([[float(row[label]) for label in LABELS] for row in rows])


# -- formats ---------------------------------------------------------------------------------------------


def test_every_output_format_holds_the_same_rows(reviews, tiny_checkpoint, tmp_path):
    pyarrow_parquet = pytest.importorskip("pyarrow.parquet")
    common = ["--labels", ",".join(LABELS), "--model", tiny_checkpoint]
    for name in ("out.csv", "out.tsv", "out.jsonl", "out.parquet"):
        assert run(reviews, *common, "-o", tmp_path / name) == 0
    from_csv = read_csv(tmp_path / "out.csv")
    from_tsv = read_csv(tmp_path / "out.tsv", delimiter="\t")
    from_jsonl = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    from_parquet = pyarrow_parquet.read_table(tmp_path / "out.parquet").to_pylist()
    assert from_csv == from_tsv and [row["text"] for row in from_parquet] == TEXTS
    for rows in (from_jsonl, from_parquet):
        np.testing.assert_array_equal(scores_of(rows), scores_of(from_csv))
        assert ["|".join(row["predicted"]) for row in rows] == [row["predicted"] for row in from_csv]
    assert not list(tmp_path.glob("*.partial"))


def test_header_only_input_gives_header_only_output(tmp_path, tiny_checkpoint):
    source = write_csv(tmp_path / "empty.csv", [], header=("id", "text"))
    assert run(source, "--labels", ",".join(LABELS), "--model", tiny_checkpoint, "-o", tmp_path / "o.csv") == 0
    assert (tmp_path / "o.csv").read_bytes() == b"id,text,predicted,positive,negative,politics\r\n"


def test_a_huge_csv_field_is_scored(tmp_path, tiny_checkpoint, capsys):
    huge = "word " * 60_000  # 300 KB, over the csv module's default field limit of 128 KiB
    source = write_csv(tmp_path / "huge.csv", [[1, huge], [2, "short"]])
    assert run(source, "--labels", ",".join(LABELS), "--model", tiny_checkpoint, "-o", tmp_path / "o.csv") == 0
    assert [row["id"] for row in read_csv(tmp_path / "o.csv")] == ["1", "2"]
    assert "2 rows scored, 1 shortened" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "texts"),
    [
        ("id,text\n1,hello there\n2,bye\n", ["hello there", "bye"]),  # a CSV header naming the text column
        ("id\ttext\n1\thello there\n", ["hello there"]),  # TSV
        ('{"text": "hello there"}\n{"text": "bye"}\n', ["hello there", "bye"]),  # JSONL
        ("hello there\n  \nbye\n\n\n", ["hello there", "  ", "bye"]),  # lines: trailing blank lines are not texts
    ],
)
def test_stdin_format_is_detected_from_the_first_line(tmp_path, tiny_checkpoint, monkeypatch, content, texts):
    monkeypatch.setattr("sys.stdin", io.StringIO(content))
    assert run("--labels", ",".join(LABELS), "--model", tiny_checkpoint, "-o", tmp_path / "o.jsonl") == 0
    rows = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [row["text"] for row in rows] == texts


# -- checked before anything is loaded ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_input", "arguments", "message"),
    [
        (lambda tmp: tmp / "absent.csv", [], "absent.csv: no such file"),
        (lambda tmp: write_csv(tmp / "a.csv", [], header=("id", "body")), [], "no column 'text' (columns: id, body)"),
        (lambda tmp: write_csv(tmp / "a.csv", [[1, "x"]], header=("id", "text", "positive")), [], "'positive' would"),
        (lambda tmp: write_csv(tmp / "a.csv", [[1, "x"]]), ["-o", "scores.xlsx"], "from '.xlsx'"),
        (lambda tmp: write_csv(tmp / "a.csv", [[1, "x"]]), ["--dtype", "int8"], "--dtype must be one of"),
        (lambda tmp: write_csv(tmp / "a.csv", [[1, "x"]]), ["--resume"], "no earlier run to continue"),
    ],
)
def test_problems_are_reported_before_the_model_loads(tmp_path, capsys, make_input, arguments, message):
    source = make_input(tmp_path)
    # the model does not exist: an error about it would mean it was loaded before the input was checked
    code = run(source, "--labels", ",".join(LABELS), "--model", tmp_path / "no-model", "-o", tmp_path / "o.csv",
               *arguments)
    error = capsys.readouterr().err
    assert code == 1 and message in error and "no-model" not in error, error


# -- missing texts ------------------------------------------------------------------------------------------------


def test_missing_texts_stop_the_run_or_are_written_with_empty_scores(tmp_path, tiny_checkpoint, capsys):
    source = tmp_path / "rows.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in [{"text": "ok"}, {"text": None}, {"text": "fine"}]))
    common = [source, "--labels", ",".join(LABELS), "--model", tiny_checkpoint, "-o", tmp_path / "o.csv"]
    assert run(*common) == 1
    assert "rows.jsonl, line 2, 'text' is missing (None). Pass --missing skip" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()
    assert run(*common, "--missing", "skip") == 0
    rows = read_csv(tmp_path / "o.csv")
    assert [row["text"] for row in rows] == ["ok", "", "fine"]
    assert rows[1]["predicted"] == "" and all(rows[1][label] == "" for label in LABELS)
    assert all(rows[i][label] != "" for i in (0, 2) for label in LABELS)
    assert "2 rows scored, 1 skipped (missing text" in capsys.readouterr().err


def test_the_summary_counts_shortened_rows(tmp_path, tiny_checkpoint, capsys):
    source = write_csv(tmp_path / "long.csv", [[1, "word " * 500], [2, "short"]])
    assert run(source, "--labels", ",".join(LABELS), "--model", tiny_checkpoint, "--max-length", "64",
               "-o", tmp_path / "o.csv") == 0
    assert "2 rows scored, 1 shortened to --max-length" in capsys.readouterr().err
    assert run(source, "--labels", ",".join(LABELS), "--model", tiny_checkpoint, "--max-length", "64",
               "--long-texts", "chunk", "-o", tmp_path / "chunked.csv") == 0
    assert "shortened" not in capsys.readouterr().err
    chunked, truncated = scores_of(read_csv(tmp_path / "chunked.csv")), scores_of(read_csv(tmp_path / "o.csv"))
    np.testing.assert_allclose(chunked[1], truncated[1], atol=FLOAT32)  # the short row is scored the same


# -- failed and interrupted runs --------------------------------------------------------------------------------


def test_a_failed_run_leaves_an_existing_output_untouched(tmp_path, tiny_checkpoint):
    good = write_csv(tmp_path / "good.csv", [[i, f"text number {i}"] for i in range(30)])
    output = tmp_path / "scores.csv"
    assert run(good, "--labels", ",".join(LABELS), "--model", tiny_checkpoint, "-o", output) == 0
    before = output.read_bytes()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps({"text": f"t{i}" if i != 25 else None}) + "\n" for i in range(30)))
    assert run(bad, "--labels", ",".join(LABELS), "--model", tiny_checkpoint, "--chunk-size", "10", "-o", output) == 1
    assert output.read_bytes() == before
    assert len((tmp_path / "scores.csv.partial").read_text().splitlines()) == 1 + 20  # two chunks were written


N_ROWS = 2000


@pytest.fixture(scope="module")
def big_input(tmp_path_factory):
    folder = tmp_path_factory.mktemp("jobs")
    words = ["battery", "screen", "match", "election", "love", "hate", "slow", "fast", "price", "team"]
    rng = np.random.default_rng(0)
    rows = [[i, " ".join(rng.choice(words, size=rng.integers(2, 12)))] for i in range(N_ROWS)]
    return write_csv(folder / "big.csv", rows)


def command(source, output, checkpoint, *extra):
    return [sys.executable, "-m", "gliclass_integrations.cli", "classify", str(source), "--labels", ",".join(LABELS),
            "--model", str(checkpoint), "--dtype", "float64", "--chunk-size", "50", "-o", str(output), *extra]


def interrupt(cmd, partial, at_rows, how, env):
    """Start the run, wait until its partial file holds ``at_rows`` rows, then send ``how``."""
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if partial.exists() and partial.read_bytes().count(b"\n") >= at_rows + 1:
            process.send_signal(how)
            break
        time.sleep(0.01)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr.decode()


@pytest.fixture(scope="module")
def environment():
    return dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))


@pytest.fixture(scope="module")
def uninterrupted(big_input, tiny_checkpoint, environment):
    output = big_input.parent / "uninterrupted.csv"
    finished = subprocess.run(command(big_input, output, tiny_checkpoint), env=environment, capture_output=True)
    assert finished.returncode == 0, finished.stderr
    return output.read_bytes()


@pytest.mark.parametrize(("how", "at_rows"), [(signal.SIGKILL, 120), (signal.SIGINT, 700), (signal.SIGKILL, 1500)])
def test_an_interrupted_run_resumes_to_the_same_file(big_input, tiny_checkpoint, tmp_path, how, at_rows, environment,
                                                     uninterrupted):
    env = environment
    output = tmp_path / "scores.csv"
    code, stderr = interrupt(command(big_input, output, tiny_checkpoint), tmp_path / "scores.csv.partial", at_rows,
                             how, env)
    assert not output.exists() and (tmp_path / "scores.csv.partial").exists()
    if how == signal.SIGINT:
        assert code == 130 and "--resume to continue" in stderr
    else:
        assert code == -signal.SIGKILL
    resumed = subprocess.run(command(big_input, output, tiny_checkpoint, "--resume"), env=env, capture_output=True,
                             text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "kept from the interrupted run" in resumed.stderr
    assert output.read_bytes() == uninterrupted
    assert not (tmp_path / "scores.csv.partial").exists()


def test_resume_refuses_an_input_that_changed(tmp_path, tiny_checkpoint, capsys):
    source = write_csv(tmp_path / "in.csv", [[i, f"text {i}"] for i in range(20)])
    output = tmp_path / "o.csv"
    bad = tmp_path / "in.jsonl"
    bad.write_text("".join(json.dumps({"id": str(i), "text": f"text {i}" if i != 15 else None}) + "\n"
                           for i in range(20)))
    assert run(bad, "--labels", ",".join(LABELS), "--model", tiny_checkpoint, "--chunk-size", "10", "-o", output) == 1
    capsys.readouterr()
    write_csv(source, [[i, f"other {i}"] for i in range(20)])
    assert run(source, "--labels", ",".join(LABELS), "--model", tiny_checkpoint, "-o", output, "--resume") == 1
    assert "its text differs from row 1 of o.csv.partial" in capsys.readouterr().err


def test_a_killed_parquet_run_resumes_to_the_same_table(big_input, tiny_checkpoint, tmp_path, environment):
    parquet = pytest.importorskip("pyarrow.parquet")
    reference = tmp_path / "reference.parquet"
    finished = subprocess.run(command(big_input, reference, tiny_checkpoint), env=environment, capture_output=True)
    assert finished.returncode == 0, finished.stderr
    output, partial = tmp_path / "scores.parquet", tmp_path / "scores.parquet.partial"
    process = subprocess.Popen(command(big_input, output, tiny_checkpoint), stderr=subprocess.PIPE, env=environment)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if partial.exists() and partial.stat().st_size > 60_000:  # some of the Arrow stream's batches
            process.kill()
            break
        time.sleep(0.01)
    process.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL and not output.exists()
    resumed = subprocess.run(command(big_input, output, tiny_checkpoint, "--resume"), env=environment,
                             capture_output=True, text=True)
    assert resumed.returncode == 0 and "kept from the interrupted run" in resumed.stderr, resumed.stderr
    assert parquet.read_table(output).to_pylist() == parquet.read_table(reference).to_pylist()


@pytest.mark.parametrize(("dtype", "shown"), [("auto", "float32"), ("bf16", "bfloat16")])
def test_the_summary_names_where_the_rows_ran(dtype, shown, tmp_path, tiny_checkpoint, capsys):
    from gliclass_integrations.core import cpu_capabilities
    from gliclass_integrations.errors import SlowCpuModeWarning

    source = write_csv(tmp_path / "in.csv", [[1, "short"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SlowCpuModeWarning)
        assert run(source, "--labels", ",".join(LABELS), "--model", tiny_checkpoint, "--dtype", dtype,
                   "-o", tmp_path / "o.csv") == 0
    assert f" on cpu, {shown}, CPU {cpu_capabilities()}." in capsys.readouterr().err
