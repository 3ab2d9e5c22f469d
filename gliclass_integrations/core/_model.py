"""``GLiClass``: load a checkpoint and score texts against any labels."""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, NoReturn

import numpy as np

from ..errors import CheckpointError, TextsShortenedWarning
from ._assembly import SLICE_ROWS, EncodedRow, InputAssembler
from ._cache import LogitCache, row_key
from ._checkpoint import read_json, read_weights, resolve_checkpoint
from ._config import GLiClassConfig, check_example_token, parse_config
from ._cpu import cpu_capabilities, warn_if_slow_on_cpu
from ._options import (
    check_chunk_aggregation,
    check_device,
    check_dtype,
    check_long_texts,
    check_positive_int,
    check_threshold,
)
from ._pipeline import AheadOfTime, default_workers
from ._requests import Request, RowNames, build_request
from ._scores import nested_scores, predictions, probabilities

DEFAULT_MAX_LENGTH = 1024
"""Longest input in tokens (labels, prompt, examples and text together) unless ``max_length`` is given."""
# GPUs gain from large batches; on the CPU, batches beyond about 2k tokens measured 2-3x slower per
# text (docs/benchmarks.md).
DEFAULT_MAX_BATCH_TOKENS = {"cuda": 16384, "cpu": 1024}
DEFAULT_CHUNK_SIZE = 1024
"""Texts a stream reads at a time (and at most sorts by length together for batching)."""
PREPARED_ROWS = 1024
"""Most texts of one call sorted by length and batched together. Texts are prepared (tokenized and
assembled) on host threads in pieces of ``PIECE_ROWS``; the network takes every piece that is ready, up
to this many texts, so it starts after the first piece and is never kept waiting for a whole part."""
PIECE_ROWS = 128
"""Texts prepared together on one host thread (the first ``PIECE_ROWS`` split across the threads)."""


def piece_ranges(n_rows: int, workers: int) -> list[range]:
    """The rows of a call in the pieces its host threads prepare, ``PIECE_ROWS`` at a time; when there are
    more, the first ``PIECE_ROWS`` are split evenly across the threads, so that the network's first batch is
    ready sooner (into pieces of at least one tokenizer call's ``SLICE_ROWS``). A call of at most
    ``PIECE_ROWS`` rows is one piece, prepared without threads."""
    first = max(SLICE_ROWS, -(-PIECE_ROWS // max(1, workers))) if n_rows > PIECE_ROWS else PIECE_ROWS
    starts = [*range(0, min(PIECE_ROWS, n_rows), first), *range(PIECE_ROWS, n_rows, PIECE_ROWS)]
    return [range(start, end) for start, end in zip(starts, [*starts[1:], n_rows])]


class GLiClass:
    """A GLiClass zero-shot classifier, scoring any texts against any labels in one encoder pass.

    Create it with ``from_pretrained``. Scores equal those of the reference ``gliclass``
    pipeline on the same checkpoint (see docs/parity.md for the documented differences: labels are
    never truncated, and a text's scores never depend on the other texts in its batch).

    Attributes
    ----------
    config : GLiClassConfig
        The checkpoint's inference settings.
    device : torch.device
    dtype : torch.dtype
    max_length : int
        Longest input sequence in tokens (labels, prompt, examples and text together).
    name_or_path : str
        What the model was loaded from.
    revision : str or None
        The commit a hub id resolved to (None for a local directory).
    batch_size : int or None
        Most texts per forward pass; None: as many as ``max_batch_tokens`` allows.
    max_batch_tokens : int
        Most tokens (rows × longest row) per forward pass.
    attn_implementation : str or None
        The encoder attention asked for at loading (None: the default).
    num_workers : int
        Host threads that prepare inputs (tokenization and assembly) ahead of the network.

    Examples
    --------
    >>> model = GLiClass.from_pretrained(checkpoint_dir)
    >>> model.predict_proba(["I love it", "Never again"], ["positive", "negative"]).shape
    (2, 2)
    """

    def __init__(self, network, assembler: InputAssembler, *, device, dtype, name_or_path: str,
                 revision: str | None, batch_size: int | None, max_batch_tokens: int,
                 position_limit: int | None = None, checkpoint_version: str = "",
                 attn_implementation: str | None = None, num_workers: int | None = None) -> None:
        self.network = network
        self.assembler = assembler
        self.config: GLiClassConfig = network.config
        self.device = device
        self.dtype = dtype
        self.name_or_path = name_or_path
        self.revision = revision
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.position_limit = position_limit
        self.checkpoint_version = checkpoint_version
        self.attn_implementation = attn_implementation
        self.num_workers = num_workers or default_workers()
        self._variants: dict[int, GLiClass] = {}

    @property
    def max_length(self) -> int:
        return self.assembler.max_length

    @property
    def fingerprint(self) -> str:
        """Identifies what this model computes: checkpoint and its version, dtype, device type, max_length
        and the requested attention implementation.

        Two models with the same fingerprint give the same logits for the same input (see
        ``LogitCache``). For a hub id the version is the resolved commit; for a local directory it
        is the size and modification time of the weight files.
        """
        fields = (
            self.name_or_path, self.checkpoint_version, str(self.dtype), self.device.type, str(self.max_length),
            str(self.attn_implementation),
        )
        return "\x1f".join(fields)

    def with_max_length(self, max_length: int) -> GLiClass:
        """This model with another ``max_length``, sharing the weights (capped as in from_pretrained)."""
        check_positive_int(max_length, "max_length")
        effective = min(max_length, self.position_limit or max_length)
        if effective == self.max_length:
            return self
        if effective not in self._variants:
            variant = copy.copy(self)
            variant.assembler = InputAssembler(
                self.assembler.tokenizer, prompt_first=self.assembler.prompt_first, max_length=effective
            )
            variant._variants = self._variants
            self._variants[effective] = variant
        return self._variants[effective]

    def __repr__(self) -> str:
        cpu = f", cpu={str(cpu_capabilities())!r}" if self.device.type == "cpu" else ""
        return (
            f"GLiClass({self.name_or_path!r}, encoder={self.config.encoder_type!r}, "
            f"scorer={self.config.scorer_type!r}, device={str(self.device)!r}, dtype={str(self.dtype)[6:]!r}{cpu})"
        )

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        *,
        revision: str | None = None,
        device: Any = "auto",
        dtype: Any = "auto",
        max_length: int = DEFAULT_MAX_LENGTH,
        local_files_only: bool = False,
        cache_dir: str | os.PathLike | None = None,
        allow_pickle: bool = False,
        batch_size: int | None = None,
        max_batch_tokens: int | None = None,
        attn_implementation: str | None = None,
        num_workers: int | None = None,
    ) -> GLiClass:
        """Load a GLiClass checkpoint from a local directory or the Hugging Face hub.

        Parameters
        ----------
        name_or_path : str or path
            A directory holding config.json, model.safetensors and the tokenizer, or a hub id such as
            ``"knowledgator/gliclass-multilang-mini"``.
        revision : str, optional
            Branch, tag or commit of a hub id.
        device : {"auto", "cpu", "cuda", "cuda:N"} or torch.device, default="auto"
            "auto" picks CUDA when available, else the CPU.
        dtype : {"auto", "float32", "bfloat16", "float16", "float64"} or torch.dtype, default="auto"
            "auto" is float32 on the CPU (exact scores) and bfloat16 on CUDA. float64 is for numerical
            checks. bfloat16 on the CPU is faster where the CPU has native bf16 instructions (AVX-512
            BF16 or AMX) and costs about 1e-3 of score; on other CPUs it is several times slower than
            float32 and a ``SlowCpuModeWarning`` says so (see "Fast CPU modes" in docs/guide.md).
        max_length : int, default=1024
            Longest input in tokens. It is capped at the encoder's position limit when the encoder has a
            table of absolute positions (BERT-like backbones).
        local_files_only : bool, default=False
            Never contact the hub (as does the environment variable ``HF_HUB_OFFLINE=1``).
        cache_dir : str or path, optional
            Hugging Face cache directory, if not the default.
        allow_pickle : bool, default=False
            Accept checkpoints whose weights exist only as ``pytorch_model.bin`` (pickle); they are read
            with ``torch.load(weights_only=True)``.
        batch_size : int, optional
            Most texts per forward pass. By default only ``max_batch_tokens`` limits a batch, so that
            short texts share large batches.
        max_batch_tokens : int, optional
            Most tokens per forward pass (texts are sorted by length and padded per batch); peak memory
            grows with it. Default: 16384 on CUDA, 1024 on the CPU. A batch that runs out of device
            memory is split in halves and retried.
        attn_implementation : {None, "sdpa", "eager", "flash_attention_2"}, optional
            The encoder's attention. None: PyTorch's scaled_dot_product_attention, or flash-attn on CUDA
            in 16-bit when it is installed and the encoder supports it (ModernBERT). DeBERTa encoders
            run a fused path of this package for None and "sdpa" (transformers has only an eager one);
            "eager" gives transformers' own implementation, for comparison.
        num_workers : int, optional
            Host threads that prepare inputs (tokenization and assembly) while the network runs, in
            pieces of 128 texts (a call's, and each chunk of a stream's). Default: one per available CPU
            core, at most 8. Results do not depend on it.

        Returns
        -------
        GLiClass
        """
        from transformers import AutoTokenizer

        from ._attention import (
            check_attn_implementation,
            fuse_disentangled_attention,
            transformers_attn_implementation,
        )
        from ._backbone import build_backbone, keep_float32_parts, load_backbone_weights, position_limit
        from ._network import GLiClassNetwork
        from ._tokenizer import EXAMPLE, StructuralTokenizer

        check_positive_int(max_length, "max_length")
        check_attn_implementation(attn_implementation)
        check_positive_int(batch_size, "batch_size", optional=True)
        check_positive_int(num_workers, "num_workers", optional=True)
        torch_device = resolve_device(device)
        if max_batch_tokens is None:
            max_batch_tokens = DEFAULT_MAX_BATCH_TOKENS["cuda" if torch_device.type == "cuda" else "cpu"]
        check_positive_int(max_batch_tokens, "max_batch_tokens")
        torch_dtype = resolve_dtype(dtype, torch_device)
        warn_if_slow_on_cpu(torch_dtype, torch_device, stacklevel=2)
        source = os.fspath(name_or_path)
        files = resolve_checkpoint(
            name_or_path, revision=revision, local_files_only=local_files_only, cache_dir=cache_dir,
            allow_pickle=allow_pickle,
        )
        config_source = f"{source}/config.json"
        config = parse_config(read_json(files.config, source), source=config_source)
        try:
            with _quiet_transformers():  # it warns that config.json's model_type is not one of its own
                hf_tokenizer = AutoTokenizer.from_pretrained(str(files.directory), trust_remote_code=False)
        except Exception as error:  # tokenizers and transformers raise many unrelated types here
            raise CheckpointError(f"{source}: cannot load the tokenizer ({error}).") from error
        tokenizer = StructuralTokenizer(
            hf_tokenizer, label_id=config.class_token_index, sep_id=config.text_token_index,
            example_id=config.example_token_index,
        )
        if EXAMPLE in tokenizer.ids:
            check_example_token(config, config_source)

        backbone_attention = transformers_attn_implementation(
            attn_implementation, config.encoder_type, torch_device, torch_dtype
        )
        network = GLiClassNetwork(config, build_backbone(config, torch_dtype, backbone_attention))
        state = read_weights(files, source)
        backbone_state, head_state = split_weights(state, source)
        load_backbone_weights(network.encoder_model, backbone_state, source)
        load_head_weights(network, head_state, source)
        if attn_implementation != "eager":
            fuse_disentangled_attention(network.encoder_model)
        network.to(device=torch_device, dtype=torch_dtype).eval()
        keep_float32_parts(network.encoder_model, torch_dtype)

        limit = position_limit(network.encoder_model)
        assembler = InputAssembler(
            tokenizer, prompt_first=config.prompt_first, max_length=min(max_length, limit or max_length)
        )
        return cls(
            network, assembler, device=torch_device, dtype=torch_dtype, name_or_path=source,
            revision=files.revision, batch_size=batch_size, max_batch_tokens=max_batch_tokens,
            position_limit=limit, checkpoint_version=files.revision or _file_versions(files.weights),
            attn_implementation=attn_implementation, num_workers=num_workers,
        )

    # -- scoring ------------------------------------------------------------------------------------

    def logits(
        self,
        texts: str | Iterable[str],
        labels: Any,
        *,
        prompt: str | Sequence[str | None] | None = None,
        examples: Sequence[Any] | None = None,
        label_descriptions: Mapping[str, str] | None = None,
        batch_size: int | None = None,
        progress_bar: bool = False,
        cache: LogitCache | None = None,
        missing: str = "raise",
        long_texts: str = "truncate",
        chunk_aggregation: str = "max",
        row_names: Sequence[Any] | None = None,
    ) -> np.ndarray | list[np.ndarray]:
        """Raw label logits.

        Parameters
        ----------
        texts : str or sequence of str
        labels : list of str, dict, or one of those per text
            Labels shared by all texts (a list, or a dict of label groups flattened to
            ``group.label``), or one list (or dict) per text.
        prompt : str or sequence of str, optional
            A task description, one for all texts or one per text.
        examples : list of dict, or one list (or None) per text, optional
            Few-shot examples ``{"text": ..., "labels": [...]}``.
        label_descriptions : dict of str to str, optional
            ``{label: description}``; rendered before the text as ``"label: description"`` pairs.
        batch_size : int, optional
            Most texts per forward pass for this call.
        progress_bar : bool, default=False
            Show a progress bar (tqdm) on stderr.
        cache : LogitCache, optional
            Look each text's logits up here first, run the model only for the others (each distinct
            input once) and store their results.
        missing : {"raise", "skip"}, default="raise"
            A missing text (None, NaN, pandas NA) is an error naming the first one; "skip" gives its
            row NaN instead, with the same shape. Empty strings are texts, and are scored.
        long_texts : {"truncate", "chunk"}, default="truncate"
            A text too long for ``max_length`` beside its labels is shortened from its end (with a
            warning), or with "chunk" split into overlapping token windows that are each scored, the
            window logits being combined by ``chunk_aggregation``. Texts that fit are scored the same
            either way.
        chunk_aggregation : {"max", "mean"}, default="max"
            How the windows of a chunked text make one logit per label: the largest (a label is as
            likely as in its most telling window) or the mean.
        row_names : str or sequence, optional
            How errors and warnings name each text: a sequence of names (``str(row_names[i])``, e.g. a
            DataFrame's index labels), or a string ``s`` for ``s[i]``; by default ``texts[i]``.

        Returns
        -------
        ndarray of shape (n_texts, n_labels), or list of 1-D arrays
            Float32 (float64 for a float64 model). A list with one array per text when each text has
            its own labels.
        """
        request = self._request(texts, labels, prompt, examples, label_descriptions, missing, row_names)
        mode = _long_text_mode(long_texts, chunk_aggregation)
        return self._shape(request, self._run_with_progress(request, batch_size, progress_bar, cache, mode))

    def predict_proba(
        self,
        texts: str | Iterable[str],
        labels: Any,
        *,
        multi_label: bool = True,
        prompt: str | Sequence[str | None] | None = None,
        examples: Sequence[Any] | None = None,
        label_descriptions: Mapping[str, str] | None = None,
        batch_size: int | None = None,
        progress_bar: bool = False,
        cache: LogitCache | None = None,
        missing: str = "raise",
        long_texts: str = "truncate",
        chunk_aggregation: str = "max",
        row_names: Sequence[Any] | None = None,
    ) -> np.ndarray | list[np.ndarray]:
        """Label scores: a sigmoid per label, or a softmax over each text's labels.

        Parameters
        ----------
        texts, labels, prompt, examples, label_descriptions, batch_size, progress_bar, cache, missing, \
long_texts, chunk_aggregation, row_names
            As for ``logits``.
        multi_label : bool, default=True
            True: independent sigmoid scores; False: a softmax over each text's labels.

        Returns
        -------
        ndarray of shape (n_texts, n_labels), float32, or list of 1-D arrays
            As for ``logits``; NaN in the rows of skipped missing texts.
        """
        request = self._request(texts, labels, prompt, examples, label_descriptions, missing, row_names)
        mode = _long_text_mode(long_texts, chunk_aggregation)
        rows = self._run_with_progress(request, batch_size, progress_bar, cache, mode)
        return self._shape(request, [probabilities(row, multi_label) for row in rows])

    def classify(
        self,
        texts: str | Iterable[str],
        labels: Any,
        *,
        threshold: float | Sequence[float] = 0.5,
        multi_label: bool = True,
        return_hierarchical: bool = False,
        prompt: str | Sequence[str | None] | None = None,
        examples: Sequence[Any] | None = None,
        label_descriptions: Mapping[str, str] | None = None,
        batch_size: int | None = None,
        progress_bar: bool = False,
        cache: LogitCache | None = None,
        missing: str = "raise",
        long_texts: str = "truncate",
        chunk_aggregation: str = "max",
        row_names: Sequence[Any] | None = None,
    ) -> list[Any]:
        """Predictions shaped like the reference pipeline's output, one entry per text.

        Parameters
        ----------
        texts, labels, prompt, examples, label_descriptions, batch_size, progress_bar, cache, missing, \
long_texts, chunk_aggregation, row_names
            As for ``logits``.
        threshold : float or sequence of float, default=0.5
            Multi-label cut-off (score >= threshold), one for all texts or one per text; each a number
            from 0 to 1.
        multi_label : bool, default=True
            False: one softmax over each text's labels, and the single best label is predicted.
        return_hierarchical : bool, default=False
            Return every label's score, nested like the labels (``{group: {label: score}}``), instead of
            predictions.

        Returns
        -------
        list
            Per text, ``[{"label": ..., "score": ...}]`` in label order (labels at or above the threshold,
            or the argmax), or with ``return_hierarchical`` a dict of all scores; None for a skipped
            missing text.
        """
        request = self._request(texts, labels, prompt, examples, label_descriptions, missing, row_names)
        thresholds = _thresholds(threshold, len(request.rows))
        mode = _long_text_mode(long_texts, chunk_aggregation)
        rows = self._run_with_progress(request, batch_size, progress_bar, cache, mode)
        results: list[Any] = []
        for index, (row, structure, logits, cut) in enumerate(zip(request.rows, request.structures, rows, thresholds)):
            scores = probabilities(logits, multi_label)
            if index in request.missing:
                results.append(None)
            elif return_hierarchical:
                results.append(nested_scores(structure, row.labels, scores))
            else:
                results.append(predictions(row.labels, scores, threshold=cut, multi_label=multi_label))
        return results

    # -- streaming ----------------------------------------------------------------------------------

    def iter_logits(
        self,
        texts: Iterable[str],
        labels: Any,
        *,
        prompt: str | None = None,
        examples: Sequence[Any] | None = None,
        label_descriptions: Mapping[str, str] | None = None,
        batch_size: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress_bar: bool = False,
        cache: LogitCache | None = None,
        missing: str = "raise",
        long_texts: str = "truncate",
        chunk_aggregation: str = "max",
        row_names: Sequence[Any] | None = None,
    ) -> Iterator[np.ndarray]:
        """Raw label logits of a stream of texts, one array per text, in input order.

        ``texts`` is read lazily, ``chunk_size`` texts at a time. Each chunk is prepared in pieces on the
        host threads (``num_workers``) while the network runs the chunks before it; the network takes the
        prepared pieces of a chunk that are ready (all of them, unless it would wait), sorted by length
        into batches. The stream reads at most a few chunks ahead of the texts it has yielded (those
        queued for the network, and about one chunk being prepared), so memory depends on
        ``chunk_size`` and ``max_batch_tokens``, not on the number of texts. Errors and warnings name a
        text by its position in the whole stream; an error is raised after the texts before it have
        been yielded. Texts shortened anywhere in the stream are reported once, in one warning, when
        the stream ends.

        Parameters
        ----------
        texts : iterable of str
            Any iterable, e.g. a generator over a file.
        labels : list of str or dict
            Labels shared by all texts (per-text labels cannot be streamed).
        prompt : str, optional
            A task description for all texts.
        examples : list of dict, optional
            Few-shot examples ``{"text": ..., "labels": [...]}`` for all texts.
        label_descriptions : dict of str to str, optional
            As for ``logits``.
        batch_size : int, optional
            Most texts per forward pass.
        chunk_size : int, default=1024
            Texts read from ``texts`` at a time. Larger chunks can sort more texts by length together
            (less padding) and hold more texts in memory.
        progress_bar : bool, default=False
            Show a progress bar (tqdm) on stderr.
        cache : LogitCache, optional
            As for ``logits``.
        missing, long_texts, chunk_aggregation : str
            As for ``logits``.
        row_names : sequence, optional
            Names of the stream's texts, indexed by their position in the stream (as for ``logits``).

        Yields
        ------
        ndarray of shape (n_labels,)
            Float32 (float64 for a float64 model), one per text.

        Examples
        --------
        >>> model = GLiClass.from_pretrained(checkpoint_dir)
        >>> lines = (f"review number {i}" for i in range(5))
        >>> [row.shape for row in model.iter_logits(lines, ["positive", "negative"], chunk_size=2)]
        [(2,), (2,), (2,), (2,), (2,)]
        """
        options = dict(prompt=prompt, examples=examples, label_descriptions=label_descriptions, missing=missing)
        return self._stream(
            texts, labels, options, batch_size=batch_size, chunk_size=chunk_size, progress_bar=progress_bar,
            transform=None, mode=_long_text_mode(long_texts, chunk_aggregation), row_names=row_names, cache=cache,
        )

    def iter_predict_proba(
        self,
        texts: Iterable[str],
        labels: Any,
        *,
        multi_label: bool = True,
        prompt: str | None = None,
        examples: Sequence[Any] | None = None,
        label_descriptions: Mapping[str, str] | None = None,
        batch_size: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress_bar: bool = False,
        cache: LogitCache | None = None,
        missing: str = "raise",
        long_texts: str = "truncate",
        chunk_aggregation: str = "max",
        row_names: Sequence[Any] | None = None,
    ) -> Iterator[np.ndarray]:
        """Label scores of a stream of texts, one array per text, in input order.

        Parameters
        ----------
        texts, labels, prompt, examples, label_descriptions, batch_size, chunk_size, progress_bar, cache, \
missing, long_texts, chunk_aggregation, row_names
            As for ``iter_logits``.
        multi_label : bool, default=True
            True: independent sigmoid scores; False: a softmax over the labels.

        Yields
        ------
        ndarray of shape (n_labels,), float32
        """
        options = dict(prompt=prompt, examples=examples, label_descriptions=label_descriptions, missing=missing)
        return self._stream(
            texts, labels, options, batch_size=batch_size, chunk_size=chunk_size, progress_bar=progress_bar,
            transform=lambda row: probabilities(row, multi_label), mode=_long_text_mode(long_texts, chunk_aggregation),
            row_names=row_names, cache=cache,
        )

    # -- internals ----------------------------------------------------------------------------------

    def encode(self, request: Request) -> list[EncodedRow]:
        """Token ids and positions of every text of a request, texts too long shortened (no warning).

        Missing texts (``request.missing``) are encoded as empty texts; the scoring methods skip them.
        """
        return self.assembler.encode(request.rows, names=request.names)

    @staticmethod
    def _request(texts, labels, prompt, examples, label_descriptions, missing, row_names) -> Request:
        return build_request(
            texts, labels, prompt=prompt, examples=examples, label_descriptions=label_descriptions, missing=missing,
            names=RowNames(row_names),
        )

    def _run_with_progress(
        self, request: Request, batch_size: int | None, progress_bar: bool, cache: LogitCache | None, mode: LongTextMode
    ) -> list[np.ndarray]:
        progress = _progress(len(request.rows)) if progress_bar and request.rows else None
        report = ShorteningReport(self.max_length)
        try:
            rows = self._run(request, batch_size, self._runner(), progress, mode, report, cache=cache)
        finally:
            if progress is not None:
                progress.close()
        report.warn(stacklevel=3)  # the caller of logits / predict_proba / classify
        return rows

    def _run(
        self, request: Request, batch_size: int | None, runner, progress, mode: LongTextMode,
        report: ShorteningReport, *, cache: LogitCache | None = None,
    ) -> list[np.ndarray]:
        """Logits of every row of a request, in pieces of ``piece_ranges`` (``_scored``) grouped by the network
        into at most ``PREPARED_ROWS`` rows."""
        check_positive_int(batch_size, "batch_size", optional=True)
        scored = self._scored(
            piece_ranges(len(request.rows), self.num_workers), lambda rows: self._prepare(request, rows, mode, cache),
            runner, batch_size, progress, mode, report, cache,
            most_rows=PREPARED_ROWS, ahead=max(2, PREPARED_ROWS // PIECE_ROWS) + self.num_workers,
        )
        with contextlib.closing(scored):
            return list(scored)

    def _scored(self, pieces: Iterable, prepare: Callable[[Any], _Part], runner, batch_size: int | None, progress,
                mode: LongTextMode, report: ShorteningReport, cache: LogitCache | None, *, most_rows: int,
                ahead: int) -> Iterator[np.ndarray]:
        """Logits of every row of the pieces, in order: NaN for missing texts; with a cache, only the rows it
        lacks run, each distinct input once.

        Each piece is prepared by ``prepare`` (cache lookups, tokenization and assembly) on host threads while
        the network runs, at most ``ahead`` pieces in flight; each time the network is free it takes the
        prepared pieces that are ready (at least one; pieces of one request, at most ``most_rows`` rows), sorted
        by length into batches. Close the result when stopping early: no thread is left running.
        """
        prepared = self._prepared(prepare, pieces, ahead=ahead)
        ready = prepared.next_is_ready if isinstance(prepared, AheadOfTime) else lambda: False  # one piece
        in_flight = _InFlight()

        def groups():
            for first in prepared:
                group, rows = [first], len(first.rows)
                while ready():
                    try:
                        piece = prepared.peek()
                    except Exception:
                        break  # raised when its turn comes, after this group's rows
                    if piece.request is not first.request or rows + len(piece.rows) > most_rows:
                        break
                    group.append(next(prepared))
                    rows += len(piece.rows)
                part = _merged(group)
                yield part, self._before_network(part, progress, mode, report, cache, in_flight)

        runs = self._network_runs(groups(), runner, batch_size, progress, mode, groups_ready=ready)
        with contextlib.closing(prepared), contextlib.closing(runs):  # on any error, no thread is left running
            for part, logits in runs:
                yield from self._after_network(part, logits, progress, mode, cache, in_flight)

    def _network_runs(self, groups, runner, batch_size, progress, mode: LongTextMode, groups_ready=None):
        from ._engine import stream_batches

        counting_texts = progress is not None and not mode.chunk  # a batch of windows is not a batch of texts
        return stream_batches(
            runner, groups, batch_size=batch_size or self.batch_size, max_batch_tokens=self.max_batch_tokens,
            on_batch=progress.update if counting_texts else None, groups_ready=groups_ready,
        )

    def _prepared(self, prepare, items: Iterable, ahead: int | None = None) -> Iterator:
        """``prepare(item)`` for each item, in order: inline for a list of one, else on host threads ahead of
        the consumer (at most ``ahead`` items in flight). Close the result when stopping early."""
        if isinstance(items, list) and len(items) <= 1:
            return (prepare(item) for item in items)
        return AheadOfTime(prepare, items, workers=self.num_workers, ahead=ahead)

    def _prepare(self, request: Request, rows: Sequence[int], mode: LongTextMode, cache: LogitCache | None) -> _Part:
        """Everything before the network for some rows of a request; safe on any thread."""
        part = _Part(request, list(rows))
        present = [i for i in part.rows if i not in request.missing]
        if cache is None:
            part.todo = present
        else:
            part.keys = {i: row_key(self.fingerprint, request.rows[i], mode.key) for i in present}
            first_miss: dict[bytes, int] = {}
            for i in present:
                hit = cache.get(part.keys[i])
                if hit is None:
                    first_miss.setdefault(part.keys[i], i)
                else:
                    part.ready[i] = hit
            part.todo = list(first_miss.values())
            part.first_of = first_miss
        part.names = request.names.subset(part.todo)
        todo_rows = [request.rows[i] for i in part.todo]
        if mode.chunk:
            part.windows = self.assembler.encode_windows(todo_rows, names=part.names)
        else:
            part.windows = [[row] for row in self.assembler.encode(todo_rows, names=part.names)]
        return part

    def _before_network(self, part: _Part, progress, mode: LongTextMode, report: ShorteningReport,
                        cache: LogitCache | None, in_flight: _InFlight) -> list[EncodedRow]:
        """A prepared part's last checks on the caller's thread, just before its rows go to the network:
        inputs computed since it was prepared, or being computed for an earlier part, are not run again.
        Returns the rows to run."""
        request = part.request
        for index in part.rows:
            if index in request.missing:
                part.ready[index] = np.full(len(request.rows[index].labels), np.nan, dtype=self._host_dtype)
        if progress is not None:  # missing texts, cache hits, and repeats of an input the part computes
            progress.update(len(part.rows) - len(part.todo))
        if cache is not None:
            late = {i: cache.recheck(part.keys[i]) for i in part.todo}
            part.ready.update((i, logits) for i, logits in late.items() if logits is not None)
            borrowed = [i for i in part.todo if late[i] is None and in_flight.computing(part.keys[i])]
            part.borrowed = {i: part.keys[i] for i in borrowed}
            kept = [k for k, i in enumerate(part.todo) if late[i] is None and i not in part.borrowed]
            if len(kept) < len(part.todo):
                part.todo = [part.todo[k] for k in kept]
                part.windows = [part.windows[k] for k in kept]
                part.names = request.names.subset(part.todo)
            if progress is not None:
                progress.update(len(late) - len(kept))
            in_flight.start(part.keys[i] for i in part.todo)
        report.add(part.windows, part.names)
        return [window for text_windows in part.windows for window in text_windows]

    def _after_network(self, part: _Part, logits: list[np.ndarray], progress, mode: LongTextMode,
                       cache: LogitCache | None, in_flight: _InFlight) -> list[np.ndarray]:
        """Every row's logits in order, once the network has run the part's rows (and the cache filled)."""
        if progress is not None and mode.chunk:
            progress.update(len(part.todo))
        start = 0
        for index, text_windows in zip(part.todo, part.windows):
            windows = logits[start : start + len(text_windows)]
            start += len(text_windows)
            part.ready[index] = windows[0] if len(windows) == 1 else mode.combine(windows)
            if cache is not None:
                cache.put(part.keys[index], part.ready[index])
                in_flight.finish(part.keys[index], part.ready[index])
        for index, key in part.borrowed.items():
            part.ready[index] = in_flight.take(key)
        results = []
        for i in part.rows:
            if i not in part.ready:  # a row that repeats an input computed for another row of the part
                part.ready[i] = part.ready[part.first_of[part.keys[i]]].copy()
            results.append(part.ready[i])
        return results

    @property
    def _host_dtype(self) -> type:
        return np.float64 if str(self.dtype) == "torch.float64" else np.float32

    def _runner(self):
        from ._engine import BatchRunner

        return BatchRunner(self.network, pad_id=self.assembler.tokenizer.pad_id, device=self.device)

    def _stream(self, texts, labels, options: dict, *, batch_size, chunk_size, progress_bar, transform, mode,
                row_names, cache):
        """Checks the arguments now, then returns the generator that reads and scores the texts."""
        check_positive_int(chunk_size, "chunk_size")
        check_positive_int(batch_size, "batch_size", optional=True)
        labels = _shared_labels(labels)
        if options["examples"] is not None:
            options["examples"] = list(options["examples"])
        _check_streamable(options["prompt"], options["examples"])
        build_request([], labels, **options)  # every other check, before the first text is read
        iterator = iter([texts] if isinstance(texts, str) else texts)
        return self._scored_chunks(
            iterator, labels, options, batch_size, chunk_size, progress_bar, transform, mode, row_names, cache
        )

    def _scored_chunks(self, iterator, labels, options, batch_size, chunk_size, progress_bar, transform, mode,
                       row_names, cache):
        progress = _progress(None) if progress_bar else None
        report = ShorteningReport(self.max_length)

        def pieces():  # read on the consumer's thread: the caller's iterable may be tied to it
            position = 0
            while True:
                texts, failure = [], None
                try:
                    texts.extend(islice(iterator, chunk_size))  # keeps the texts read before an error
                except Exception as error:  # the caller's iterable failed: raised after the texts it gave
                    failure = error
                if texts:
                    chunk = _Chunk(functools.partial(build_request, texts, labels,
                                                     names=RowNames(row_names, offset=position), **options))
                    # Only the first chunk's first rows are split across the threads: the stream's first batch
                    # waits for them; later chunks are prepared while the network runs.
                    for rows in piece_ranges(len(texts), self.num_workers if position == 0 else 1):
                        yield chunk, rows
                    position += len(texts)
                if failure is not None:
                    yield _Chunk(functools.partial(_raise, failure)), range(0)
                if failure is not None or not texts:
                    return

        scored = self._scored(
            pieces(), lambda piece: self._prepare(piece[0].request(), piece[1], mode, cache),
            self._runner(),  # one per stream: an out-of-memory split carries over to later chunks
            batch_size, progress, mode, report, cache,
            most_rows=chunk_size, ahead=len(piece_ranges(chunk_size, 1)) + 1,  # memory: about one chunk ahead
        )
        try:
            for row in scored:
                yield row if transform is None else transform(row)
        finally:
            scored.close()  # the pieces being prepared ahead are dropped and the threads joined
            if progress is not None:
                progress.close()
            report.warn(stacklevel=2)  # the line that drives the stream

    @staticmethod
    def _shape(request: Request, rows: list[np.ndarray]):
        if request.shared_labels is None:
            return rows
        if not rows:
            return np.zeros((0, len(request.shared_labels)), dtype=np.float32)
        return np.stack(rows)


@dataclass(eq=False)
class _Part:
    """Some rows of a request, prepared for the network: results already known, and the encoded rest."""

    request: Request
    rows: list[int]
    ready: dict[int, np.ndarray] = field(default_factory=dict)  # missing (NaN) and cache hits, then all
    keys: dict[int, bytes] = field(default_factory=dict)  # cache keys of present rows (with a cache)
    first_of: dict[bytes, int] = field(default_factory=dict)  # the row that computes each distinct input
    todo: list[int] = field(default_factory=list)  # rows the network runs
    names: RowNames = field(default_factory=RowNames)
    windows: list[list[EncodedRow]] = field(default_factory=list)  # each todo row's encoded windows
    borrowed: dict[int, bytes] = field(default_factory=dict)  # rows whose input an earlier part computes


class _Chunk:
    """Texts of a stream read together. Their request is built by the first host thread preparing a piece of
    them, so that a text it rejects is raised in its turn, after the texts before it have been yielded."""

    def __init__(self, build: Callable[[], Request]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._request: Request | None = None

    def request(self) -> Request:
        with self._lock:
            if self._request is None:
                self._request = self._build()
            return self._request


class _InFlight:
    """Cache keys being computed for parts whose batches are on their way through the network, so that a
    later part does not run them again; their logits are kept until that part takes them."""

    def __init__(self) -> None:
        self._computing: set[bytes] = set()
        self._wanted: dict[bytes, int] = {}
        self._done: dict[bytes, np.ndarray] = {}

    def computing(self, key: bytes) -> bool:
        """Whether an earlier part computes ``key``; if so, the caller will ``take`` it."""
        if key in self._computing or key in self._done:
            self._wanted[key] = self._wanted.get(key, 0) + 1
            return True
        return False

    def start(self, keys: Iterable[bytes]) -> None:
        self._computing.update(keys)

    def finish(self, key: bytes, logits: np.ndarray) -> None:
        self._computing.discard(key)
        if key in self._wanted:
            self._done[key] = logits

    def take(self, key: bytes) -> np.ndarray:
        self._wanted[key] -= 1
        logits = self._done[key] if self._wanted[key] else self._done.pop(key)
        if not self._wanted[key]:
            del self._wanted[key]
        return logits.copy()


def _raise(error: Exception) -> NoReturn:
    raise error


def _merged(parts: list[_Part]) -> _Part:
    """Consecutive prepared parts of one request as one: an input that several of them miss in the cache
    runs once."""
    if len(parts) == 1:
        return parts[0]
    merged = _Part(parts[0].request, [])
    for part in parts:
        merged.rows += part.rows
        merged.ready.update(part.ready)
        merged.keys.update(part.keys)
        for index, windows in zip(part.todo, part.windows):
            key = part.keys.get(index)
            if key is not None and key in merged.first_of:
                continue  # a repeat of an input an earlier part computes
            if key is not None:
                merged.first_of[key] = index
            merged.todo.append(index)
            merged.windows.append(windows)
    merged.names = merged.request.names.subset(merged.todo)
    return merged


@dataclass(frozen=True)
class LongTextMode:
    """How texts too long for one sequence are handled: shortened, or scored in windows and combined."""

    chunk: bool
    aggregation: str

    @property
    def key(self) -> str:
        """What the logit cache adds to a row's key (nothing for the default, so existing keys stay valid)."""
        return f"chunk:{self.aggregation}" if self.chunk else ""

    def combine(self, windows: list[np.ndarray]) -> np.ndarray:
        stacked = np.stack(windows)
        combined = stacked.max(axis=0) if self.aggregation == "max" else stacked.astype(np.float64).mean(axis=0)
        return combined.astype(stacked.dtype)


def _long_text_mode(long_texts: str, chunk_aggregation: str) -> LongTextMode:
    chunk = check_long_texts(long_texts) == "chunk"
    return LongTextMode(chunk, check_chunk_aggregation(chunk_aggregation))


class ShorteningReport:
    """Texts shortened or stripped of few-shot examples during one call (or one stream), warned about once."""

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length
        self.texts = 0
        self.shortened: list[tuple[str, int]] = []  # (row name, tokens removed)
        self.dropped: list[str] = []

    def add(self, windows: list[list[EncodedRow]], names: RowNames) -> None:
        self.texts += len(windows)
        for index, text_windows in enumerate(windows):
            first = text_windows[0]
            if first.text_tokens_removed:
                self.shortened.append((names(index), first.text_tokens_removed))
            if first.examples_dropped:
                self.dropped.append(names(index))

    def warn(self, stacklevel: int) -> None:
        parts = []
        if self.shortened:
            name, lost = self.shortened[0]
            parts.append(
                f"{len(self.shortened)} of {self.texts} texts were shortened from the end ({name} lost {lost} "
                "tokens; pass long_texts='chunk' to score whole texts in windows)"
            )
        if self.dropped:
            parts.append(f"{len(self.dropped)} texts lost few-shot examples ({self.dropped[0]} first)")
        if parts:
            limit = f"Inputs longer than max_length={self.max_length} tokens"
            message = f"{limit}: {'; '.join(parts)}. Labels are never cut."
            warning = TextsShortenedWarning(
                message, shortened=len(self.shortened), examples_dropped=len(self.dropped), total=self.texts
            )
            warnings.warn(warning, stacklevel=stacklevel + 1)
            self.shortened, self.dropped = [], []


def resolve_device(device: Any):
    import torch

    check_device(device)
    if isinstance(device, torch.device):
        resolved = device
    elif device is None or device == "auto":
        resolved = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            resolved = torch.device(device)
        except RuntimeError as error:
            raise ValueError(f"device={device!r} is not a torch device ({error}).") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(resolved)!r} was requested but CUDA is not available; use 'cpu' or 'auto'.")
    return resolved


def resolve_dtype(dtype: Any, device):
    import torch

    name = check_dtype(dtype)
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, name)


def split_weights(state: dict, source: str) -> tuple[dict, dict]:
    """Backbone weights (``model.encoder_model.*``) and head weights (the rest of ``model.*``)."""
    backbone, head, other = {}, {}, []
    for key, tensor in state.items():
        if key.startswith("model.encoder_model."):
            backbone[key[len("model.encoder_model."):]] = tensor
        elif key.startswith("model."):
            head[key[len("model."):]] = tensor
        else:
            other.append(key)
    if other:
        raise CheckpointError(f"{source}: unexpected weights outside the model: {', '.join(sorted(other)[:8])}.")
    return backbone, head


def load_head_weights(network, state: dict, source: str) -> None:
    expected = {
        name: tensor for name, tensor in network.state_dict().items() if not name.startswith("encoder_model.")
    }
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        details = [f"missing: {', '.join(missing[:8])}"] if missing else []
        details += [f"unexpected: {', '.join(unexpected[:8])}"] if unexpected else []
        raise CheckpointError(
            f"{source}: the head weights do not match config.json ({'; '.join(details)}); the config and the "
            "weights come from different models, or the file is damaged."
        )
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise CheckpointError(
                f"{source}: weight {name} has shape {tuple(tensor.shape)} but config.json implies "
                f"{tuple(expected[name].shape)}."
            )
    network.load_state_dict({**network.state_dict(), **state})


def _file_versions(paths: Sequence[os.PathLike]) -> str:
    stats = [os.stat(path) for path in paths]
    return ",".join(f"{os.fspath(path)}:{stat.st_size}:{stat.st_mtime_ns}" for path, stat in zip(paths, stats))


def _thresholds(threshold: float | Sequence[float], n_texts: int) -> list[float]:
    if isinstance(threshold, (str, bytes)) or not isinstance(threshold, Iterable):
        return [check_threshold(threshold)] * n_texts
    values = list(threshold)
    if len(values) != n_texts:
        raise ValueError(f"threshold has {len(values)} values for {n_texts} texts; give one or one per text.")
    return [check_threshold(value, f"threshold[{index}]") for index, value in enumerate(values)]


def _shared_labels(labels: Any) -> Any:
    """The labels as a dict or list (read once, as they are reused for every chunk), if shared by all texts."""
    if isinstance(labels, (Mapping, str)) or labels is None or not isinstance(labels, Iterable):
        return labels  # build_request accepts a dict and explains what is wrong with the rest
    labels = list(labels)
    if not all(isinstance(label, str) for label in labels):
        raise TypeError("streaming needs one list (or dict) of labels shared by all texts, not one per text.")
    return labels


def _check_streamable(prompt: Any, examples: Any) -> None:
    if prompt is not None and not isinstance(prompt, str):
        raise TypeError(f"streaming needs one prompt string for all texts, got {type(prompt).__name__}.")
    if examples is not None and not all(isinstance(item, Mapping) for item in examples):
        raise TypeError("streaming needs one list of few-shot examples (dicts) shared by all texts.")


@contextmanager
def _quiet_transformers():
    from transformers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(level)


def _progress(total: int | None):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="text", desc="gliclass")
