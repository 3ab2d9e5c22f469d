"""pandas accessors: ``df["text"].gliclass.scores(labels)``, ``.predict``, ``.top_k`` and ``df.gliclass.classify``.

Importing this module registers ``Series.gliclass`` and ``DataFrame.gliclass`` through pandas' own
extension API. Installed with ``pip install "gliclass-integrations[pandas]"``. See docs/pandas.md.
"""

try:
    import pandas as _pandas
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'gliclass_integrations.pandas needs pandas: pip install "gliclass-integrations[pandas]"'
    ) from error

from ._accessors import GLiClassFrameAccessor, GLiClassSeriesAccessor

__all__ = ["GLiClassFrameAccessor", "GLiClassSeriesAccessor"]

_pandas.api.extensions.register_series_accessor("gliclass")(GLiClassSeriesAccessor)
_pandas.api.extensions.register_dataframe_accessor("gliclass")(GLiClassFrameAccessor)
