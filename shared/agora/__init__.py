"""Agora's shared library: cross-service mechanisms only (never a service's business rules)."""
