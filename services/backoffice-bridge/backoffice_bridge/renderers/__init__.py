"""Renderers: a :class:`~backoffice_bridge.domain.Decision` -> one document in a back-office format.

``render(decision, fmt, **options) -> str`` with ``fmt`` one of :data:`FORMATS`; options: ``base`` (IRI base
template, OSLO and AKN), ``country`` (AKN). :data:`MEDIA_TYPES` / :data:`EXTENSIONS` give the Content-Type and
file extension of each format (for webhooks and drop folders).
"""
from __future__ import annotations

from typing import Any, Callable

from backoffice_bridge.domain import Decision
from backoffice_bridge.renderers.akn import render_akn
from backoffice_bridge.renderers.csvfile import CSV_COLUMNS, render_csv
from backoffice_bridge.renderers.oslo import decision_graph, decision_jsonld, render_oslo_jsonld, render_oslo_turtle
from backoffice_bridge.renderers.popolo import popolo_document, render_popolo

RENDERERS: dict[str, Callable[..., str]] = {
    "oslo-ttl": render_oslo_turtle,
    "oslo-jsonld": render_oslo_jsonld,
    "akn": render_akn,
    "popolo": render_popolo,
    "csv": render_csv,
}
FORMATS = tuple(RENDERERS)
MEDIA_TYPES = {
    "oslo-ttl": "text/turtle; charset=utf-8",
    "oslo-jsonld": "application/ld+json",
    "akn": "application/akn+xml",
    # Popolo is JSON but not the API's own JSON: a media type of its own, so clients and the API's JSON views
    # (checked against the OpenAPI document) can tell them apart
    "popolo": "application/vnd.popolo+json",
    "csv": "text/csv; charset=utf-8; header=present",
}
EXTENSIONS = {"oslo-ttl": "ttl", "oslo-jsonld": "jsonld", "akn": "akn.xml", "popolo": "popolo.json", "csv": "csv"}
_OPTIONS = {
    "oslo-ttl": {"base"}, "oslo-jsonld": {"base", "context_url"}, "akn": {"base", "country"},
    "popolo": set(), "csv": {"escape_formulas", "excel"},
}


def render(decision: Decision, fmt: str, **options: Any) -> str:
    """Render ``decision`` as ``fmt``; options a format does not use are ignored."""
    try:
        renderer = RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})") from None
    kwargs = {k: v for k, v in options.items() if k in _OPTIONS[fmt] and v is not None}
    return renderer(decision, **kwargs)


__all__ = ["render", "RENDERERS", "FORMATS", "MEDIA_TYPES", "EXTENSIONS", "CSV_COLUMNS", "decision_graph",
           "decision_jsonld", "render_oslo_turtle", "render_oslo_jsonld", "render_akn", "render_popolo",
           "popolo_document", "render_csv"]
