"""MkDocs hook: what the site shows that is computed when it is built, never committed.

- ``figures/threshold-curves.png``: each label's out-of-fold precision, recall and F1 against the
  threshold, drawn by ``ThresholdCurveDisplay`` with the thresholds a ``MultiLabelThresholdTuner``
  chose. The tuner runs on fixed, seeded scores held by a stand-in classifier, so the build needs no
  model and no network. The PNG exists only in the built site.
- The package version, in every page's footer (and as ``config.extra["version"]`` for templates).
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
from mkdocs.structure.files import File
from sklearn.base import BaseEstimator, ClassifierMixin

import gliclass_integrations
from gliclass_integrations import MultiLabelThresholdTuner
from gliclass_integrations.sklearn import ThresholdCurveDisplay

THRESHOLD_FIGURE = "figures/threshold-curves.png"

# Per label: (share of texts that carry it, mean score of those that do, mean score of those that
# don't). Three labels calibrated unlike one another, the case one shared threshold serves badly.
EXAMPLE_LABELS = {
    "sports": (0.35, 0.75, 0.30),
    "politics": (0.30, 0.35, 0.12),
    "technology": (0.40, 0.88, 0.62),
}
EXAMPLE_TEXTS = 150
SCORE_SPREAD = 0.13


def on_config(config: Any) -> Any:
    version = gliclass_integrations.__version__
    config.extra["version"] = version
    config.copyright = f"gliclass-integrations {version}"
    return config


def on_files(files: Any, config: Any) -> Any:
    files.append(File.generated(config, THRESHOLD_FIGURE, content=threshold_figure_png()))
    return files


def threshold_figure_png() -> bytes:
    tuner, truth = tuned_example()
    display = ThresholdCurveDisplay.from_predictions(
        truth, tuner.oof_scores_, labels=list(tuner.classes_), thresholds=tuner.thresholds_
    )
    display.figure_.suptitle("Out-of-fold scores, one threshold per label")
    png = io.BytesIO()
    display.figure_.savefig(png, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return png.getvalue()


def tuned_example() -> tuple[MultiLabelThresholdTuner, np.ndarray]:
    """A tuner fitted, with 3-fold cross-validation, on seeded scores and labels (no model involved), and the
    labels it was fitted on."""
    rng = np.random.default_rng(0)
    texts = [f"text {i}" for i in range(EXAMPLE_TEXTS)]
    truth = np.column_stack([rng.random(EXAMPLE_TEXTS) < share for share, _, _ in EXAMPLE_LABELS.values()])
    mean_if_carried = np.array([carried for _, carried, _ in EXAMPLE_LABELS.values()])
    mean_if_absent = np.array([absent for _, _, absent in EXAMPLE_LABELS.values()])
    means = np.where(truth, mean_if_carried, mean_if_absent)
    scores = np.clip(means + rng.normal(0, SCORE_SPREAD, truth.shape), 0, 1)
    classifier = GivenScores(dict(zip(texts, scores)), labels=list(EXAMPLE_LABELS))
    return MultiLabelThresholdTuner(classifier, scoring="f1", cv=3).fit(texts, truth.astype(int)), truth.astype(int)


class GivenScores(ClassifierMixin, BaseEstimator):
    """Stands in for a multi-label ``ZeroShotClassifier``: each text's scores are looked up, not computed."""

    def __init__(self, scores: dict[str, np.ndarray] | None = None, labels: list[str] | None = None,
                 threshold: Any = 0.5) -> None:
        self.scores = scores
        self.labels = labels
        self.threshold = threshold

    def fit(self, X: Any, y: Any = None) -> GivenScores:
        self.classes_ = np.asarray(self.labels, dtype=object)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.array([self.scores[text] for text in X])

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X) >= np.asarray(self.threshold)).astype(int)
