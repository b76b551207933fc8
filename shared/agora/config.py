"""Configuration from the environment (twelve-factor). Every knob has a sensible embedded default.

| variable | default |
|---|---|
| AGORA_MONGO_URI | mongodb://127.0.0.1:27017/?retryWrites=false&directConnection=true |
| AGORA_MONGO_DB | agora (read side: projections, checkpoints, keys) |
| AGORA_EVENTS_DB | = AGORA_MONGO_DB (the event log's database; production puts it apart, append-only by role) |
| AGORA_AMQP_URI | amqp://guest:guest@127.0.0.1:5672/ |
| AGORA_HTTP_PORT | 8000 |
| AGORA_JWT_SECRET | a development secret (set a real one in production) |
| AGORA_SERVICE_NAME | set per service |
| AGORA_LOG_LEVEL | INFO |
| AGORA_PUBLIC_URL | http://localhost:{AGORA_HTTP_PORT} |
| AGORA_TENANTS | demo |
| AGORA_DEFAULT_LANGUAGE | en |
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_MONGO_URI = "mongodb://127.0.0.1:27017/?retryWrites=false&directConnection=true"
DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"
DEV_JWT_SECRET = "agora-development-secret-change-me-in-production"


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    mongo_uri: str = field(default_factory=lambda: _env("AGORA_MONGO_URI", DEFAULT_MONGO_URI))
    mongo_db: str = field(default_factory=lambda: _env("AGORA_MONGO_DB", "agora"))
    events_db: str = field(default_factory=lambda: _env("AGORA_EVENTS_DB", _env("AGORA_MONGO_DB", "agora")))
    amqp_uri: str = field(default_factory=lambda: _env("AGORA_AMQP_URI", DEFAULT_AMQP_URI))
    http_port: int = field(default_factory=lambda: int(_env("AGORA_HTTP_PORT", "8000")))
    jwt_secret: str = field(default_factory=lambda: _env("AGORA_JWT_SECRET", DEV_JWT_SECRET))
    service_name: str = field(default_factory=lambda: _env("AGORA_SERVICE_NAME", "agora"))
    log_level: str = field(default_factory=lambda: _env("AGORA_LOG_LEVEL", "INFO"))
    tenants: tuple = field(default_factory=lambda: tuple(
        t.strip() for t in _env("AGORA_TENANTS", "demo").split(",") if t.strip()))
    default_language: str = field(default_factory=lambda: _env("AGORA_DEFAULT_LANGUAGE", "en"))

    @property
    def public_url(self) -> str:
        return _env("AGORA_PUBLIC_URL", f"http://localhost:{self.http_port}")


def settings() -> Settings:
    """Fresh settings read from the current environment."""
    return Settings()
