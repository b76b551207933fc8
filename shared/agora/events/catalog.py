"""Imports every event-schema module so that the registry knows all event types."""
import importlib
import pkgutil

import agora.events as _pkg

for _mod in pkgutil.iter_modules(_pkg.__path__):
    if _mod.name not in {"registry", "catalog", "envelope"}:
        importlib.import_module(f"agora.events.{_mod.name}")
