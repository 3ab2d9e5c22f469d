"""Apache Spark: ``classify(df, labels, ...)`` adds GLiClass scores to a Spark DataFrame, partition by partition.

Built on ``DataFrame.mapInPandas``: each Python worker takes the model from the package's process-wide
registry (loaded once per worker, then reused for every batch and task it runs), and the rows pass
through whole, in order, with one score column per label and a column of predicted labels added.
Installed with ``pip install "gliclass-integrations[spark]"``. See docs/spark.md.
"""

from __future__ import annotations

try:
    import pyspark as _pyspark  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'gliclass_integrations.spark needs PySpark: pip install "gliclass-integrations[spark]"'
    ) from error

from ._frame import classify

__all__ = ["classify"]
