"""Every scikit-learn import that is private upstream, in one place (tested with the supported versions)."""

from typing import Any

from sklearn.base import _fit_context
from sklearn.metrics import get_scorer_names
from sklearn.utils._param_validation import HasMethods, Interval, InvalidParameterError, StrOptions
from sklearn.utils._set_output import _get_output_config

__all__ = [
    "HasMethods", "Interval", "InvalidParameterError", "StrOptions", "_fit_context", "_get_output_config",
    "get_scorer_names", "scorer_parts",
]


def scorer_parts(scoring: Any) -> tuple | None:
    """``(score_func, kwargs, sign, response_method)`` of a scorer from make_scorer / get_scorer, else None.

    scikit-learn's own threshold tuner reads the same attributes (``_CurveScorer.from_scorer``).
    """
    names = ("_score_func", "_kwargs", "_sign", "_response_method")
    if not all(hasattr(scoring, name) for name in names):
        return None
    return tuple(getattr(scoring, name) for name in names)
