"""GLiClass for scikit-learn: a zero-shot / few-shot classifier and a per-label threshold tuner.

Installed with ``pip install "gliclass-integrations[sklearn]"``. See docs/sklearn.md.
"""

try:
    import sklearn  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'gliclass_integrations.sklearn needs scikit-learn: pip install "gliclass-integrations[sklearn]"'
    ) from error

from ._estimator import ZeroShotClassifier
from ._threshold import MultiLabelThresholdTuner

__all__ = ["MultiLabelThresholdTuner", "ZeroShotClassifier"]
