"""Every service's OpenAPI document is valid OpenAPI 3.0 (openapi-spec-validator), built from its marshmallow schemas
with reusable components; and every route declares its permissions (roles or public)."""
import importlib

import pytest
from openapi_spec_validator import validate

from agora.web import openapi, routes_of

SERVICES = [("ideas.service", "IdeasService"), ("votes.service", "VotesService"),
            ("budgets.service", "BudgetsService"), ("analytics.service", "AnalyticsService"),
            ("backoffice_bridge.service", "BackofficeBridgeService")]


def service_classes():
    for module, name in SERVICES:
        yield getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("cls", list(service_classes()), ids=[s[0] for s in SERVICES])
def test_openapi_document_is_valid_with_components(cls):
    doc = openapi(cls, cls.name, "1.0.0")
    validate(doc)
    assert doc["openapi"] == "3.0.3" and doc["components"]["schemas"]
    refs = str(doc["paths"]).count("#/components/schemas/")
    assert refs > len(doc["paths"])        # request and response bodies refer to reusable components


@pytest.mark.parametrize("cls", list(service_classes()), ids=[s[0] for s in SERVICES])
def test_every_route_declares_who_may_call_it(cls):
    for meta in routes_of(cls):
        if meta["public"]:
            continue
        doc = openapi(cls, cls.name)
        from agora.web import openapi_path
        op = doc["paths"][openapi_path(meta["url"])][meta["method"].lower()]
        assert op["security"] == [{"bearer": []}] and "401" in op["responses"] and "403" in op["responses"]
