"""GLiClass zero-shot and few-shot text classification for scikit-learn, spaCy, pandas and the command line.

Importing the package is cheap: torch and transformers load when a model is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["GLiClass", "MultiLabelThresholdTuner", "ThresholdCurveDisplay", "ZeroShotClassifier", "__version__"]

if TYPE_CHECKING:
    from .core import GLiClass
    from .sklearn import MultiLabelThresholdTuner, ThresholdCurveDisplay, ZeroShotClassifier

_LAZY = {
    "GLiClass": "core",
    "ZeroShotClassifier": "sklearn",  # needs the [sklearn] extra
    "MultiLabelThresholdTuner": "sklearn",
    "ThresholdCurveDisplay": "sklearn",  # draws with matplotlib: the [plot] extra
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'gliclass_integrations' has no attribute {name!r}")
