"""JSON logs with correlation ids. ``setup("ideas")`` once per process; ``with correlation(cid):`` scopes an id."""
from __future__ import annotations

import contextvars
import json
import logging
import sys
import time

_cid: contextvars.ContextVar[str | None] = contextvars.ContextVar("agora_correlation_id", default=None)


class correlation:
    """``with correlation(cid):`` scopes a correlation id (a class: cheaper than a generator on every request)."""

    __slots__ = ("cid", "_token")

    def __init__(self, cid: str | None):
        self.cid = cid

    def __enter__(self) -> str | None:
        self._token = _cid.set(self.cid)
        return self.cid

    def __exit__(self, *exc) -> None:
        _cid.reset(self._token)


def current_correlation() -> str | None:
    return _cid.get()


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
               "level": record.levelname, "service": self.service, "logger": record.name,
               "message": record.getMessage()}
        cid = _cid.get()
        if cid:
            out["correlation_id"] = cid
        for key in ("event_id", "event_type", "tenant", "position", "subscription"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("pika").setLevel(logging.WARNING)
