"""``ZeroShotClassifier``: GLiClass as a scikit-learn classifier, and as a transformer of label scores."""

from __future__ import annotations

import os
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.metrics import accuracy_score
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..core import flatten_labels, shared_logit_cache, shared_model, text_column
from ..core._scores import probabilities
from ._sklearn_compat import Interval, StrOptions, _fit_context, _get_output_config
from ._targets import Target, indicator, multilabel_rows, read_target, single_label_rows

DEFAULT_MODEL = "knowledgator/gliclass-multilang-mini"


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
    labels : list of str or dict, default=None
        The candidate classes, in the order the model reads them. A dict of label groups is flattened
        to ``"group.label"``. When given, ``classes_`` is the same for every cross-validation fold and
        ``y`` may only use these labels; when None, the classes come from ``y``.
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
        Labelled texts ``fit`` keeps from ``(X, y)`` as few-shot examples: every class first, in a
        random order, then random others (stratified), drawn with ``random_state``.
    random_state : int, RandomState instance or None, default=None
        Controls which few-shot examples are drawn.
    batch_size : int, default=32
        Most texts per forward pass.
    device : str, default="auto"
        "auto" (CUDA when available, else the CPU), "cpu", "cuda" or "cuda:N"; resolved when the model is
        first used.
    dtype : {"auto", "float32", "bfloat16", "float16", "float64"}, default="auto"
        "auto" is float32 on the CPU and bfloat16 on CUDA.
    max_length : int, default=1024
        Longest input in tokens; texts are shortened from the end (labels never are).
    progress_bar : bool, default=False
        Show a progress bar while scoring.
    cache : bool, default=True
        Reuse logits computed earlier in this process (for the same model, labels, prompt, examples,
        descriptions, max_length and text).

    Attributes
    ----------
    classes_ : ndarray of str
        Single-label: the classes, sorted (scikit-learn's convention). Multi-label: the labels in the
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

    _parameter_constraints: ClassVar[dict] = {
        "model": [str, os.PathLike],
        "revision": [str, None],
        "labels": [list, tuple, dict, None],
        "multi_label": ["boolean", StrOptions({"auto"})],
        "threshold": [Interval(Real, 0, 1, closed="both"), list, tuple, np.ndarray, dict],
        "prompt": [str, None],
        "label_descriptions": [dict, None],
        "n_examples": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "dtype": [StrOptions({"auto", "float32", "bfloat16", "float16", "float64"})],
        "max_length": [Interval(Integral, 1, None, closed="left")],
        "progress_bar": ["boolean"],
        "cache": ["boolean"],
    }

    def __init__(
        self,
        model: str | os.PathLike = DEFAULT_MODEL,
        *,
        revision: str | None = None,
        labels: list[str] | dict | None = None,
        multi_label: bool | str = "auto",
        threshold: float | list[float] | dict[str, float] = 0.5,
        prompt: str | None = None,
        label_descriptions: dict[str, str] | None = None,
        n_examples: int = 0,
        random_state: Any = None,
        batch_size: int = 32,
        device: str = "auto",
        dtype: str = "auto",
        max_length: int = 1024,
        progress_bar: bool = False,
        cache: bool = True,
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
        labels = None if self.labels is None else flatten_labels(self.labels)
        texts = None if X is None else _texts(X)
        if texts is None and (y is not None or self.n_examples):
            raise ValueError("X is None; fit needs the texts that y labels (and that few-shot examples come from).")
        target = read_target(y, labels, self.multi_label, None if texts is None else len(texts))
        if self.n_examples and target.row_labels is None:
            raise ValueError(f"n_examples={self.n_examples} needs labelled texts: pass y to fit.")
        self.multi_label_ = target.multi_label
        self.classes_ = np.array(target.classes, dtype=object)
        self.model_labels_ = target.model_labels
        self._fitted_labels = labels
        self._thresholds()  # a bad threshold fails now, not at the first predict
        self.examples_ = self._draw_examples(texts, target) if self.n_examples else []
        return self

    def _draw_examples(self, texts: list[str], target: Target) -> list[dict]:
        chosen = stratified_sample(target.row_labels, self.n_examples, check_random_state(self.random_state))
        order = {label: j for j, label in enumerate(target.model_labels)}
        return [
            {"text": texts[i], "labels": sorted(target.row_labels[i], key=order.__getitem__)} for i in chosen
        ]

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

    def predict(self, X: Any) -> np.ndarray:
        """The class of each text, or (multi-label) an indicator matrix from the threshold(s).

        Parameters
        ----------
        X : list, ndarray, Series or one-column DataFrame of str

        Returns
        -------
        ndarray of shape (n_samples,) of str, or (n_samples, n_classes) of int
        """
        scores = self.predict_proba(X)
        if self.multi_label_:
            return (scores >= self._thresholds()).astype(int)
        return self.classes_[np.argmax(scores, axis=1)]

    def transform(self, X: Any) -> np.ndarray:
        """The score matrix of :meth:`predict_proba`, as features for a downstream estimator.

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
        Otherwise ``y`` is read as in :meth:`fit`.

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
        """The names of :meth:`transform`'s columns: the classes.

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

        This is ``ClassifierMixin.score``'s definition. ``y`` is read as in :meth:`fit`, so a DataFrame
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
            truth = np.array([row[0] for row in single_label_rows(y)], dtype=object)
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
        labels = None if self.labels is None else flatten_labels(self.labels)
        if labels != self._fitted_labels:
            raise ValueError("labels changed since fit; call fit again so classes_ match the new labels.")
        texts = _texts(X)
        model = shared_model(
            self.model, revision=self.revision, device=self.device, dtype=self.dtype, max_length=self.max_length
        )
        logits = model.logits(
            texts, list(self.model_labels_), prompt=self.prompt, examples=self.examples_ or None,
            label_descriptions=self.label_descriptions, batch_size=self.batch_size, progress_bar=self.progress_bar,
            cache=shared_logit_cache() if self.cache else None,
        )
        column = {label: j for j, label in enumerate(self.model_labels_)}
        return logits[:, [column[label] for label in self.classes_]]

    def _thresholds(self) -> np.ndarray | float:
        threshold = self.threshold
        if isinstance(threshold, Real):
            return float(threshold)
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
            values = np.array([threshold[label] for label in self.classes_], dtype=float)
        else:
            values = np.asarray(threshold, dtype=float)
            if values.shape != (len(self.classes_),):
                raise ValueError(
                    f"threshold has {values.size} values for {len(self.classes_)} classes; give one per class, "
                    "in classes_ order."
                )
        if np.any((values < 0) | (values > 1)) or np.isnan(values).any():
            raise ValueError(f"every threshold must be in [0, 1], got {values.tolist()}.")
        return values


def stratified_sample(rows: list[tuple[str, ...]], n: int, random_state: np.random.RandomState) -> list[int]:
    """Row indices: one per class in a random class order, round after round, then any others at random."""
    if n > len(rows):
        raise ValueError(f"n_examples={n} but fit got only {len(rows)} labelled texts.")
    by_class: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        for label in row:
            by_class.setdefault(label, []).append(index)
    queues = [list(random_state.permutation(indices)) for _, indices in sorted(by_class.items())]
    queues = [queues[i] for i in random_state.permutation(len(queues))]
    chosen: list[int] = []
    taken: set[int] = set()
    while len(chosen) < n and any(queues):
        for queue in queues:
            while queue and queue[0] in taken:
                queue.pop(0)
            if queue and len(chosen) < n:
                taken.add(queue[0])
                chosen.append(int(queue.pop(0)))
    rest = [i for i in random_state.permutation(len(rows)) if i not in taken]
    return chosen + [int(i) for i in rest[: n - len(chosen)]]


def _is_series(X: Any) -> bool:
    return hasattr(X, "index") and hasattr(X, "iloc") and not hasattr(X, "columns")


def _texts(X: Any) -> list[str]:
    texts = text_column(X)
    if not texts:
        raise ValueError("X is empty: there are no texts to classify.")
    return texts
