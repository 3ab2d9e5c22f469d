"""``ZeroShotClassifier``: GLiClass as a scikit-learn classifier, and as a transformer of label scores."""

from __future__ import annotations

import os
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.metrics import accuracy_score
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..core import (
    DEFAULT_MAX_LENGTH,
    DEFAULT_MODEL,
    check_chunk_aggregation,
    check_descriptions,
    check_device,
    check_dtype,
    check_long_texts,
    check_missing,
    check_positive_int,
    check_prompt,
    check_threshold,
    flatten_labels,
    probabilities,
    select_examples,
    shared_logit_cache,
    shared_model,
    text_column,
    text_values,
)
from ._sklearn_compat import Interval, InvalidParameterError, StrOptions, _fit_context, _get_output_config
from ._targets import Target, indicator, multilabel_rows, read_target, single_label_values

NAME = "ZeroShotClassifier"
PER_LABEL = (list, tuple, np.ndarray, dict)  # threshold values, one per class


class ZeroShotClassifier(ClassifierMixin, TransformerMixin, BaseEstimator):
    """Zero-shot and few-shot text classification with a GLiClass model.

    ``fit`` trains nothing: it fixes the classes (from ``labels`` or ``y``) and, with
    ``n_examples > 0``, keeps a few labelled texts from ``(X, y)`` that the model reads as in-context
    examples at predict time. The model itself is loaded on first use, once per process for each
    (model, revision, device, dtype), and shared by clones, so cross-validation and grid searches do
    not reload it. Logits are cached by everything that changes them but the threshold, so a search
    over ``threshold`` runs the model once per text and few-shot context.

    Parameters
    ----------
    model : str or path, default="knowledgator/gliclass-multilang-mini"
        Hugging Face hub id or local checkpoint directory.
    revision : str, default=None
        Branch, tag or commit of a hub id.
    labels : array-like of str or dict, default=None
        The candidate classes, in the order the model reads them: a list, tuple, array, pandas Index or
        Series (e.g. ``df["topic"].unique()``), or a dict of label groups, flattened to
        ``"group.label"``. When given, ``classes_`` is the same for every cross-validation fold and
        ``y`` may only use these labels, or integer codes of them (code k is the k-th label in sorted
        order, which is how scikit-learn's ``LabelEncoder`` numbers string classes: see
        docs/sklearn.md). When None, the classes come from ``y``, which must then hold label strings.
    multi_label : bool or "auto", default="auto"
        True: independent sigmoid scores and an indicator-matrix ``predict``; False: a softmax over the
        labels and one class per text. "auto" follows ``y`` (2-D or label lists mean multi-label) and
        is single-label when ``fit`` gets no ``y``.
    threshold : float, list of float or dict of str to float, default=0.5
        Multi-label cut-off (score >= threshold): one for all labels, one per class in ``classes_``
        order, or ``{label: threshold}`` for every class. Single-label ``predict`` is an argmax and does
        not use it (for binary tasks see ``TunedThresholdClassifierCV``, docs/sklearn.md).
    prompt : str, default=None
        A task description the model reads with every text.
    label_descriptions : dict of str to str, default=None
        ``{label: description}`` for some or all labels.
    n_examples : int, default=0
        Labelled texts ``fit`` keeps from ``(X, y)`` as few-shot examples, drawn with ``random_state``
        by the core's stratified selector (every class before any class twice; see docs/guide.md).
    random_state : int, RandomState instance or None, default=None
        Controls which few-shot examples are drawn.
    batch_size : int, default=None
        Most texts per forward pass. None: batches are limited by the model's token budget only (16,384
        tokens on CUDA, 1,024 on the CPU), as in the core.
    device : str, default="auto"
        "auto" (CUDA when available, else the CPU), "cpu", "cuda" or "cuda:N"; resolved when the model is
        first used.
    dtype : {"auto", "float32", "bfloat16", "float16", "float64"}, default="auto"
        "auto" is float32 on the CPU and bfloat16 on CUDA; "fp32", "bf16", "fp16" and "fp64" are
        accepted too. bfloat16 on the CPU pays only with AVX-512 BF16 or AMX ("Fast CPU modes" in the
        guide).
    max_length : int, default=1024
        Longest input in tokens; texts are shortened from the end (labels never are).
    progress_bar : bool, default=False
        Show a progress bar while scoring.
    cache : bool, default=True
        Reuse logits computed earlier in this process (for the same model, labels, prompt, examples,
        descriptions, max_length and text).
    missing : {"raise", "skip"}, default="raise"
        A missing text in ``X`` (None, NaN, pandas NA) is an error naming its row; "skip" gives its row
        NaN scores (``predict``: None, or a row of NaN for multi-label) and keeps it out of few-shot
        examples. Empty strings are texts, and are scored.
    long_texts : {"truncate", "chunk"}, default="truncate"
        A text longer than ``max_length`` beside its labels is shortened from its end, or with "chunk"
        scored in overlapping windows whose logits are combined by ``chunk_aggregation``.
    chunk_aggregation : {"max", "mean"}, default="max"
        How the windows of a chunked text make one score per label.

    Attributes
    ----------
    classes_ : ndarray
        Single-label: the classes, sorted (scikit-learn's convention), as label strings, or as the
        integer codes 0 … n-1 when ``fit`` got integer-coded ``y``. Multi-label: the labels in the
        order of ``labels`` (or of ``y``'s columns).
    multi_label_ : bool
        Whether the fitted task is multi-label.
    model_labels_ : tuple of str
        The labels in the order the model reads them (the order of ``labels``).
    examples_ : list of dict
        The few-shot examples, ``{"text": ..., "labels": [...]}``; empty for zero-shot.

    See Also
    --------
    MultiLabelThresholdTuner : Cross-validated per-label thresholds for a multi-label classifier.

    Examples
    --------
    >>> clf = ZeroShotClassifier(checkpoint_dir, labels=["sports", "politics", "tech"]).fit(["ignored"])
    >>> clf.classes_
    array(['politics', 'sports', 'tech'], dtype=object)
    >>> clf.predict_proba(["The match went to extra time."]).shape
    (1, 3)
    """

    # Settings every adapter shares are checked by the core's rules in ``_check_settings`` (the same
    # values are accepted and refused as by the spaCy component and the CLI), hence "no_validation".
    _parameter_constraints: ClassVar[dict] = {
        "model": [str, os.PathLike],
        "revision": [str, None],
        "labels": "no_validation",
        "multi_label": ["boolean", StrOptions({"auto"})],
        "threshold": "no_validation",
        "prompt": [str, None],
        "label_descriptions": "no_validation",
        "n_examples": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
        "batch_size": "no_validation",
        "device": "no_validation",
        "dtype": "no_validation",
        "max_length": "no_validation",
        "progress_bar": ["boolean"],
        "cache": ["boolean"],
        "missing": "no_validation",
        "long_texts": "no_validation",
        "chunk_aggregation": "no_validation",
    }

    def __init__(
        self,
        model: str | os.PathLike = DEFAULT_MODEL,
        *,
        revision: str | None = None,
        labels: Any = None,
        multi_label: bool | str = "auto",
        threshold: float | list[float] | dict[str, float] = 0.5,
        prompt: str | None = None,
        label_descriptions: dict[str, str] | None = None,
        n_examples: int = 0,
        random_state: Any = None,
        batch_size: int | None = None,
        device: str = "auto",
        dtype: str = "auto",
        max_length: int = DEFAULT_MAX_LENGTH,
        progress_bar: bool = False,
        cache: bool = True,
        missing: str = "raise",
        long_texts: str = "truncate",
        chunk_aggregation: str = "max",
    ) -> None:
        self.model = model
        self.revision = revision
        self.labels = labels
        self.multi_label = multi_label
        self.threshold = threshold
        self.prompt = prompt
        self.label_descriptions = label_descriptions
        self.n_examples = n_examples
        self.random_state = random_state
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype
        self.max_length = max_length
        self.progress_bar = progress_bar
        self.cache = cache
        self.missing = missing
        self.long_texts = long_texts
        self.chunk_aggregation = chunk_aggregation

    # -- fit ----------------------------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None) -> ZeroShotClassifier:
        """Fix the classes and keep few-shot examples; no model is trained or run.

        Parameters
        ----------
        X : list, ndarray, Series or one-column DataFrame of str, or None
            The texts ``y`` labels. May be None for zero-shot use (``labels`` given, no ``y``,
            ``n_examples=0``).
        y : array-like, list of label lists, indicator matrix or DataFrame, default=None
            Single-label: one label string per text. Multi-label: a list of label lists, an indicator
            matrix whose columns follow ``labels``, or a DataFrame of 0/1 columns named by label.

        Returns
        -------
        self : ZeroShotClassifier
        """
        labels = self._check_settings()
        texts = None if X is None else self._texts(X)[0]
        if texts is None and (y is not None or self.n_examples):
            raise ValueError("X is None; fit needs the texts that y labels (and that few-shot examples come from).")
        target = read_target(y, labels, self.multi_label, None if texts is None else len(texts))
        if self.n_examples and target.row_labels is None:
            raise ValueError(f"n_examples={self.n_examples} needs labelled texts: pass y to fit.")
        self.multi_label_ = target.multi_label
        coded = bool(target.classes) and not isinstance(target.classes[0], str)
        self.classes_ = np.array(target.classes, dtype=np.int64 if coded else object)
        self.model_labels_ = target.model_labels
        self._class_labels = target.class_labels
        self._fitted_labels = labels
        self._thresholds()  # a bad threshold fails now, not at the first predict
        self.examples_ = self._draw_examples(texts, target) if self.n_examples else []
        return self

    def _check_settings(self) -> tuple[str, ...] | None:
        """The settings shared with the other adapters, checked by the core's rules; returns the labels.

        The core's message is kept; the error is scikit-learn's InvalidParameterError (a ValueError and a
        TypeError), as for the checks of ``_parameter_constraints``.
        """
        try:
            labels = None if self.labels is None else flatten_labels(self.labels, where=f"{NAME}: labels")
            if not isinstance(self.threshold, PER_LABEL):  # per-label values are checked against classes_
                check_threshold(self.threshold, f"{NAME}: threshold")
            check_positive_int(self.batch_size, f"{NAME}: batch_size", optional=True)
            check_positive_int(self.max_length, f"{NAME}: max_length")
            check_dtype(self.dtype, f"{NAME}: dtype")
            check_device(self.device, f"{NAME}: device")
            check_prompt(self.prompt, f"{NAME}: prompt")
            check_descriptions(self.label_descriptions, labels, f"{NAME}: label_descriptions")
            check_missing(self.missing, f"{NAME}: missing")
            check_long_texts(self.long_texts, f"{NAME}: long_texts")
            check_chunk_aggregation(self.chunk_aggregation, f"{NAME}: chunk_aggregation")
        except (TypeError, ValueError) as error:
            raise InvalidParameterError(str(error)) from None
        return labels

    def _draw_examples(self, texts: list[str], target: Target) -> list[dict]:
        return select_examples(
            texts, target.row_labels, self.n_examples, target.model_labels,
            random_state=check_random_state(self.random_state), where=f"{NAME}: n_examples",
        )

    # -- scores -------------------------------------------------------------------------------------

    def decision_function(self, X: Any) -> np.ndarray:
        """Raw label logits.

        Parameters
        ----------
        X : list, ndarray, Series or one-column DataFrame of str

        Returns
        -------
        ndarray of shape (n_samples, n_classes), or (n_samples,) for a single-label binary task
            Columns follow ``classes_``. Binary: ``logit[classes_[1]] - logit[classes_[0]]``, so a
            positive value means ``classes_[1]``, as the softmax does.
        """
        logits = self._logits(X).astype(np.float64)
        if not self.multi_label_ and len(self.classes_) == 2:
            return logits[:, 1] - logits[:, 0]
        return logits

    def predict_proba(self, X: Any) -> np.ndarray:
        """Label scores: a softmax over the classes, or independent sigmoids when multi-label.

        Parameters
        ----------
        X : list, ndarray, Series or one-column DataFrame of str

        Returns
        -------
        ndarray of shape (n_samples, n_classes), float64
            Columns follow ``classes_``; single-label rows sum to 1.
        """
        return probabilities(self._logits(X).astype(np.float64), self.multi_label_)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """The logarithm of ``predict_proba``, computed from the logits (no underflow to -inf).

        Parameters
        ----------
        X : list, ndarray, Series or one-column DataFrame of str

        Returns
        -------
        ndarray of shape (n_samples, n_classes), float64
        """
        logits = self._logits(X).astype(np.float64)
        if self.multi_label_:
            return -np.logaddexp(0.0, -logits)
        return logits - logsumexp(logits, axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """The class of each text, or (multi-label) an indicator matrix from the threshold(s).

        Parameters
        ----------
        X : list, ndarray, Series or one-column DataFrame of str

        Returns
        -------
        ndarray of shape (n_samples,) of str, or (n_samples, n_classes) of int
            With ``missing="skip"``, a skipped text's class is None, or its row of the indicator matrix
            NaN (the matrix is then float).
        """
        scores = self.predict_proba(X)
        skipped = np.isnan(scores).any(axis=1)  # missing texts, with missing="skip"
        if self.multi_label_:
            predicted = (scores >= self._thresholds()).astype(int)
            return np.where(skipped[:, None], np.nan, predicted) if skipped.any() else predicted
        predicted = self.classes_[np.argmax(np.nan_to_num(scores, nan=0.0), axis=1)]
        if skipped.any():
            predicted = predicted.astype(object)
            predicted[skipped] = None
        return predicted

    def transform(self, X: Any) -> np.ndarray:
        """The score matrix of ``predict_proba``, as features for a downstream estimator.

        With ``set_output(transform="pandas")`` it is a DataFrame with one column per class, indexed
        like ``X`` when ``X`` is a Series or DataFrame.

        Parameters
        ----------
        X : list, ndarray, Series or one-column DataFrame of str

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        scores = self.predict_proba(X)
        if _is_series(X) and _get_output_config("transform", self)["dense"] == "pandas":
            # scikit-learn 1.6 keeps the index of a DataFrame input only, not of a Series
            import pandas as pd

            return pd.DataFrame(scores, index=X.index, columns=self.get_feature_names_out())
        return scores

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """Fit, then return the score matrix of ``X``.

        In a Pipeline, a step before the final estimator receives the final estimator's target as
        ``y``. With ``labels`` given and ``n_examples=0`` nothing in ``fit`` depends on ``y``, so it is
        not read here: the step describes texts by their scores for ``labels`` whatever ``y`` is.
        Otherwise ``y`` is read as in ``fit``.

        Parameters
        ----------
        X : list, ndarray, Series or one-column DataFrame of str
        y : array-like, default=None
        **fit_params : dict
            Not used; scikit-learn passes none unless asked to.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        uses_y = self.labels is None or self.n_examples
        return self.fit(X, y if uses_y else None, **fit_params).transform(X)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The names of ``transform``'s columns: the classes.

        Parameters
        ----------
        input_features : ignored

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self)
        return np.asarray([str(label) for label in self.classes_], dtype=object)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy; for a multi-label task, subset accuracy (every label of a text right).

        This is ``ClassifierMixin.score``'s definition. ``y`` is read as in ``fit``, so a DataFrame
        or label lists are matched to ``classes_`` by name.

        Parameters
        ----------
        X : list, ndarray, Series or one-column DataFrame of str
        y : array-like, list of label lists, indicator matrix or DataFrame
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float
        """
        check_is_fitted(self)
        if self.multi_label_:
            truth = indicator(multilabel_rows(y, self.model_labels_), self.classes_)
        else:
            truth = np.asarray(single_label_values(y))
            known = set(self.classes_.tolist())
            unknown = [index for index, value in enumerate(truth) if value not in known]
            if unknown:
                first = unknown[0]
                raise ValueError(f"y[{first}] is {truth[first]!r}, which is not a class ({self.classes_.tolist()}).")
        return float(accuracy_score(truth, self.predict(X), sample_weight=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.classifier_tags.multi_label = True
        tags.target_tags.required = False  # zero-shot: labels alone are enough
        return tags

    # -- internals ----------------------------------------------------------------------------------

    def _logits(self, X: Any) -> np.ndarray:
        """Float32 logits with columns in ``classes_`` order."""
        check_is_fitted(self)
        labels = None if self.labels is None else flatten_labels(self.labels, where=f"{NAME}: labels")
        if labels != self._fitted_labels:
            raise ValueError("labels changed since fit; call fit again so classes_ match the new labels.")
        texts = text_values(X)
        if not texts:
            raise ValueError("X is empty: there are no texts to classify.")
        model = shared_model(
            self.model, revision=self.revision, device=self.device, dtype=self.dtype, max_length=self.max_length
        )
        logits = model.logits(
            texts, list(self.model_labels_), prompt=self.prompt, examples=self.examples_ or None,
            label_descriptions=self.label_descriptions, batch_size=self.batch_size, progress_bar=self.progress_bar,
            cache=shared_logit_cache() if self.cache else None, missing=self.missing, long_texts=self.long_texts,
            chunk_aggregation=self.chunk_aggregation, row_names="X",
        )
        column = {label: j for j, label in enumerate(self.model_labels_)}
        class_labels = getattr(self, "_class_labels", self.classes_)  # estimators pickled before integer codes
        return logits[:, [column[label] for label in class_labels]]

    def _texts(self, X: Any) -> tuple[list[str], frozenset[int]]:
        """The texts of ``X`` ("" where a missing one is skipped) and the skipped rows."""
        texts, skipped = text_column(X, missing=self.missing)
        if not texts:
            raise ValueError("X is empty: there are no texts to classify.")
        return texts, skipped

    def _thresholds(self) -> np.ndarray | float:
        threshold = self.threshold
        if not isinstance(threshold, PER_LABEL):
            return check_threshold(threshold, f"{NAME}: threshold")
        if not self.multi_label_:
            raise ValueError(
                "A per-label threshold applies to multi-label classification only; a single-label predict is an "
                "argmax (for binary tasks, tune the decision threshold with TunedThresholdClassifierCV)."
            )
        if isinstance(threshold, dict):
            missing = [label for label in self.classes_ if label not in threshold]
            unknown = [label for label in threshold if label not in set(self.classes_)]
            if missing or unknown:
                raise ValueError(
                    f"threshold must give one value for every class; missing: {missing}, not a class: {unknown}."
                )
            values = [threshold[label] for label in self.classes_]
            names = [f"{NAME}: threshold[{label!r}]" for label in self.classes_]
        else:
            values = list(np.asarray(threshold, dtype=object).ravel())
            if np.ndim(threshold) != 1 or len(values) != len(self.classes_):
                raise ValueError(
                    f"{NAME}: threshold has {len(values)} values for {len(self.classes_)} classes; give one per "
                    "class, in classes_ order."
                )
            names = [f"{NAME}: threshold[{index}]" for index in range(len(values))]
        return np.array([check_threshold(value, name) for value, name in zip(values, names)])


def _is_series(X: Any) -> bool:
    return hasattr(X, "index") and hasattr(X, "iloc") and not hasattr(X, "columns")



