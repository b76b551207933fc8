"""The contract: AsyncAPI + one JSON Schema per event type and version, generated from the marshmallow schemas and
committed under docs/ (stale → fail); every type documented, with an example that validates."""
import json

import jsonschema
import pytest

from agora import contract
from agora.events import registry
from agora.partners import privacy

FORMATS = jsonschema.FormatChecker()


def test_committed_contract_is_up_to_date():
    problems = contract.stale()
    assert problems == [], f"run `python -m agora.contract`: stale {problems}"


def test_every_registered_type_and_version_is_documented():
    doc = json.loads((contract.DOCS / "asyncapi.json").read_text())
    registry._ensure_catalog()
    catalog = {(t.name, t.version) for t in registry._TYPES.values() if t.schema.__module__.startswith("agora.events.")}
    assert catalog and catalog == {(t.name, t.version) for t in contract.documented_types()}
    assert doc["asyncapi"] == "3.0.0"
    for name, version in catalog:
        mid = f"{name}.v{version}"
        message = doc["components"]["messages"][mid]
        assert message["contentType"] == "application/cloudevents+json"
        assert message["payload"]["allOf"][1]["properties"]["data"]["$ref"] == f"schemas/{name}.v{version}.json"
        assert (contract.DOCS / "schemas" / f"{name}.v{version}.json").is_file()
        source = registry.get(name, version).source
        channel = doc["channels"][f"{source}Events"]
        assert channel["address"] == f"{source}.events" and mid in channel["messages"]
        assert channel["bindings"]["amqp"]["exchange"]["type"] == "topic"
        assert mid in doc["channels"]["partnerStream"]["messages"]
    # PersonalDataForgotten's exchange is documented (it was missing from the README)
    assert doc["channels"]["agoraEvents"]["address"] == "agora.events"


@pytest.mark.parametrize("etype", contract.documented_types(), ids=lambda t: f"{t.name}.v{t.version}")
def test_each_type_has_an_example_that_validates(etype):
    schema = json.loads((contract.DOCS / "schemas" / contract.schema_file(etype)).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    [example] = schema["examples"]
    jsonschema.Draft202012Validator(schema, format_checker=FORMATS).validate(example)
    doc = json.loads((contract.DOCS / "asyncapi.json").read_text())
    [message_example] = doc["components"]["messages"][f"{etype.name}.v{etype.version}"]["examples"]
    ce = message_example["payload"]
    jsonschema.Draft202012Validator(contract.ENVELOPE, format_checker=FORMATS).validate(ce)
    jsonschema.Draft202012Validator(schema, format_checker=FORMATS).validate(ce["data"])
    assert message_example["headers"]["sequence"] == ce["sequence"] and message_example["headers"]["type"] == ce["type"]
    # the platform-side example is a valid payload for the marshmallow schema (the store would accept it)
    registry.validate(etype.name, contract.example_data(etype), etype.version)
    # identity fields are marked, never a birth year in the partner view
    text = json.dumps(ce)
    assert "birth_year" not in text and "alice" not in text
    for name, prop in schema["properties"].items():
        if privacy.is_identity_field(name) and "string" in prop.get("type", []):
            assert prop.get("x-agora-identity") is True


def test_stale_contract_is_detected(tmp_path):
    assert contract.main(["--out", str(tmp_path)]) == 0
    assert contract.stale(tmp_path) == []
    target = tmp_path / "schemas" / "IdeaSubmitted.v1.json"
    target.write_text(target.read_text().replace('"title"', '"titel"', 1))
    (tmp_path / "schemas" / "Gone.v1.json").write_text("{}")
    assert contract.main(["--out", str(tmp_path), "--check"]) == 1
    assert set(contract.stale(tmp_path)) == {"schemas/IdeaSubmitted.v1.json", "schemas/Gone.v1.json (no such type)"}


def test_json_schema_follows_marshmallow_constraints():
    schema = contract.data_schema(registry.get("ReactionCast"))
    validator = jsonschema.Draft202012Validator(schema)
    good = dict(contract.example_data(registry.get("ReactionCast"), partner_view=True))
    assert validator.is_valid(good)
    assert not validator.is_valid(dict(good, value=2))                      # OneOf([1, -1])
    assert not validator.is_valid({k: v for k, v in good.items() if k != "idea_id"})   # required
    assert not validator.is_valid(dict(good, extra=1))                       # unknown fields are refused
    assert not validator.is_valid(dict(good, personal={"birth_year": 1990}))   # never plaintext demographics
    assert validator.is_valid(dict(good, personal={"_enc": "x", "_kid": "t:p"}))   # sealed, platform exchanges
    assert validator.is_valid(dict(good, voter=None, personal=None))        # a grant that drops identities


def test_asyncapi_references_resolve_and_ids_are_valid():
    """Every ``$ref`` of docs/asyncapi.json resolves (JSON pointers inside it, schema files beside it); component
    and channel ids follow AsyncAPI 3.0's key pattern; every operation receives on a channel it names."""
    import re
    doc = json.loads((contract.DOCS / "asyncapi.json").read_text())
    refs = []

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(doc)
    assert refs
    for ref in refs:
        if ref.startswith("#/"):
            target = doc
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            assert isinstance(target, dict), ref
        else:
            assert (contract.DOCS / ref).is_file(), ref
    key = re.compile(r"^[a-zA-Z0-9.\-_]+$")
    for section in ("messages", "schemas"):
        assert all(key.match(k) for k in doc["components"][section])
    assert all(key.match(k) for k in doc["channels"])
    for op in doc["operations"].values():
        assert op["action"] == "receive"
        channel = op["channel"]["$ref"]
        assert all(m["$ref"].startswith(channel + "/messages/") for m in op["messages"])
