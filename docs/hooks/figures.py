"""MkDocs hook: what the site shows that is computed when it is built, never committed.

- ``figures/threshold-curves.png``: each label's out-of-fold F1 against the threshold, as searched by a
  ``MultiLabelThresholdTuner``. The tuner runs on fixed, seeded scores held by a stand-in classifier,
  so the build needs no model and no network. The PNG exists only in the built site.
- The package version, in every page's footer (and as ``config.extra["version"]`` for templates).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mkdocs.structure.files import File
from sklearn.base import BaseEstimator, ClassifierMixin

import gliclass_integrations
from gliclass_integrations import MultiLabelThresholdTuner

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
    figure = Figure(figsize=(6, 3.5))
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    draw_threshold_curves(tuned_example(), axis)
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return png.getvalue()


def draw_threshold_curves(tuner: MultiLabelThresholdTuner, axis: Any) -> None:
    """Each label's out-of-fold F1 against the threshold (from ``cv_results_``), its chosen threshold dotted.

    To be replaced by ``gliclass_integrations.sklearn.ThresholdCurveDisplay`` once it exists: import it
    above, and call it here on ``tuner`` with ``ax=axis`` instead of this body.
    """
    results = tuner.cv_results_
    for label, chosen in zip(tuner.classes_, tuner.thresholds_):
        rows = results["label"] == label
        (line,) = axis.plot(results["threshold"][rows], results["score"][rows], drawstyle="steps-post", label=label)
        axis.axvline(chosen, color=line.get_color(), linestyle=":")
    axis.set(xlabel="threshold", ylabel="out-of-fold F1", title="One threshold per label")
    axis.legend()


def tuned_example() -> MultiLabelThresholdTuner:
    """A tuner fitted, with 3-fold cross-validation, on seeded scores and labels (no model involved)."""
    rng = np.random.default_rng(0)
    texts = [f"text {i}" for i in range(EXAMPLE_TEXTS)]
    truth = np.column_stack([rng.random(EXAMPLE_TEXTS) < share for share, _, _ in EXAMPLE_LABELS.values()])
    mean_if_carried = np.array([carried for _, carried, _ in EXAMPLE_LABELS.values()])
    mean_if_absent = np.array([absent for _, _, absent in EXAMPLE_LABELS.values()])
    means = np.where(truth, mean_if_carried, mean_if_absent)
    scores = np.clip(means + rng.normal(0, SCORE_SPREAD, truth.shape), 0, 1)
    classifier = GivenScores(dict(zip(texts, scores)), labels=list(EXAMPLE_LABELS))
    return MultiLabelThresholdTuner(classifier, scoring="f1", cv=3).fit(texts, truth.astype(int))


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
