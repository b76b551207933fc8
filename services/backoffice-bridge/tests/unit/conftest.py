"""Official artefacts, loaded once per session (pyshacl/XSD loading is the slow part)."""
from __future__ import annotations

import json

import pytest
from agora.testing import shared_path

from backoffice_bridge import validation

OSLO = "standards/oslo/"


@pytest.fixture(scope="session")
def shacl_generated():
    return validation.ShaclValidator(validation.load_shapes(
        shared_path(OSLO + "besluit-publicatie-SHACL_OSLO-Generated.ttl"), normalise=False))


@pytest.fixture(scope="session")
def shacl_erkend():
    # the 2025 shapes type sh:minCount/sh:maxCount as strings: normalised to xsd:integer (see README)
    return validation.ShaclValidator(validation.load_shapes(
        shared_path(OSLO + "besluit-publicatie-SHACL_erkendestandaard-2025-12-11.ttl"), normalise=True))


@pytest.fixture(scope="session", params=["OSLO-Generated", "erkendestandaard-2025-12-11"])
def shacl(request, shacl_generated, shacl_erkend):
    return shacl_generated if request.param == "OSLO-Generated" else shacl_erkend


@pytest.fixture(scope="session")
def oslo_context():
    return json.loads(shared_path(OSLO + "besluit-publicatie_nl_erkendestandaard-2025-12-11.context.jsonld")
                      .read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def akn_schema():
    return validation.load_akn_schema(shared_path("standards/akn/akomantoso30.xsd"))


@pytest.fixture(scope="session")
def popolo_validator():
    return validation.PopoloValidator(shared_path("standards/popolo/motion.json").parent)
