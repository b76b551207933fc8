"""Prometheus metrics (prometheus-client), named per Prometheus conventions: ``agora_<what>_<unit>[_total]``.

Every service exposes them on ``/metrics`` (see agora.web); the relay on its own small HTTP server.
"""
import functools

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest, REGISTRY

EVENTS_APPENDED = Counter("agora_events_appended", "Events appended to the event store",
                          ["service", "type"])
STORE_APPEND_SECONDS = Histogram("agora_store_append_seconds", "Latency of one append call to the event store")
RELAY_PUBLISHED = Counter("agora_relay_published", "Events published by the relay and confirmed by the broker")
RELAY_UNROUTABLE = Counter("agora_relay_unroutable", "Events the broker returned as unroutable (no queue bound)")
RELAY_LAG = Gauge("agora_relay_lag_events", "Events stored but not yet confirmed by the broker")
RELAY_POSITION = Gauge("agora_relay_position", "Last global position confirmed by the broker")
SUBSCRIPTION_LAG = Gauge("agora_subscription_lag_events", "Events stored but not yet processed by a subscription",
                         ["service", "subscription"])
SUBSCRIPTION_PROCESSED = Counter("agora_subscription_processed_events", "Events processed by a subscription",
                                 ["service", "subscription"])
HANDLER_SECONDS = Histogram("agora_handler_seconds", "Time spent in an entrypoint or event handler",
                            ["service", "handler"])
HANDLER_FAILURES = Counter("agora_handler_failures", "Failed handler attempts", ["service", "handler"])
DLQ_MESSAGES = Gauge("agora_dlq_messages", "Events parked in the dead-letter queue", ["service"])
HTTP_REQUESTS = Counter("agora_http_requests", "HTTP requests", ["service", "method", "route", "status"])
HTTP_SECONDS = Histogram("agora_http_request_seconds", "HTTP request latency", ["service", "method", "route"])


@functools.lru_cache(maxsize=4096)
def child(metric, *labels: str):
    """``metric.labels(*labels)``, memoised for hot paths: prometheus-client returns the same child for the same
    labels anyway (until ``remove``/``clear``, which Agora never calls), but takes a lock to find it."""
    return metric.labels(*labels)


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
