"""spaCy pipeline component ``"gliclass"``: zero-shot and few-shot ``doc.cats`` with a GLiClass model.

After ``pip install gliclass-integrations[spacy]`` the factory is found through the ``spacy_factories``
entry point, so ``nlp.add_pipe("gliclass", config={...})`` works without importing this package.

spaCy imports every ``spacy_factories`` entry point whenever a ``Language`` is created, so this module
imports only spaCy and the standard library: the component class, torch and transformers load when
the component is created or first used. A broken optional dependency can therefore never break
``spacy.blank()`` for the whole environment. See docs/spacy.md.
"""

# No ``from __future__ import annotations``: spaCy's config system validates the factory's arguments
# from their type hints, which must be real types.
from collections.abc import Callable, Iterable
from typing import Any

try:
    from spacy.language import Language
    from spacy.scorer import Scorer
    from spacy.training import Example
    from spacy.util import registry
except ModuleNotFoundError as error:  # pragma: no cover - only without the extra
    if error.name != "spacy":
        raise
    raise ImportError(
        'The spaCy component needs spaCy: pip install "gliclass-integrations[spacy]"'
    ) from error

__all__ = [
    "DEFAULT_CONFIG", "SCORE_WEIGHTS", "GLiClassComponent", "gliclass_score", "make_gliclass", "make_gliclass_scorer",
]

# The core's default model (``gliclass_integrations.core.DEFAULT_MODEL``); not imported from there, so that
# spaCy's entry-point scan imports nothing but spaCy (a test checks that the two agree).
DEFAULT_MODEL = "knowledgator/gliclass-multilang-mini"

DEFAULT_CONFIG: dict[str, Any] = {
    "model": DEFAULT_MODEL,
    "revision": None,
    "labels": [],
    "multi_label": True,
    "threshold": 0.5,
    "prompt": None,
    "label_descriptions": None,
    "examples": None,
    "batch_size": None,
    "device": None,
    "dtype": "auto",
    "max_length": 1024,
    "scope": "doc",
    "long_texts": "truncate",
    "chunk_aggregation": "max",
    "scorer": {"@scorers": "gliclass.scorer.v1"},
}

# As for spaCy's textcat: cats_score (macro F for exclusive labels, macro AUC for multi-label) counts,
# the other keys are reported.
SCORE_WEIGHTS: dict[str, float | None] = {
    "cats_score": 1.0,
    "cats_score_desc": None,
    "cats_micro_p": None,
    "cats_micro_r": None,
    "cats_micro_f": None,
    "cats_macro_p": None,
    "cats_macro_r": None,
    "cats_macro_f": None,
    "cats_macro_auc": None,
    "cats_f_per_type": None,
}


def gliclass_score(examples: Iterable[Example], **kwargs: Any) -> dict[str, Any]:
    """spaCy's ``Scorer.score_cats`` on ``doc.cats``; the component passes its labels, multi_label and threshold."""
    return Scorer.score_cats(examples, "cats", **kwargs)


@registry.scorers("gliclass.scorer.v1")
def make_gliclass_scorer() -> Callable[..., dict[str, Any]]:
    """The default scorer of the ``gliclass`` component (as ``spacy.textcat_scorer.v2`` is textcat's)."""
    return gliclass_score


@Language.factory(
    "gliclass",
    assigns=["doc.cats"],
    default_config=DEFAULT_CONFIG,
    default_score_weights=SCORE_WEIGHTS,
)
def make_gliclass(
    nlp: Language,
    name: str,
    model: str,
    revision: str | None,
    labels: list[str] | dict[str, Any] | None,
    multi_label: bool,
    threshold: float,
    prompt: str | None,
    label_descriptions: dict[str, str] | None,
    examples: list[dict[str, Any]] | None,
    batch_size: int | None,
    device: str | None,
    dtype: str | None,
    max_length: int,
    scope: str,
    long_texts: str,
    chunk_aggregation: str,
    scorer: Callable | None,
):
    """Create a ``gliclass`` component (a light shell: the model loads on first use)."""
    from ._component import GLiClassComponent

    return GLiClassComponent(
        nlp, name, model=model, revision=revision, labels=labels, multi_label=multi_label, threshold=threshold,
        prompt=prompt, label_descriptions=label_descriptions, examples=examples, batch_size=batch_size,
        device=device, dtype=dtype, max_length=max_length, scope=scope, long_texts=long_texts,
        chunk_aggregation=chunk_aggregation, scorer=scorer,
    )


def __getattr__(name: str) -> Any:
    if name == "GLiClassComponent":
        from ._component import GLiClassComponent

        return GLiClassComponent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
