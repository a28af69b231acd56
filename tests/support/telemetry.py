"""In-memory OpenTelemetry for tests: what an exporter would have sent to Application Insights.

The SDK's global tracer and meter providers can be set once per process, so they are set
once (on first use) with in-memory exporters, and :func:`captured` clears them per test. The
log handler sits on the ``rotation`` logger with the same filter production installs
(:func:`composition.install_log_attributes`), the same handler class the distro puts there
with ``logger_name="rotation"``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from composition import install_log_attributes


@dataclass
class Exporters:
    spans: InMemorySpanExporter
    logs: InMemoryLogRecordExporter
    metrics: InMemoryMetricReader
    handler: LoggingHandler


@functools.cache
def _installed() -> Exporters:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(tracer_provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    logs = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
    return Exporters(spans, logs, reader, handler)


@dataclass
class Captured:
    """What the exporters received during one ``with captured()`` block."""

    exporters: Exporters

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporters.spans.get_finished_spans())

    def logs(self) -> list[ReadableLogRecord]:
        return list(self.exporters.logs.get_finished_logs())

    def metric_points(self) -> list[tuple[str, dict[str, Any], Any]]:
        """(metric name, attributes, value) for every data point collected now."""
        data = self.exporters.metrics.get_metrics_data()
        points: list[tuple[str, dict[str, Any], Any]] = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        value = getattr(point, "value", None)
                        points.append((metric.name, dict(point.attributes or {}), value))
        return points


@contextmanager
def captured() -> Iterator[Captured]:
    exporters = _installed()
    exporters.spans.clear()
    exporters.logs.clear()
    exporters.metrics.get_metrics_data()  # drop what earlier tests counted (delta view)
    logger = logging.getLogger("rotation")
    logger.addHandler(exporters.handler)
    install_log_attributes(logger)
    try:
        yield Captured(exporters)
    finally:
        logger.removeHandler(exporters.handler)
