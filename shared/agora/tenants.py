"""The tenant registry: a city exists once an operator registered it, and carries its settings.

The registry is operator configuration, not a city's history: one document per tenant in the ``tenants``
collection of the event log's database (backed up and restored with the log and the key vault), with its
settings and a history of their changes. A lookup reads one document by its id, and each process caches the
answer for a few seconds (a new tenant is seen everywhere within ``MISS_TTL_S``).

``AGORA_TENANTS`` (comma-separated) declares tenants an operator wants to exist: each service registers the
missing ones at start (:func:`ensure_declared`), so a deployment can be set up by configuration as well as by
``agora tenants add NAME``.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

import datetime as dt

from marshmallow import Schema, ValidationError, fields, validate
from pymongo.errors import DuplicateKeyError

from agora.errors import Conflict, NotFound, ValidationFailed

COLLECTION = "tenants"
NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
DEFAULTS = {
    "display_name": "",
    "languages": ["en"],
    "default_language": "en",
    "min_cell_size": 5,
    "published_segments": ["age", "gender", "district"],
    "writes_per_minute_person": 60,
    "writes_per_minute_address": 600,
}
CACHE_TTL_S = 5.0
MISS_TTL_S = 1.0


class SettingsSchema(Schema):
    """A tenant's settings (all optional; defaults in :data:`DEFAULTS`)."""
    display_name = fields.String(validate=validate.Length(max=200))
    languages = fields.List(fields.String(validate=validate.Length(min=2, max=8)), validate=validate.Length(max=20))
    default_language = fields.String(validate=validate.Length(min=2, max=8))
    min_cell_size = fields.Integer(validate=validate.Range(min=2, max=1000))
    published_segments = fields.List(fields.String(validate=validate.Length(min=1, max=40)),
                                     validate=validate.Length(max=20))
    writes_per_minute_person = fields.Integer(validate=validate.Range(min=1, max=100_000))
    writes_per_minute_address = fields.Integer(validate=validate.Range(min=1, max=1_000_000))


def validate_settings(settings: dict | None) -> dict:
    try:
        return SettingsSchema().load(settings or {})
    except ValidationError as err:
        raise ValidationFailed({"settings": err.messages}) from None


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class UnknownTenant(NotFound):
    code = "unknown_tenant"


@dataclass(frozen=True)
class Tenant:
    name: str
    settings: dict = field(default_factory=dict)
    registered_at: str | None = None

    def setting(self, key: str):
        return self.settings.get(key, DEFAULTS.get(key))

    @property
    def min_cell_size(self) -> int:
        return int(self.setting("min_cell_size"))

    def as_dict(self) -> dict:
        return {"name": self.name, "settings": {**DEFAULTS, **self.settings}, "registered_at": self.registered_at}


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise ValidationFailed({"tenant": ["a tenant name is 1-63 characters: a lower-case letter, then lower-case "
                                           "letters, digits or '-'"]})
    return name


class TenantRegistry:
    """Register, look up and list tenants (see the module docstring). ``store`` is the process's EventStore
    (its ``events_db`` holds the registry) or a pymongo Database."""

    def __init__(self, store_or_db):
        events = getattr(store_or_db, "events", None)
        db = store_or_db if events is None else events.database
        self.coll = db.get_collection(COLLECTION)
        self._cache: dict[str, tuple[Tenant | None, float]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ commands
    def add(self, name: str, settings: dict | None = None, by: str = "") -> Tenant:
        validate_name(name)
        settings = validate_settings(settings)
        now = _now()
        try:
            self.coll.insert_one({"_id": name, "settings": settings, "registered_at": now, "registered_by": by,
                                  "history": [{"at": now, "by": by, "settings": settings}]})
        except DuplicateKeyError:
            raise Conflict(f"tenant {name!r} exists already", reason="tenant_exists") from None
        self._forget(name)
        return self.get(name)

    def ensure(self, name: str, settings: dict | None = None, by: str = "") -> Tenant:
        """Register ``name`` unless it exists (idempotent, race-safe)."""
        found = self.lookup(name, fresh=True)
        if found is not None:
            return found
        try:
            return self.add(name, settings, by)
        except Conflict:
            return self.get(name)

    def configure(self, name: str, settings: dict, by: str = "") -> Tenant:
        settings = validate_settings(settings)
        self.get(name)
        update = {f"settings.{k}": v for k, v in settings.items()}
        self.coll.update_one({"_id": name}, {"$set": update, "$push": {
            "history": {"at": _now(), "by": by, "settings": settings}}})
        self._forget(name)
        return self.get(name)

    # ------------------------------------------------------------------ queries
    def lookup(self, name: str, fresh: bool = False) -> Tenant | None:
        if not isinstance(name, str) or not NAME.match(name):
            return None
        now = time.monotonic()
        if not fresh:
            with self._lock:
                hit = self._cache.get(name)
            if hit is not None and hit[1] > now:
                return hit[0]
        doc = self.coll.find_one({"_id": name}, {"history": 0})
        tenant = Tenant(name, doc.get("settings") or {}, doc.get("registered_at")) if doc else None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[name] = (tenant, now + (CACHE_TTL_S if tenant else MISS_TTL_S))
        return tenant

    def get(self, name: str) -> Tenant:
        tenant = self.lookup(name)
        if tenant is None:
            raise UnknownTenant(f"unknown tenant {name!r}")
        return tenant

    def exists(self, name: str) -> bool:
        return self.lookup(name) is not None

    def list(self) -> list[Tenant]:
        return [Tenant(d["_id"], d.get("settings") or {}, d.get("registered_at"))
                for d in sorted(self.coll.find({}, {"history": 0}), key=lambda d: d["_id"])]

    def _forget(self, name: str) -> None:
        with self._lock:
            self._cache.pop(name, None)


def declared() -> list[str]:
    from agora.config import settings
    return list(settings().tenants)


def ensure_declared(registry: TenantRegistry, by: str = "AGORA_TENANTS") -> list[str]:
    names = declared()
    for name in names:
        registry.ensure(name, by=by)
    return names


_registries: dict[int, TenantRegistry] = {}
_reg_lock = threading.Lock()


def registry_for(store) -> TenantRegistry:
    """One registry (and cache) per process store."""
    with _reg_lock:
        reg = _registries.get(id(store))
        if reg is None:
            reg = _registries[id(store)] = TenantRegistry(store)
        return reg
