"""Ray Data: ``dataset.map_batches(GLiClassPredictor, fn_constructor_kwargs={...}, concurrency=...)``.

``GLiClassPredictor`` is a callable class, the form Ray Data runs in a pool of actors: each actor
loads the model once, in its constructor, and scores every batch it is given, appending one score
column per label (and a column of predicted labels) to the batch. Installed with
``pip install "gliclass-integrations[ray]"``. See docs/ray.md.
"""

from __future__ import annotations

try:
    import ray as _ray  # noqa: F401  (the extra; the predictor itself needs only the core)
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError('gliclass_integrations.ray needs Ray: pip install "gliclass-integrations[ray]"') from error

from ._predictor import GLiClassPredictor

__all__ = ["GLiClassPredictor"]
