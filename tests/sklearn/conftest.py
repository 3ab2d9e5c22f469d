"""Fixtures for the scikit-learn adapter: texts, and a counter of the texts the shared model encodes."""

from __future__ import annotations

import random

import pytest

from gliclass_integrations.core import clear_model_cache, shared_logit_cache, shared_model

WORDS = [
    "the", "match", "ended", "late", "goal", "team", "coach", "election", "senate", "vote", "law", "phone", "chip",
    "battery", "screen", "price", "great", "awful", "slow", "fast", "love", "hate", "service", "food", "stocks",
    "market", "rain", "sunny", "film", "music", "book", "i", "it", "was", "very",
]


def make_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) for _ in range(n)]


@pytest.fixture
def fresh_caches():
    """No logits or models from earlier tests (counts must start from zero)."""
    shared_logit_cache().clear()
    yield
    shared_logit_cache().clear()


@pytest.fixture
def encoded(tiny_checkpoint, fresh_caches):
    """The list of batch sizes the shared model has run, for estimators built on ``tiny_checkpoint``."""
    network = shared_model(tiny_checkpoint).network
    sizes: list[int] = []
    handle = network.register_forward_pre_hook(lambda module, args: sizes.append(args[0].input_ids.shape[0]))
    yield sizes
    handle.remove()


@pytest.fixture(scope="session", autouse=True)
def _forget_models_at_the_end():
    yield
    clear_model_cache()
