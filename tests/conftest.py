"""Shared fixtures: tiny checkpoints built once per test session, and the reference pipeline."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("PYTHONHASHSEED", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")  # plots in tests, doctests and docs are drawn headless

import checkpoints


def pytest_addoption(parser):
    parser.addoption(
        "--torch-threads", type=int, metavar="N",
        help="run with torch.set_num_threads(N), and N OpenMP threads in subprocesses (tests/tolerances.py)",
    )


def pytest_configure(config):
    threads = config.getoption("--torch-threads")
    if threads:
        import torch

        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)

def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (pytest -m gpu on a GPU machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


_BUILT: dict[tuple, Path] = {}
_LOADED: dict[tuple, object] = {}


@pytest.fixture(scope="session")
def checkpoint_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("checkpoints")


@pytest.fixture(scope="session")
def make_checkpoint(checkpoint_root):
    """``make_checkpoint(encoder, head, seed=0)`` -> path of a saved tiny checkpoint (built once)."""

    def make(encoder: str = "deberta", head: str = "multilang", seed: int = 0) -> Path:
        key = (encoder, head, seed)
        if key not in _BUILT:
            _BUILT[key] = checkpoints.build_checkpoint(
                checkpoint_root / f"{encoder}-{head}-{seed}", encoder, checkpoints.HEADS[head], seed=seed
            )
        return _BUILT[key]

    return make


@pytest.fixture(scope="session")
def load_model(make_checkpoint):
    """``load_model(encoder, head)`` -> our GLiClass on the CPU in float32 (loaded once)."""
    from gliclass_integrations import GLiClass

    def load(encoder: str = "deberta", head: str = "multilang", **options) -> GLiClass:
        if options.get("dtype") == "float32":
            del options["dtype"]  # the default: share the loaded model
        key = ("ours", encoder, head, tuple(sorted(options.items())))
        if key not in _LOADED:
            _LOADED[key] = GLiClass.from_pretrained(make_checkpoint(encoder, head), device="cpu", **options)
        return _LOADED[key]

    return load


@pytest.fixture(scope="session")
def tiny_checkpoint(make_checkpoint) -> Path:
    """The default tiny checkpoint: mDeBERTa-like encoder with the released multilang head layout."""
    return make_checkpoint("deberta", "multilang")


@pytest.fixture(scope="session")
def tiny_model(load_model):
    return load_model("deberta", "multilang")


from gliclass_integrations.core import DEFAULT_MODEL  # noqa: E402


@pytest.fixture(scope="session")
def hub_cache(tmp_path_factory, tiny_checkpoint) -> Path:
    """A Hugging Face cache in which the default model id holds the tiny checkpoint."""
    cache = tmp_path_factory.mktemp("hub-cache")
    checkpoints.fill_hub_cache(cache, DEFAULT_MODEL, tiny_checkpoint)
    return cache


@pytest.fixture
def offline_hub(monkeypatch, hub_cache) -> Path:
    """Offline mode, with ``hub_cache`` as the default cache (for code that names hub ids)."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub_cache))
    return hub_cache


@pytest.fixture
def cli_environment(hub_cache) -> dict[str, str]:
    """Environment for running the command line in a subprocess against the offline cache."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(hub_cache))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env
