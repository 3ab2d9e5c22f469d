"""Every scikit-learn import that is private upstream, in one place (tested with the supported versions)."""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils._set_output import _get_output_config

__all__ = ["HasMethods", "Interval", "StrOptions", "_fit_context", "_get_output_config"]
