"""GLiClass for scikit-learn: a zero-shot / few-shot classifier, a per-label threshold tuner, and a plot of thresholds.

Installed with ``pip install "gliclass-integrations[sklearn]"`` (``[plot]`` adds matplotlib for
``ThresholdCurveDisplay``). See docs/sklearn.md.
"""

try:
    import sklearn  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'gliclass_integrations.sklearn needs scikit-learn: pip install "gliclass-integrations[sklearn]"'
    ) from error

from ._display import ThresholdCurveDisplay
from ._estimator import ZeroShotClassifier
from ._threshold import MultiLabelThresholdTuner

__all__ = ["MultiLabelThresholdTuner", "ThresholdCurveDisplay", "ZeroShotClassifier"]
