"""The code in README.md and docs/ runs, and CI installs and tests exactly as the README says."""

from __future__ import annotations

import doctest
import importlib
import os
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from spark_sessions import shut_down_spark

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def code_blocks(path: Path, language: str) -> list[tuple[int, str]]:
    text = path.read_text(encoding="utf-8")
    return [
        (text[: match.start()].count("\n") + 2, match.group(2))
        for match in FENCE.finditer(text)
        if match.group(1) == language
    ]


def command_scripts(path: Path) -> list[str]:
    """Bash blocks that run the command line; from a block that also installs, only the command lines."""
    scripts = []
    for _, block in code_blocks(path, "bash"):
        if "gliclass-integrations classify" not in block:
            continue
        lines = block.strip().splitlines()
        if any("pip install" in line for line in lines):
            lines = [line for line in lines if "gliclass-integrations classify" in line]
        scripts.append("\n".join(lines))
    return scripts


@pytest.mark.parametrize("path", [p for p in DOCUMENTS if code_blocks(p, "python")], ids=lambda p: p.name)
def test_python_examples_run(path, offline_hub, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files an example writes (a plot, say) land in a temporary folder
    namespace: dict = {"__name__": f"docs_{path.stem}"}
    shut_down_spark()  # an example's Spark workers must see this test's offline hub, not an older JVM's
    try:
        for line, code in code_blocks(path, "python"):
            exec(compile(code, f"{path.name}:{line}", "exec"), namespace)
    finally:
        shut_down_spark()


@pytest.mark.parametrize("path", [p for p in DOCUMENTS if command_scripts(p)], ids=lambda p: p.name)
def test_command_examples_run(path, tmp_path, cli_environment):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    n_reviews = len((ROOT / "examples" / "reviews.csv").read_text(encoding="utf-8").splitlines()) - 1
    for script in command_scripts(path):
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=cli_environment,
            capture_output=True, text=True, timeout=600,
        )
        assert result.returncode == 0, f"{script}\n{result.stderr}"
        for line in script.splitlines():
            written = re.search(r"(?:--output|-o|>) (\S+)$", line)
            if "classify examples/reviews.csv" in line and written:
                assert rows_written(tmp_path / written.group(1)) == n_reviews, line
        if not re.search(r"(?:--output|-o|>) \S+$", script.splitlines()[-1]):
            assert result.stdout.strip(), script


def rows_written(path: Path) -> int:
    if path.suffix == ".parquet":
        import pyarrow.parquet

        return pyarrow.parquet.read_metadata(path).num_rows
    lines = path.read_text(encoding="utf-8").splitlines()
    return len(lines) if path.suffix == ".jsonl" else len(lines) - 1  # CSV and TSV have a header


def test_readme_main_job_uses_the_default_model():
    install, main_job = code_blocks(ROOT / "README.md", "bash")[0][1].strip().splitlines()
    assert "pip install" in install
    assert main_job.startswith("gliclass-integrations classify examples/reviews.csv") and "--model" not in main_job


def test_ci_runs_the_readme_commands():
    blocks = code_blocks(ROOT / "README.md", "bash")
    install = blocks[0][1].strip().splitlines()[0]
    test_command = blocks[1][1].strip()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install torch==2.13.0 -e ." in install and "pip install torch==2.13.0 -e ." in ci
    assert test_command in ci.splitlines()


def test_docstring_examples(tiny_checkpoint):
    import gliclass_integrations

    globs = {"checkpoint_dir": str(tiny_checkpoint)}
    failures = attempts = 0
    for module_info in pkgutil.walk_packages(gliclass_integrations.__path__, "gliclass_integrations."):
        module = importlib.import_module(module_info.name)
        for test in doctest.DocTestFinder().find(module, globs=dict(module.__dict__, **globs)):
            result = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS).run(test)
            failures += result.failed
            attempts += result.attempted
    assert attempts > 0 and failures == 0


def test_install_hints_name_extras_that_exist():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = set(project["optional-dependencies"])
    hints = set()
    for path in [*(ROOT / "gliclass_integrations").rglob("*.py"), *DOCUMENTS]:
        hints |= set(re.findall(r"gliclass-integrations\[(\w+)\]", path.read_text(encoding="utf-8")))
        hints |= set(re.findall(r'pip install -e "\.\[(\w+)\]"', path.read_text(encoding="utf-8")))
    assert {"sklearn", "parquet", "test"} <= hints and hints <= extras, hints - extras


def test_site_builds_strictly_with_every_page(tmp_path):
    """``mkdocs build --strict``: no broken link or anchor, no docstring at odds with its signature."""
    import gliclass_integrations
    import gliclass_integrations.core

    site = tmp_path / "site"
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)], cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=python_path, NO_MKDOCS_2_WARNING="1"),
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    for page in [*(ROOT / "docs").glob("*.md"), *(ROOT / "docs" / "reference").glob("*.md")]:
        name = page.relative_to(ROOT / "docs").with_suffix("")
        assert (site / ("index.html" if name.name == "index" else f"{name}/index.html")).is_file(), name
    footer = f"gliclass-integrations {gliclass_integrations.__version__}"
    assert footer in (site / "index.html").read_text(encoding="utf-8")
    assert (site / "figures" / "threshold-curves.png").read_bytes().startswith(b"\x89PNG")
    assert 'src="../figures/threshold-curves.png"' in (site / "sklearn" / "index.html").read_text(encoding="utf-8")
    core_reference = (site / "reference" / "core" / "index.html").read_text(encoding="utf-8")
    undocumented = [name for name in gliclass_integrations.core.__all__
                    if f'id="gliclass_integrations.core.{name}"' not in core_reference and name != "GLiClass"]
    assert 'id="gliclass_integrations.GLiClass"' in core_reference and not undocumented, undocumented
