"""Registry of event types: (type, version) → marshmallow schema, plus upcasters from version n to n+1."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from marshmallow import INCLUDE, Schema, ValidationError, fields
from marshmallow.decorators import POST_DUMP, POST_LOAD, PRE_DUMP
from marshmallow.utils import missing

from agora.errors import ValidationFailed


@dataclass(frozen=True)
class EventType:
    name: str
    version: int
    source: str  # owning service, e.g. "ideas": published on exchange "<source>.events"
    schema: type[Schema]

    @property
    def dataschema(self) -> str:
        from agora.events.envelope import schema_url
        return schema_url(self.name, self.version)


_TYPES: dict[tuple[str, int], EventType] = {}
_LATEST: dict[str, int] = {}
_UPCASTERS: dict[tuple[str, int], Callable[[dict], dict]] = {}


def register(name: str, version: int, source: str):
    """Class decorator: ``@register("IdeaSubmitted", 1, "ideas") class IdeaSubmittedV1(Schema): ...``."""
    def deco(schema_cls: type[Schema]):
        key = (name, version)
        existing = _TYPES.get(key)
        if existing is not None and existing.schema is not schema_cls:
            raise RuntimeError(f"event type {name} v{version} registered twice")
        _TYPES[key] = EventType(name, version, source, schema_cls)
        _LATEST[name] = max(version, _LATEST.get(name, 0))
        return schema_cls
    return deco


def upcaster(name: str, from_version: int):
    """Decorator for ``fn(data: dict) -> dict`` turning version ``from_version`` data into ``from_version + 1``."""
    def deco(fn):
        _UPCASTERS[(name, from_version)] = fn
        return fn
    return deco


_catalog_loaded = False
_catalog_lock = threading.RLock()


def _ensure_catalog():
    """Import every schema module once; other threads wait until the import has finished (not just started)."""
    global _catalog_loaded
    if _catalog_loaded:
        return
    with _catalog_lock:
        if not _catalog_loaded:
            import agora.events.catalog  # noqa: F401  (registers every schema)
            _catalog_loaded = True


def get(name: str, version: int | None = None) -> EventType:
    _ensure_catalog()
    version = version or _LATEST.get(name)
    try:
        return _TYPES[(name, version)]
    except KeyError:
        raise ValidationFailed({"type": [f"unknown event type {name!r} version {version}"]}) from None


def latest_version(name: str) -> int:
    return get(name).version


def validate(name: str, data: dict, version: int | None = None) -> tuple[EventType, dict]:
    """Validate ``data`` against the schema; returns (event type, serialisable data). Raises ValidationFailed.

    The serialisable data is ``schema.dump(schema.load(data))``; for a schema whose loaded data already is that
    (see :func:`_dump_is_identity`, e.g. every votes event) the dump is skipped.
    """
    etype = get(name, version)
    schema, dump_needed = _instance(etype)
    try:
        loaded = schema.load(data)
    except ValidationError as err:
        raise ValidationFailed(err.messages, f"invalid {name} v{etype.version} payload") from None
    return etype, schema.dump(loaded) if dump_needed else loaded


_INSTANCES: dict[tuple[str, int], tuple[Schema, bool]] = {}


def _instance(etype: EventType) -> tuple[Schema, bool]:
    """(schema, whether its loaded data needs a dump): schema instances are stateless between load/dump calls,
    so each is built (and examined) once."""
    key = (etype.name, etype.version)
    entry = _INSTANCES.get(key)
    if entry is None:
        schema = etype.schema()
        entry = _INSTANCES[key] = (schema, not _dump_is_identity(schema))
    return entry


# fields whose load returns plain JSON values (str, int, float, bool or None) that their dump returns unchanged;
# exact classes only: a subclass (Email, UUID, a custom field) may load or dump differently
_PLAIN_FIELDS = (fields.String, fields.Integer, fields.Float, fields.Boolean)


def _dump_is_identity(schema: Schema) -> bool:
    """True when ``schema.dump(schema.load(x)) == schema.load(x)`` for every valid ``x``, same key order included:
    load and dump see the same fields under the same keys, no hook or default applies to one side only, and
    every field is a plain one, a ``List`` of one, or ``Nested`` in such a schema."""
    if schema.unknown == INCLUDE or any(schema._hooks.get(hook) for hook in (POST_LOAD, PRE_DUMP, POST_DUMP)):
        return False
    return all(_field_dump_is_identity(field) for field in schema.fields.values())


def _field_dump_is_identity(field: fields.Field) -> bool:
    if (field.load_only or field.dump_only or field.data_key is not None or field.attribute is not None
            or field.dump_default is not missing or field.post_load):
        return False
    if type(field) is fields.Nested:
        return field.unknown != INCLUDE and _dump_is_identity(field.schema)
    if type(field) is fields.List:
        return _field_dump_is_identity(field.inner)
    return type(field) in _PLAIN_FIELDS and not getattr(field, "as_string", False)


def upcast(name: str, version: int, data: dict) -> tuple[int, dict]:
    """Bring stored data of an old version up to the latest registered version (unknown types pass through)."""
    _ensure_catalog()
    if name not in _LATEST:
        return version, data
    latest = _LATEST[name]
    while version < latest:
        fn = _UPCASTERS.get((name, version))
        if fn is None:
            raise RuntimeError(f"no upcaster for {name} v{version} → v{version + 1}")
        data = fn(dict(data))
        version += 1
    return version, data


def all_types() -> list[EventType]:
    _ensure_catalog()
    return [t for (n, v), t in sorted(_TYPES.items()) if v == _LATEST[n]]


def types_of(source: str) -> list[str]:
    """Names of every event type owned by ``source`` (its service)."""
    return sorted({t.name for t in all_types() if t.source == source})
