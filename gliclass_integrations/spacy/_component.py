"""The ``gliclass`` spaCy component: GLiClass label scores in ``doc.cats`` (and on sentences).

Settings are checked by the core's rules (the same as for the scikit-learn estimator and the CLI).
torch and transformers load when a model is first needed; the model itself comes from the
process-wide registry, so reloading a pipeline never loads the same weights twice.
"""

import json
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import srsly
from spacy import util
from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_examples, validate_get_examples

from ..core import (
    check_chunk_aggregation,
    check_descriptions,
    check_device,
    check_dtype,
    check_examples,
    check_long_texts,
    check_positive_int,
    check_prompt,
    check_threshold,
    checkpoint_contents,
    copy_checkpoint,
    flatten_labels,
    hub_offline,
    resolve_checkpoint,
    select_examples,
    shared_model,
    write_checkpoint,
)
from . import gliclass_score

SPAN_EXTENSION = "gliclass_cats"
SCOPES = ("doc", "sents")
# Settings that hold free text. spaCy's config system reads "${...}" in a config value as a variable
# reference, so these are kept in the component's own data (cfg.json), never in config.cfg.
TEXT_SETTINGS = ("prompt", "label_descriptions", "examples")
CFG_FILE = "cfg.json"
MODEL_DIR = "model"
FORMAT_VERSION = 1


class GLiClassComponent(Pipe):
    """Score every label of a GLiClass model on each doc (or sentence) and write the scores to ``doc.cats``.

    Create it with ``nlp.add_pipe("gliclass", config={...})``; the settings are described in
    docs/spacy.md. Nothing is loaded when the component is created: the model is taken from the
    process-wide registry (``gliclass_integrations.core.shared_model``) at ``initialize`` or on the first
    doc, or from the pipeline directory after ``spacy.load``.

    Parameters
    ----------
    nlp : Language
        The pipeline (used to keep free text out of its config).
    name : str
        The component's name in the pipeline.
    model : str
        Hub id or local checkpoint directory.
    revision : str or None
        Branch, tag or commit of a hub id.
    labels : list of str, dict or None
        Candidate labels; a dict of label groups is flattened to ``group.label``. May be left empty and
        filled by ``initialize``.
    multi_label : bool
        True: independent sigmoid scores (like ``textcat_multilabel``); False: a softmax over the labels
        (like ``textcat``).
    threshold : float
        Cut-off used by ``score`` for multi-label evaluation; ``doc.cats`` always holds every score.
    prompt : str or None
        Task description given to the model.
    label_descriptions : dict of str to str or None
        ``{label: description}``.
    examples : list of dict or None
        Few-shot examples ``{"text": ..., "labels": [...]}``.
    batch_size : int or None
        Most texts (docs or sentences) per forward pass; None: as many as the model's token budget allows
        (16,384 tokens on CUDA, 1,024 on the CPU), as in the core.
    device : str or None
        None follows spaCy/thinc (``spacy.require_gpu()``); else "cpu", "cuda", "cuda:1", "auto", ...
    dtype : str
        "auto" (float32 on the CPU, bfloat16 on CUDA), "float32", "bfloat16", "float16" or "float64" (or
        "fp32", "bf16", "fp16", "fp64"). bfloat16 on the CPU pays only with AVX-512 BF16 or AMX ("Fast
        CPU modes" in the guide).
    max_length : int
        Longest model input in tokens; longer texts are shortened, labels never.
    scope : {"doc", "sents"}
        "sents" scores each sentence (``span._.gliclass_cats``) and sets ``doc.cats`` from them.
    long_texts : {"truncate", "chunk"}
        A doc (or sentence) longer than ``max_length`` beside its labels is shortened from its end, or
        with "chunk" scored in overlapping windows whose logits are combined by ``chunk_aggregation``.
    chunk_aggregation : {"max", "mean"}
        How the windows of a chunked text make one score per label.
    scorer : callable or None
        Scores ``doc.cats`` against reference examples (``nlp.evaluate``); by default
        ``gliclass.scorer.v1``, spaCy's ``Scorer.score_cats`` with this component's labels,
        ``multi_label`` and ``threshold``. None: ``score`` reports nothing.
    """

    def __init__(
        self,
        nlp: Language | None,
        name: str = "gliclass",
        *,
        model: str,
        revision: str | None = None,
        labels: Sequence[str] | Mapping[str, Any] | None = None,
        multi_label: bool = True,
        threshold: float = 0.5,
        prompt: str | None = None,
        label_descriptions: Mapping[str, str] | None = None,
        examples: Sequence[Mapping[str, Any]] | None = None,
        batch_size: int | None = None,
        device: str | None = None,
        dtype: str = "auto",
        max_length: int = 1024,
        scope: str = "doc",
        long_texts: str = "truncate",
        chunk_aggregation: str = "max",
        scorer: Callable | None = gliclass_score,
    ) -> None:
        self.name = name
        self._nlp = weakref.ref(nlp) if nlp is not None else None
        self.source = _check_text(name, "model", model)
        self.revision = revision if revision is None else _check_text(name, "revision", revision)
        self.multi_label = _check_bool(name, "multi_label", multi_label)
        self.threshold = check_threshold(threshold, _setting(name, "threshold"))
        self.batch_size = check_positive_int(batch_size, _setting(name, "batch_size"), optional=True)
        self.max_length = check_positive_int(max_length, _setting(name, "max_length"))
        self.device = check_device(device, _setting(name, "device"))
        self.dtype = check_dtype(dtype, _setting(name, "dtype"))
        self.long_texts = check_long_texts(long_texts, _setting(name, "long_texts"))
        self.chunk_aggregation = check_chunk_aggregation(chunk_aggregation, _setting(name, "chunk_aggregation"))
        self.scorer = scorer
        if scope not in SCOPES:
            raise ValueError(f"gliclass component {name!r}: 'scope' must be 'doc' or 'sents', got {scope!r}.")
        self.scope = scope
        self._labels_given: list[str] | dict[str, Any] = []
        self._labels: tuple[str, ...] = ()
        if labels:
            self._set_labels(labels)
        self.prompt = check_prompt(prompt, _setting(name, "prompt"))
        self.label_descriptions = check_descriptions(
            label_descriptions, self._labels or None, _setting(name, "label_descriptions")
        )
        self.examples = _check_examples(name, examples)
        self._models: dict[str, Any] = {}
        if scope == "sents" and not Span.has_extension(SPAN_EXTENSION):
            Span.set_extension(SPAN_EXTENSION, default=None)

    # -- labels ---------------------------------------------------------------------------------------

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels written to ``doc.cats``, in order (hierarchical ones as ``group.label``)."""
        # spaCy reads this property for meta.json before it writes config.cfg (nlp.to_disk, nlp.to_bytes),
        # the last moment at which free text can still leave the pipeline config (see _release_config_text).
        self._release_config_text()
        return self._labels

    @property
    def label_data(self) -> list[str] | dict[str, Any]:
        """The labels as configured (a list, or a dict of label groups); used by ``spacy init labels``."""
        return self._labels_given

    def add_label(self, label: str) -> int:
        """Add a label; returns 1 if it was added, 0 if it was already there."""
        if not isinstance(label, str):
            raise TypeError(f"gliclass component {self.name!r}: labels must be strings, got {label!r}.")
        if label in self._labels:
            return 0
        self._set_labels([*self._labels, label])
        return 1

    def _set_labels(self, labels: Sequence[str] | Mapping[str, Any]) -> None:
        flat = flatten_labels(labels, where=_setting(self.name, "labels"))
        self._labels_given = json.loads(json.dumps(labels)) if isinstance(labels, Mapping) else list(flat)
        self._labels = flat

    def _require_labels(self) -> None:
        if not self._labels:
            raise ValueError(
                f"gliclass component {self.name!r} has no labels. Set 'labels' in its config "
                f"(nlp.add_pipe('gliclass', config={{'labels': [...]}})), call add_label, or call nlp.initialize "
                "with examples whose reference doc.cats hold the labels."
            )

    # -- spaCy pipeline API ---------------------------------------------------------------------------

    def __call__(
        self, doc: Doc, *, labels: Any = None, prompt: str | None = None, batch_size: int | None = None
    ) -> Doc:
        """Score one doc. ``labels`` and ``prompt`` replace the configured ones for this call.

        ``batch_size`` is ignored: ``nlp.pipe`` writes it into the ``component_cfg`` dict it is given, so a
        dict reused for ``nlp(text, component_cfg=...)`` carries it here.
        """
        self._release_config_text()
        error_handler = self.get_error_handler()
        try:
            scores = self.predict([doc], labels=labels, prompt=prompt)
            self.set_annotations([doc], scores, labels=labels)
            return doc
        except Exception as error:
            error_handler(self.name, self, [doc], error)

    def pipe(
        self, stream: Iterable[Doc], *, batch_size: int = 128, labels: Any = None, prompt: str | None = None
    ) -> Iterator[Doc]:
        """Score docs in batches of ``batch_size`` docs (the model runs ``self.batch_size`` texts a pass)."""
        self._release_config_text()
        error_handler = self.get_error_handler()
        position = 0  # of the batch's first doc in the stream, so that warnings name docs the caller can find
        for docs in util.minibatch(stream, size=batch_size):
            first, position = position, position + len(docs)
            try:
                scores = self._predict(docs, labels=labels, prompt=prompt, first_doc=first)
                self.set_annotations(docs, scores, labels=labels)
                yield from docs
            except Exception as error:
                error_handler(self.name, self, docs, error)

    def predict(self, docs: Sequence[Doc], *, labels: Any = None, prompt: str | None = None) -> list[Any]:
        """Label scores without touching the docs: per doc, an array (n_segments, n_labels).

        A segment is the doc (scope "doc") or one of its sentences (scope "sents"). All segments of all
        docs go to the model together, in passes of ``batch_size`` texts.
        """
        return self._predict(docs, labels=labels, prompt=prompt)

    def _predict(self, docs: Sequence[Doc], *, labels: Any, prompt: str | None, first_doc: int = 0) -> list[Any]:
        label_names = self._call_labels(labels)
        segments = [self._segments(doc) for doc in docs]
        texts = [segment.text for doc_segments in segments for segment in doc_segments]
        if not texts:
            return [_empty(len(label_names)) for _ in docs]
        described = self.label_descriptions
        if described and labels is not None:  # per-call labels: the descriptions of those labels only
            described = {key: value for key, value in described.items() if key in label_names}
        scores = self.load_model().predict_proba(
            texts, list(label_names), multi_label=self.multi_label,
            prompt=prompt if prompt is not None else self.prompt, examples=self.examples or None,
            label_descriptions=described or None, batch_size=self.batch_size, long_texts=self.long_texts,
            chunk_aggregation=self.chunk_aggregation, row_names=self._segment_names(segments, first_doc),
        )
        result, start = [], 0
        for doc_segments in segments:
            result.append(scores[start:start + len(doc_segments)])
            start += len(doc_segments)
        return result

    def set_annotations(self, docs: Sequence[Doc], scores: Sequence[Any], *, labels: Any = None) -> None:
        """Write every label's score to ``doc.cats`` (merged with other components' cats).

        With scope "sents", each sentence gets ``span._.gliclass_cats``, and ``doc.cats`` gets the highest
        sentence score (multi-label) or the token-weighted mean of the sentence scores (exclusive labels,
        which still sum to 1).
        """
        label_names = self._call_labels(labels)
        for doc, doc_scores in zip(docs, scores):
            segments = self._segments(doc)
            if self.scope == "sents":
                for sentence, row in zip(segments, doc_scores):
                    if isinstance(sentence, Span):
                        sentence._.set(SPAN_EXTENSION, _as_cats(label_names, row))
                if self.multi_label:
                    doc_row = doc_scores.max(axis=0)
                else:
                    weights = [max(len(segment), 1) for segment in segments]
                    doc_row = (doc_scores * _column(weights)).sum(axis=0) / sum(weights)
            else:
                doc_row = doc_scores[0]
            doc.cats.update(_as_cats(label_names, doc_row))

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Language | None = None,
        labels: Sequence[str] | Mapping[str, Any] | None = None,
        n_examples: int = 0,
        seed: int = 0,
    ) -> None:
        """Settle the labels (and optionally few-shot examples), then load the model.

        Labels come from ``labels`` (the ``[initialize.components.<name>]`` section), else from the config,
        else from the reference ``doc.cats`` of the examples, in first-seen order. With ``n_examples > 0``
        that many training examples become the few-shot examples, replacing configured ones: the core's
        stratified draw (every label before any label twice), seeded by ``seed``, the same as the
        scikit-learn estimator's. An example's labels are its reference cats of 0.5 or more.
        """
        validate_get_examples(get_examples, "GLiClassComponent.initialize")
        self._release_config_text()
        if labels:
            self._set_labels(labels)
        elif not self._labels:
            found: dict[str, None] = {}
            for example in get_examples():
                found.update(dict.fromkeys(example.reference.cats))
            if found:
                self._set_labels(list(found))
        self._require_labels()
        if n_examples != 0:
            check_positive_int(n_examples, _setting(self.name, "n_examples"))
            texts, row_labels = _labelled_texts(get_examples(), self._labels)
            chosen = select_examples(
                texts, row_labels, n_examples, self._labels, random_state=seed, where=_setting(self.name, "n_examples")
            )
            self.examples = _check_examples(self.name, chosen)
        self.load_model()  # now, so that a missing checkpoint shows at initialize

    def score(self, examples: Iterable[Example], **kwargs: Any) -> dict[str, Any]:
        """The ``scorer`` over the configured labels, with ``multi_label`` and ``threshold`` (``kwargs`` win)."""
        validate_examples(examples, "GLiClassComponent.score")
        if self.scorer is None:
            return {}
        settings = {"labels": self._labels, "multi_label": self.multi_label, "threshold": self.threshold}
        return self.scorer(examples, **{**settings, **kwargs})

    # -- the model ------------------------------------------------------------------------------------

    def load_model(self):
        """The ``GLiClass`` model on the current device, taken from the process-wide registry on first use.

        A method, not a ``model`` attribute: spaCy probes components for ``model`` (to find listeners when
        pipes are added), and a probe must never load weights.
        """
        device = self._torch_device()
        key = str(device)
        if key not in self._models:
            self._models[key] = shared_model(
                self.source, revision=self.revision, device=device, dtype=self.dtype, max_length=self.max_length,
            )
        return self._models[key]

    def _torch_device(self):
        if self.device is not None:
            return self.device
        from thinc.util import get_torch_default_device

        return get_torch_default_device()  # CUDA after spacy.require_gpu(), else the CPU

    # -- serialization --------------------------------------------------------------------------------

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        """Write cfg.json (labels and free text) and the checkpoint files (``model/``)."""
        self._release_config_text()
        path = util.ensure_path(path)
        serializers = {
            CFG_FILE: lambda p: p.write_text(json.dumps(self._state(), ensure_ascii=False, indent=2), encoding="utf-8"),
            MODEL_DIR: lambda p: copy_checkpoint(self._checkpoint_files(), p),
        }
        util.to_disk(path, serializers, exclude)

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> "GLiClassComponent":
        """Restore labels and free text, and use the checkpoint saved beside them (no network)."""
        path = util.ensure_path(path)
        deserializers = {
            CFG_FILE: lambda p: self._restore(json.loads(p.read_text(encoding="utf-8"))),
            MODEL_DIR: lambda p: self._use_checkpoint_dir(p) if p.is_dir() else None,
        }
        util.from_disk(path, deserializers, exclude)
        return self

    def to_bytes(self, *, exclude: Iterable[str] = ()) -> bytes:
        """cfg.json and the checkpoint files, as msgpack."""
        self._release_config_text()
        serializers = {
            CFG_FILE: lambda: json.dumps(self._state(), ensure_ascii=False),
            MODEL_DIR: lambda: srsly.msgpack_dumps(checkpoint_contents(self._checkpoint_files())),
        }
        return util.to_bytes(serializers, exclude)

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = ()) -> "GLiClassComponent":
        """Restore from ``to_bytes``; the checkpoint files go to a private temporary directory."""
        deserializers = {
            CFG_FILE: lambda b: self._restore(json.loads(b)),
            MODEL_DIR: lambda b: self._use_checkpoint_dir(write_checkpoint(srsly.msgpack_loads(b))),
        }
        util.from_bytes(bytes_data, deserializers, exclude)
        return self

    def __reduce__(self):
        # Pickles (e.g. for spawn-based multiprocessing) hold the settings, never the model or the pipeline.
        state = dict(self.__dict__, _nlp=None, _models={})
        return _unpickle, (self.name, state)

    def _state(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "source": self.source,
            "revision": self._loaded_revision(),
            "labels": self._labels_given,
            "prompt": self.prompt,
            "label_descriptions": self.label_descriptions,
            "examples": self.examples,
        }

    def _restore(self, state: dict[str, Any]) -> None:
        if state.get("format") != FORMAT_VERSION:
            raise ValueError(
                f"gliclass component {self.name!r}: {CFG_FILE} has format {state.get('format')!r}; this version of "
                f"gliclass-integrations reads format {FORMAT_VERSION}."
            )
        self._labels_given, self._labels = [], ()
        if state.get("labels"):
            self._set_labels(state["labels"])
        self.prompt = check_prompt(state.get("prompt"), _setting(self.name, "prompt"))
        self.label_descriptions = check_descriptions(
            state.get("label_descriptions"), self._labels or None, _setting(self.name, "label_descriptions")
        )
        self.examples = _check_examples(self.name, state.get("examples"))
        self._release_config_text()

    def _use_checkpoint_dir(self, directory: Path) -> None:
        self.source = str(Path(directory).resolve())
        self.revision = None
        self._models = {}

    def _loaded_revision(self) -> str | None:
        models = list(self._models.values())
        return models[0].revision if models else self.revision

    def _checkpoint_files(self):
        """The files of the checkpoint in use (the one already loaded, if any: a hub id at its commit)."""
        models = list(self._models.values())
        if models:
            return resolve_checkpoint(models[0].name_or_path, revision=models[0].revision, local_files_only=True)
        return resolve_checkpoint(self.source, revision=self.revision, local_files_only=hub_offline())

    # -- internals ------------------------------------------------------------------------------------

    def _call_labels(self, labels: Any) -> tuple[str, ...]:
        if labels is None:
            self._require_labels()
            return self._labels
        return flatten_labels(labels, where=_setting(self.name, "labels (per call)"))

    def _segment_names(self, segments: list[list[Doc | Span]], first_doc: int) -> list[str]:
        """How warnings name each text: the doc's position in the stream (and the sentence's in the doc)."""
        if self.scope == "doc":
            return [f"doc {first_doc + d}" for d in range(len(segments))]
        return [
            f"doc {first_doc + d}, sentence {s}"
            for d, doc_segments in enumerate(segments)
            for s in range(len(doc_segments))
        ]

    def _segments(self, doc: Doc) -> list[Doc | Span]:
        if self.scope == "doc" or len(doc) == 0:
            return [doc]
        if not doc.has_annotation("SENT_START"):
            raise ValueError(
                f"gliclass component {self.name!r} has scope 'sents' but the doc has no sentence boundaries. Add "
                "a component that sets them before it, e.g. nlp.add_pipe('sentencizer', before="
                f"{self.name!r}), or a parser or senter."
            )
        return list(doc.sents)

    def _release_config_text(self) -> None:
        """Replace free text in this component's entry of ``nlp.config`` by null.

        The component keeps the text and saves it in cfg.json. spaCy writes config.cfg before it asks
        components to save themselves, and its config syntax reads ``${...}`` as a variable reference,
        so text such as "Total in ${currency}" there would make ``spacy.load`` fail.
        """
        nlp = self._nlp() if self._nlp is not None else None
        if nlp is None:
            return
        for name, component in nlp.components:
            if component is self:
                config = nlp.get_pipe_config(name)
                for key in TEXT_SETTINGS:
                    if config.get(key) is not None:
                        config[key] = None
                if "$" in json.dumps(config.get("labels")):
                    config["labels"] = []
                return


def _unpickle(name: str, state: dict[str, Any]) -> GLiClassComponent:
    component = GLiClassComponent.__new__(GLiClassComponent)
    component.name = name  # a C-level attribute of spaCy's Pipe, not in __dict__
    component.__dict__.update(state)
    return component


# -- checks -----------------------------------------------------------------------------------------


def _setting(name: str, setting: str) -> str:
    """How messages name a setting; the checks themselves are the core's, shared with every adapter."""
    return f"gliclass component {name!r}: {setting!r}"


def _check_text(name: str, setting: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{_setting(name, setting)} must be a non-empty string, got {value!r}.")
    return value


def _check_bool(name: str, setting: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{_setting(name, setting)} must be true or false, got {value!r}.")
    return value


def _check_examples(name: str, value: Any) -> list[dict[str, Any]] | None:
    """Few-shot examples as plain JSON data (they are saved in cfg.json)."""
    examples = check_examples(value or None, _setting(name, "examples"))
    return None if examples is None else json.loads(json.dumps(examples))


# -- helpers ----------------------------------------------------------------------------------------


def _empty(n_labels: int):
    import numpy as np

    return np.zeros((0, n_labels), dtype=np.float32)


def _column(values: list[int]):
    import numpy as np

    return np.asarray(values, dtype=np.float64)[:, None]


def _as_cats(labels: Sequence[str], row: Any) -> dict[str, float]:
    return {label: float(score) for label, score in zip(labels, row)}


def _labelled_texts(examples: Iterable[Example], labels: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """The reference texts and, for each, its labels among ``labels`` with a cat of 0.5 or more."""
    known = set(labels)
    texts, row_labels = [], []
    for example in examples:
        texts.append(example.reference.text)
        row_labels.append([label for label, value in example.reference.cats.items() if label in known and value >= 0.5])
    return texts, row_labels
