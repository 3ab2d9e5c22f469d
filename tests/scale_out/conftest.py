"""Counting model loads in worker processes (Ray actors, Spark Python workers) without touching the package.

``load_log`` puts a ``sitecustomize`` module first on PYTHONPATH for the processes the engines start
(they inherit the environment): it wraps ``GLiClass.from_pretrained`` and ``GLiClass.predict_proba`` to
append ``load <pid>`` and ``batch <pid>`` to a log file.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

import pytest

SITECUSTOMIZE = '''
import os

if os.environ.get("GLICLASS_TEST_LOG"):
    from gliclass_integrations.core import _model

    def _logged(kind, function):
        def wrapper(*args, **kwargs):
            with open(os.environ["GLICLASS_TEST_LOG"], "a") as log:
                log.write(f"{kind} {os.getpid()}\\n")
            return function(*args, **kwargs)
        return wrapper

    _load = _model.GLiClass.from_pretrained.__func__
    _model.GLiClass.from_pretrained = classmethod(_logged("load", _load))
    _model.GLiClass.predict_proba = _logged("batch", _model.GLiClass.predict_proba)
'''


class LoadLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def counts(self, kind: str) -> Counter:
        """Per process id, how many times ``kind`` ("load" or "batch") happened."""
        if not self.path.exists():
            return Counter()
        return Counter(line.split()[1] for line in self.path.read_text().splitlines() if line.split()[0] == kind)


@pytest.fixture(scope="module")
def load_log(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sitecustomize")
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = folder / "loads.log"
    saved = {name: os.environ.get(name) for name in ("PYTHONPATH", "GLICLASS_TEST_LOG")}
    os.environ["PYTHONPATH"] = os.pathsep.join([str(folder), *sys.path])
    os.environ["GLICLASS_TEST_LOG"] = str(log)
    yield LoadLog(log)
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
