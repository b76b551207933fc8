"""Event contracts: one marshmallow schema per event type and version, and upcasters for old versions.

Every event type is registered once (``register``) with the source service that owns it. The modules
``agora.events.ideas``, ``.votes``, ``.budgets``, ``.bridge`` hold the schemas; importing ``agora.events.catalog``
loads them all. An invalid payload raises ``agora.errors.ValidationFailed`` before anything is stored.
"""
from agora.events.registry import (  # noqa: F401
    EventType, register, upcaster, get, latest_version, validate, upcast, all_types, types_of,
)
from agora.events.envelope import NewEvent, StoredEvent  # noqa: F401,E402  (the one event type domains return)
