"""One version number: the package metadata, ``__version__``, the command line and the changelog agree.

The docs site's footer is checked against ``__version__`` by the site build test in test_docs.py.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import re
from pathlib import Path

import pytest

import gliclass_integrations
from gliclass_integrations.cli import main

ROOT = Path(__file__).resolve().parents[1]
VERSION = gliclass_integrations.__version__
RELEASE_HEADING = re.compile(r"\[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})")


def test_version_is_semantic():
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)


def test_installed_metadata_has_the_package_version():
    assert importlib.metadata.version("gliclass-integrations") == VERSION


def test_pyproject_takes_the_version_from_the_package():
    import tomllib  # Python 3.11+, as in test_docs.py

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "gliclass_integrations.__version__"}


def test_command_line_prints_the_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"gliclass-integrations {VERSION}\n"


def test_changelog_headings_are_valid_and_newest_first():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.*)$", text, re.M)
    assert headings, "CHANGELOG.md has no version headings"
    released = headings[1:] if headings[0] == "[Unreleased]" else headings
    versions = []
    for heading in released:
        match = RELEASE_HEADING.fullmatch(heading)
        assert match, f"not '## [Unreleased]' or '## [X.Y.Z] - YYYY-MM-DD': {heading!r}"
        datetime.date.fromisoformat(match[2])
        versions.append(as_tuple(match[1]))
    assert versions == sorted(set(versions), reverse=True), "releases must be listed newest first, once each"
    if headings[0] == "[Unreleased]":
        assert not versions or versions[0] <= as_tuple(VERSION)
    else:
        assert versions[0] == as_tuple(VERSION), "the newest release heading must be this version"


def as_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))
