"""The logit cache: exact reuse, keys that change with every input that changes a logit, bounded size."""

from __future__ import annotations

import os

import numpy as np
import pytest
from tolerances import FLOAT32, FLOAT32_LOGITS

from gliclass_integrations.core import LogitCache
from gliclass_integrations.core._cache import row_key
from gliclass_integrations.core._requests import RowRequest

TEXTS = ["i love it", "never again", "the match ended in a draw", "i love it"]
LABELS = ["positive", "negative", "sports"]


@pytest.fixture
def rows_run(tiny_model):
    """Counts the texts that go through the network."""
    seen = []
    handle = tiny_model.network.register_forward_pre_hook(lambda module, args: seen.append(args[0].input_ids.shape[0]))
    yield seen
    handle.remove()


def test_cached_logits_equal_fresh_ones_and_skip_the_network(tiny_model, rows_run):
    cache = LogitCache()
    fresh = tiny_model.logits(TEXTS, LABELS)
    first = tiny_model.logits(TEXTS, LABELS, cache=cache)
    assert sum(rows_run) == len(TEXTS) + 3  # the repeated text runs once when cached
    second = tiny_model.predict_proba(TEXTS[::-1], LABELS, multi_label=False, cache=cache)
    assert sum(rows_run) == len(TEXTS) + 3
    # float32 CPU kernels round by batch shape (tests/tolerances.py), and the cached run had 3 rows, not 4
    np.testing.assert_allclose(first, fresh, atol=FLOAT32_LOGITS, rtol=0)
    np.testing.assert_allclose(second, tiny_model.predict_proba(TEXTS[::-1], LABELS, multi_label=False), atol=FLOAT32)
    np.testing.assert_array_equal(second, tiny_model.predict_proba(TEXTS[::-1], LABELS, multi_label=False, cache=cache))
    assert cache.misses == 4 and cache.hits == 8  # the duplicate misses too, and is filled from one run


@pytest.mark.parametrize(
    "change",
    [
        {"labels": ["negative", "positive", "sports"]},
        {"labels": ["positive", "negative"]},
        {"prompt": "Classify the review."},
        {"examples": [{"text": "great", "labels": ["positive"]}]},
        {"label_descriptions": {"sports": "games and athletes"}},
    ],
    ids=["label-order", "label-set", "prompt", "examples", "descriptions"],
)
def test_every_input_that_changes_a_logit_is_part_of_the_key(tiny_model, rows_run, change):
    cache = LogitCache()
    base = {"labels": LABELS}
    tiny_model.logits(TEXTS[:2], **base, cache=cache)
    before = sum(rows_run)
    changed = tiny_model.logits(TEXTS[:2], **{**base, **change}, cache=cache)
    assert sum(rows_run) == before + 2
    np.testing.assert_array_equal(changed, tiny_model.logits(TEXTS[:2], **{**base, **change}))


def test_max_length_is_part_of_the_key(tiny_model, rows_run):
    cache = LogitCache()
    long_text = "word " * 60
    tiny_model.logits([long_text], LABELS, cache=cache)
    short = tiny_model.with_max_length(64)
    assert short.network is tiny_model.network and short.max_length == 64
    with pytest.warns(UserWarning, match="shortened"):
        tiny_model_short = short.logits([long_text], LABELS, cache=cache)
    assert len(rows_run) == 2
    with pytest.warns(UserWarning, match="shortened"):
        np.testing.assert_array_equal(tiny_model_short, short.logits([long_text], LABELS))


def test_fields_are_length_prefixed():
    a = RowRequest(text="ab", labels=("c",), prompt="")
    b = RowRequest(text="a", labels=("bc",), prompt="")
    c = RowRequest(text="a", labels=("b", "c"), prompt="")
    assert len({row_key("m", a), row_key("m", b), row_key("m", c)}) == 3
    assert row_key("m", a) != row_key("n", a)


def test_least_recently_used_entries_go_first_when_full():
    entry = np.zeros(100, dtype=np.float32)  # 400 bytes + overhead
    cache = LogitCache(max_bytes=3 * 600)
    for key in (b"a", b"b", b"c"):
        cache.put(key, entry)
    assert cache.get(b"a") is not None  # a is now the most recent
    cache.put(b"d", entry)
    assert len(cache) == 3 and cache.nbytes <= cache.max_bytes
    assert cache.get(b"b") is None and cache.get(b"a") is not None and cache.get(b"d") is not None


def test_cached_arrays_cannot_be_changed_through_results():
    cache = LogitCache()
    cache.put(b"k", np.ones(3, dtype=np.float32))
    cache.get(b"k")[:] = 7
    np.testing.assert_array_equal(cache.get(b"k"), np.ones(3))


def test_a_changed_local_checkpoint_gets_a_new_fingerprint(tmp_path, tiny_checkpoint):
    import shutil

    from gliclass_integrations import GLiClass

    copy = shutil.copytree(tiny_checkpoint, tmp_path / "copy")
    first = GLiClass.from_pretrained(copy, device="cpu").fingerprint
    stat = os.stat(copy / "model.safetensors")
    os.utime(copy / "model.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert GLiClass.from_pretrained(copy, device="cpu").fingerprint != first


def test_bad_size_is_rejected():
    with pytest.raises(ValueError, match="max_bytes"):
        LogitCache(max_bytes=-1)
