"""Prometheus metrics (prometheus-client), named per Prometheus conventions: ``agora_<what>_<unit>[_total]``.

Every service exposes them on ``/metrics`` (see agora.web); the relay on its own small HTTP server. Each process
exposes only its own role's metrics (:func:`serve_as`): the relay's gauges are not shown, stuck at 0, by services,
nor the services' by the relay. The metrics are created unregistered and added to the registry per role.
"""
import functools
import threading

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest, REGISTRY

EVENTS_APPENDED = Counter("agora_events_appended", "Events appended to the event store",
                          ["service", "type"], registry=None)
STORE_APPEND_SECONDS = Histogram("agora_store_append_seconds", "Latency of one append call to the event store",
                                 registry=None)
RELAY_PUBLISHED = Counter("agora_relay_published", "Events published by the relay and confirmed by the broker",
                          registry=None)
RELAY_UNROUTABLE = Counter("agora_relay_unroutable", "Events the broker returned as unroutable (no queue bound)",
                           registry=None)
RELAY_LAG = Gauge("agora_relay_lag_events", "Events stored but not yet confirmed by the broker", registry=None)
RELAY_POSITION = Gauge("agora_relay_position", "Last global position confirmed by the broker", registry=None)
SUBSCRIPTION_LAG = Gauge("agora_subscription_lag_events", "Events stored but not yet processed by a subscription",
                         ["service", "subscription"], registry=None)
SUBSCRIPTION_PROCESSED = Counter("agora_subscription_processed_events", "Events processed by a subscription",
                                 ["service", "subscription"], registry=None)
HANDLER_SECONDS = Histogram("agora_handler_seconds", "Time spent in an entrypoint or event handler",
                            ["service", "handler"], registry=None)
HANDLER_FAILURES = Counter("agora_handler_failures", "Failed handler attempts", ["service", "handler"],
                           registry=None)
DLQ_MESSAGES = Gauge("agora_dlq_messages", "Events parked in the dead-letter queue", ["service"], registry=None)
HTTP_REQUESTS = Counter("agora_http_requests", "HTTP requests", ["service", "method", "route", "status"],
                        registry=None)
HTTP_SECONDS = Histogram("agora_http_request_seconds", "HTTP request latency", ["service", "method", "route"],
                         registry=None)


@functools.lru_cache(maxsize=4096)
def child(metric, *labels: str):
    """``metric.labels(*labels)``, memoised for hot paths: prometheus-client returns the same child for the same
    labels anyway (until ``remove``/``clear``, which Agora never calls), but takes a lock to find it."""
    return metric.labels(*labels)


RELAY_METRICS = (RELAY_PUBLISHED, RELAY_UNROUTABLE, RELAY_LAG, RELAY_POSITION)
SERVICE_METRICS = (EVENTS_APPENDED, STORE_APPEND_SECONDS, SUBSCRIPTION_LAG, SUBSCRIPTION_PROCESSED, HANDLER_SECONDS,
                   HANDLER_FAILURES, DLQ_MESSAGES, HTTP_REQUESTS, HTTP_SECONDS)
ROLES = {"relay": RELAY_METRICS, "service": SERVICE_METRICS}
_roles: set = set()
_roles_lock = threading.Lock()


def serve_as(role: str) -> None:
    """Register the metrics of ``role`` (``relay`` or ``service``) with this process's registry (idempotent).
    The relay calls it at start; a service's first ``/metrics`` does it (:func:`exposition`)."""
    with _roles_lock:
        if role in _roles:
            return
        for metric in ROLES[role]:
            REGISTRY.register(metric)
        _roles.add(role)


def exposition() -> tuple[bytes, str]:
    if not _roles:
        serve_as("service")
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
