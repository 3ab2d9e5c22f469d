"""The process-wide model registry: one load per checkpoint, device and dtype, safe under threads."""

from __future__ import annotations

import threading

import pytest

from gliclass_integrations.core import GLiClass, clear_model_cache, shared_model


@pytest.fixture
def loads(monkeypatch):
    clear_model_cache()
    calls = []
    original = GLiClass.from_pretrained.__func__

    def counting(cls, *args, **kwargs):
        calls.append(args[0])
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(GLiClass, "from_pretrained", classmethod(counting))
    yield calls
    clear_model_cache()


def test_one_load_per_checkpoint_device_and_dtype(loads, tiny_checkpoint):
    first = shared_model(tiny_checkpoint, device="cpu")
    assert shared_model(str(tiny_checkpoint), device="auto", dtype="float32") is first
    assert len(loads) == 1
    other = shared_model(tiny_checkpoint, device="cpu", dtype="float64")
    assert other is not first and len(loads) == 2


def test_max_length_variants_share_the_weights(loads, tiny_checkpoint):
    base = shared_model(tiny_checkpoint, device="cpu")
    short = shared_model(tiny_checkpoint, device="cpu", max_length=128)
    assert short.network is base.network and short.max_length == 128 and base.max_length == 1024
    assert shared_model(tiny_checkpoint, device="cpu", max_length=128) is short
    assert short.fingerprint != base.fingerprint and len(loads) == 1


def test_concurrent_requests_load_once(loads, tiny_checkpoint):
    results = []
    threads = [threading.Thread(target=lambda: results.append(shared_model(tiny_checkpoint, device="cpu")))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1 and len({id(model) for model in results}) == 1


def test_clear_forgets_models(loads, tiny_checkpoint):
    first = shared_model(tiny_checkpoint, device="cpu")
    clear_model_cache()
    assert shared_model(tiny_checkpoint, device="cpu") is not first and len(loads) == 2


def test_a_directory_overwritten_with_new_weights_is_loaded_again(loads, tiny_checkpoint, tmp_path):
    import os
    import shutil

    copy = shutil.copytree(tiny_checkpoint, tmp_path / "copy")
    first = shared_model(copy, device="cpu")
    assert shared_model(copy, device="cpu") is first
    weights = copy / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    assert shared_model(copy, device="cpu") is not first and len(loads) == 2
