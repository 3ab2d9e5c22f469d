"""CUDA paths, run with ``pytest -m gpu`` on a GPU machine (skipped without CUDA; see
benchmarks/gpu_session.sh): reduced precision against float32, float32 against the CPU, the
out-of-memory split on a real allocation, flash-attention selection, parts prepared ahead, and
batches launched and read back without waiting for the device more than each read needs."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from checkpoints import ENCODERS, PROBE_LABELS, PROBE_TEXTS
from tolerances import BFLOAT16, FLOAT32

from gliclass_integrations import GLiClass
from gliclass_integrations.core import _engine, _model
from gliclass_integrations.core._requests import build_request

pytestmark = pytest.mark.gpu

TEXTS = [*PROBE_TEXTS, "the battery died after two days " * 20, "ok", "a long match, decided in extra time " * 8]


@pytest.fixture(scope="module")
def cpu_scores(make_checkpoint):
    return {encoder: GLiClass.from_pretrained(make_checkpoint(encoder), device="cpu").predict_proba(TEXTS, PROBE_LABELS)
            for encoder in sorted(ENCODERS)}


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_float32_on_cuda_equals_float32_on_the_cpu(encoder, make_checkpoint, cpu_scores):
    model = GLiClass.from_pretrained(make_checkpoint(encoder), device="cuda", dtype="float32")
    np.testing.assert_allclose(model.predict_proba(TEXTS, PROBE_LABELS), cpu_scores[encoder], atol=FLOAT32, rtol=0)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_16_bit_scores_on_cuda_stay_close_to_float32(encoder, dtype, make_checkpoint, cpu_scores):
    model = GLiClass.from_pretrained(make_checkpoint(encoder), device="cuda", dtype=dtype)
    assert model.dtype == getattr(torch, dtype)
    scores = model.predict_proba(TEXTS, PROBE_LABELS)
    assert np.isfinite(scores).all()
    assert 0 < np.abs(scores - cpu_scores[encoder]).max() <= BFLOAT16


def test_auto_is_bfloat16_on_cuda(tiny_checkpoint):
    model = GLiClass.from_pretrained(tiny_checkpoint)
    assert model.device.type == "cuda" and model.dtype == torch.bfloat16


def test_a_real_out_of_memory_error_splits_the_batch_and_keeps_the_scores(tiny_checkpoint):
    texts = [f"review number {i}: " + "the battery lasts two days and the screen is bright " * 30 for i in range(64)]
    model = GLiClass.from_pretrained(tiny_checkpoint, device="cuda", dtype="float32", max_batch_tokens=64 * 512)
    expected = GLiClass.from_pretrained(tiny_checkpoint, device="cuda", dtype="float32",
                                        max_batch_tokens=512).predict_proba(texts, PROBE_LABELS)
    torch.cuda.empty_cache()
    total = torch.cuda.mem_get_info()[1]
    in_use = torch.cuda.memory_reserved() / total
    # Enough for the weights and a few rows, not for 64 rows of 512 tokens at once.
    torch.cuda.set_per_process_memory_fraction(min(1.0, in_use + 64 * 2**20 / total))
    try:
        with pytest.warns(RuntimeWarning, match="Out of device memory"):
            scores = model.predict_proba(texts, PROBE_LABELS)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    np.testing.assert_allclose(scores, expected, atol=FLOAT32, rtol=0)


@pytest.mark.skipif(importlib.util.find_spec("flash_attn") is None, reason="flash-attn is not installed")
def test_flash_attention_is_chosen_for_modernbert_in_16_bit(make_checkpoint, cpu_scores):
    model = GLiClass.from_pretrained(make_checkpoint("modernbert"), device="cuda", dtype="bfloat16")
    assert model.network.encoder_model.config._attn_implementation == "flash_attention_2"
    scores = model.predict_proba(TEXTS, PROBE_LABELS)
    assert np.abs(scores - cpu_scores["modernbert"]).max() <= BFLOAT16


def test_parts_prepared_ahead_give_the_serial_scores_on_cuda_in_a_call_and_a_stream(tiny_checkpoint, monkeypatch):
    model = GLiClass.from_pretrained(tiny_checkpoint, device="cuda", dtype="float32")
    texts = TEXTS * 20
    whole = model.predict_proba(texts, PROBE_LABELS)
    monkeypatch.setattr(_model, "PIECE_ROWS", 7)
    monkeypatch.setattr(_model, "PREPARED_ROWS", 21)
    in_parts = model.predict_proba(texts, PROBE_LABELS)
    np.testing.assert_allclose(in_parts, whole, atol=FLOAT32, rtol=0)
    streamed = np.stack(list(model.iter_predict_proba(iter(texts), PROBE_LABELS, chunk_size=30)))
    np.testing.assert_allclose(streamed, whole, atol=FLOAT32, rtol=0)


class QueuesASleepFirst(torch.nn.Module):
    """The network, with ``cycles`` GPU clock cycles of sleep queued before each forward pass."""

    def __init__(self, network: torch.nn.Module) -> None:
        super().__init__()
        self.network = network
        self.cycles = 0

    def forward(self, batch):
        torch.cuda._sleep(self.cycles)
        return self.network(batch)


def test_reading_a_batch_back_waits_for_that_batch_alone(tiny_checkpoint):
    model = GLiClass.from_pretrained(tiny_checkpoint, device="cuda", dtype="float32")
    expected = model.logits(TEXTS[:4], PROBE_LABELS)
    rows = model.encode(build_request(TEXTS[:4], PROBE_LABELS))
    network = QueuesASleepFirst(model.network)
    runner = _engine.BatchRunner(network, pad_id=model.assembler.tokenizer.pad_id, device=model.device)
    with torch.inference_mode():
        first = runner.launch(rows[:2])
        network.cycles = 2 * 10**9  # about a second at a data-centre GPU's clock
        second = runner.launch(rows[2:])
        first_logits = [logits for part in first for logits in part.read()]
        assert not torch.cuda.current_stream().query(), "reading the first batch waited for the second"
        second_logits = [logits for part in second for logits in part.read()]
    np.testing.assert_allclose(np.stack(first_logits + second_logits), expected, atol=FLOAT32, rtol=0)


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_collating_and_launching_a_batch_never_wait_for_the_device(encoder, make_checkpoint):
    """On the GPU what tests/core/test_launch.py checks on the meta device."""
    model = GLiClass.from_pretrained(make_checkpoint(encoder), device="cuda", dtype="bfloat16")
    if model.network.encoder_model.config._attn_implementation == "flash_attention_2":
        pytest.skip("transformers unpads for flash-attn, reading the lengths back")
    rows = model.encode(build_request(TEXTS, PROBE_LABELS))
    runner = model._runner()
    with torch.inference_mode():
        for launched in runner.launch(rows):  # the first launch sets up kernels and libraries
            launched.read()
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")  # any call that waits for the device raises
        try:
            launched = runner.launch(rows, runner.collate(rows))
        finally:
            torch.cuda.set_sync_debug_mode("default")
        logits = [row for part in launched for row in part.read()]
    assert len(logits) == len(TEXTS) and all(np.isfinite(row).all() for row in logits)
