"""Spark sessions in tests that do not leak one test's environment into the next.

Spark's Python workers inherit the environment of the JVM, which is fixed when the JVM starts, and
pyspark keeps that JVM running after ``SparkSession.stop()``. A session left by one test would hand its
environment (``PYTHONPATH``, ``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``) to the workers of the next one.
"""

from __future__ import annotations

import sys


def shut_down_spark() -> None:
    """Stop the active Spark session and its JVM; the next session starts a JVM with today's environment."""
    if "pyspark" not in sys.modules:
        return
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()
    if SparkContext._active_spark_context is not None:
        SparkContext._active_spark_context.stop()
    gateway = SparkContext._gateway
    if gateway is not None:
        gateway.shutdown()
        process = getattr(gateway, "proc", None)
        if process is not None:
            process.stdin.close()  # the JVM exits when the pipe from its launcher closes
            process.wait(timeout=60)
        SparkContext._gateway = None
        SparkContext._jvm = None
