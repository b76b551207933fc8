"""The published contract of Agora's event streams: one JSON Schema per event type and version (generated from the
marshmallow schemas in ``agora.events``) and an AsyncAPI 3.0 document with AMQP bindings.

* ``docs/schemas/<Type>.v<N>.json`` — JSON Schema (draft 2020-12) of the ``data`` of that type and version, as it is
  published: identity fields (``author``, ``voter``, ``*_by`` …, see :mod:`agora.partners.privacy`) are strings, or
  null on a partner stream that drops identities; ``personal`` is null, sealed (``_enc``/``_kid``: the platform's own
  exchanges) or bucketed (``age_band`` …: partner streams whose grant includes demographics).
* ``docs/schemas/cloudevent.json`` — the CloudEvents 1.0 envelope with Agora's extensions.
* ``docs/asyncapi.json`` — channels ``<service>.events`` (topic exchanges, routing key = event type) and the
  partner channel (exchange ``agora.partners``, routing key ``<partner>.<tenant>.<Type>``, queue
  ``agora.partner.<partner>``); one message per type and version with an example that validates.

The relay's HTTP server serves them: ``GET /asyncapi.json``, ``GET /schemas/<Type>.v<N>.json`` — which is what an
event's ``dataschema`` points to (:func:`agora.events.envelope.schema_url`).

Write or check the committed copies: ``python -m agora.contract [--check] [--out docs]`` (exit 1 when stale).
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path

from marshmallow import Schema, fields, validate
from marshmallow.utils import missing

from agora.events import registry
from agora.partners.privacy import AGE_BANDS, is_identity_field, transform_data, transform_subject

JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
CONTENT_TYPE = "application/cloudevents+json"
PARTNER_EXCHANGE = "agora.partners"
DOCS = Path(__file__).resolve().parents[2] / "docs"
EXAMPLE_TENANT = "ghent"
EXAMPLE_TIME = "2026-05-04T09:30:00.000000Z"
EXAMPLE_KEY = b"agora-contract-example-key"


# ------------------------------------------------------------------ marshmallow → JSON Schema
def _string_extras(field) -> dict:
    name = type(field).__name__
    if name == "Instant":
        return {"format": "date-time"}
    if name == "Amount":
        return {"pattern": r"^\d+(\.\d+)?$", "description": "exact decimal amount (never a float)"}
    if name == "Exact":
        return {"pattern": r"^-?\d+(\.\d+)?(/\d+)?$", "description": "exact number: decimal or p/q"}
    if isinstance(field, fields.Email):
        return {"format": "email"}
    if isinstance(field, fields.Url):
        return {"format": "uri"}
    return {}


def _base(field) -> dict:
    if isinstance(field, fields.Nested):
        nested = field.schema
        if field.many:
            return {"type": "array", "items": schema_of(nested)}
        return schema_of(nested)
    if isinstance(field, fields.List):
        return {"type": "array", "items": field_schema(field.inner, nullable_ok=False)}
    if isinstance(field, fields.Dict):
        out: dict = {"type": "object"}
        if field.value_field is not None:
            out["additionalProperties"] = field_schema(field.value_field, nullable_ok=False)
        if field.key_field is not None:
            keys = field_schema(field.key_field, nullable_ok=False)
            keys.pop("type", None)
            if keys:
                out["propertyNames"] = keys
        return out
    if type(field).__name__ == "TieBreaking":
        return {"type": "array", "items": {"type": "string", "minLength": 1}}
    if isinstance(field, fields.Boolean):
        return {"type": "boolean"}
    if isinstance(field, fields.Integer):
        return {"type": "integer"}
    if isinstance(field, (fields.Float, fields.Number)) and not getattr(field, "as_string", False):
        return {"type": "number"}
    if isinstance(field, fields.AwareDateTime) or isinstance(field, fields.DateTime):
        return {"type": "string", "format": "date-time"}
    if isinstance(field, fields.Date):
        return {"type": "string", "format": "date"}
    if isinstance(field, (fields.String, fields.Decimal)):
        return dict({"type": "string"}, **_string_extras(field))
    return {}


def _apply_validators(out: dict, field) -> None:
    validators = field.validators if hasattr(field, "validators") else []
    for v in validators:
        kind = out.get("type")
        if isinstance(v, validate.Length):
            lo, hi = (v.equal, v.equal) if v.equal is not None else (v.min, v.max)
            prefix = "Items" if kind == "array" else "Properties" if kind == "object" else "Length"
            if lo is not None:
                out[f"min{prefix}"] = lo
            if hi is not None:
                out[f"max{prefix}"] = hi
        elif isinstance(v, validate.Range):
            if v.min is not None:
                out["minimum" if v.min_inclusive else "exclusiveMinimum"] = v.min
            if v.max is not None:
                out["maximum" if v.max_inclusive else "exclusiveMaximum"] = v.max
        elif isinstance(v, validate.OneOf):
            out["enum"] = list(v.choices)
        elif isinstance(v, validate.Regexp):
            out["pattern"] = v.regex.pattern
        elif isinstance(v, validate.Equal):
            out["const"] = v.comparable


def field_schema(field, nullable_ok: bool = True) -> dict:
    out = _base(field)
    _apply_validators(out, field)
    if nullable_ok and field.allow_none:
        if "enum" in out:
            out["enum"] = out["enum"] + [None]
        if "type" in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def schema_of(schema: Schema | type[Schema]) -> dict:
    """The JSON Schema of what ``schema.dump(schema.load(x))`` produces (fields with a load default are always
    present, hence required)."""
    schema = schema() if isinstance(schema, type) else schema
    props, required = {}, []
    for name, field in schema.fields.items():
        if field.load_only:
            continue
        key = field.data_key or name
        props[key] = field_schema(field)
        if field.required or field.load_default is not missing:
            required.append(key)
    out = {"type": "object", "properties": props, "required": required}
    if schema.unknown == "raise":
        out["additionalProperties"] = False
    return out


SEALED = {"type": "object", "title": "sealed personal data (platform exchanges)",
          "description": "AES-256-GCM ciphertext under the person's key (crypto-shredding); opaque to consumers",
          "properties": {"_enc": {"type": "string"}, "_kid": {"type": "string"}},
          "required": ["_enc", "_kid"], "additionalProperties": False}
BUCKETED = {"type": "object", "title": "bucketed demographics (partner streams granted demographics)",
            "properties": {"age_band": {"enum": list(AGE_BANDS) + [None]},
                           "gender": {"type": ["string", "null"]},
                           "district": {"type": ["string", "null"]},
                           "domicile": {"type": ["string", "null"]}},
            "required": ["age_band"], "additionalProperties": False}


def data_schema(etype) -> dict:
    """The published JSON Schema of ``etype``'s data (see the module docstring for identities and personal)."""
    out = schema_of(etype.schema)

    def patch(node: dict, top: bool):
        for name, sub in list(node.get("properties", {}).items()):
            if top and name == "personal":
                node["properties"][name] = {
                    "description": "demographics: null, sealed on the platform's exchanges, bucketed on partner "
                                   "streams whose grant includes demographics (never a birth year)",
                    "anyOf": [{"type": "null"}, SEALED, BUCKETED]}
            elif is_identity_field(name) and "string" in (sub.get("type") if isinstance(sub.get("type"), list)
                                                          else [sub.get("type")]):
                sub = dict(sub, type=["string", "null"], **{"x-agora-identity": True})
                sub.pop("pattern", None)
                sub["description"] = ("names a person: on partner streams a per-partner pseudonym (pn_…) or null "
                                      "when the grant drops identities")
                node["properties"][name] = sub
            elif isinstance(sub, dict):
                if sub.get("type") in ("object", ["object", "null"]):
                    patch(sub, False)
                elif isinstance(sub.get("items"), dict) and sub["items"].get("type") == "object":
                    patch(sub["items"], False)
    patch(out, True)
    doc = {"$schema": JSON_SCHEMA, "title": f"{etype.name} v{etype.version}",
           "description": _doc_line(etype), **out}
    doc["examples"] = [example_data(etype, partner_view=True)]
    return doc


def _doc_line(etype) -> str:
    return (f"data of {etype.name} version {etype.version}, published by the {etype.source} service on exchange "
            f"{etype.source}.events with routing key {etype.name}")


ENVELOPE = {
    "$schema": JSON_SCHEMA, "title": "Agora CloudEvent (structured mode, application/cloudevents+json)",
    "type": "object",
    "properties": {
        "specversion": {"const": "1.0"},
        "id": {"type": "string", "minLength": 1, "description": "event id: the same live and replayed"},
        "source": {"type": "string", "pattern": "^/agora/[a-z][a-z0-9-]*$"},
        "type": {"type": "string", "minLength": 1},
        "subject": {"type": "string", "description": "the stream (person ids pseudonymised on partner streams)"},
        "time": {"type": "string", "format": "date-time"},
        "datacontenttype": {"const": "application/json"},
        "dataschema": {"type": "string", "format": "uri", "description": "URL of the data's JSON Schema"},
        "tenant": {"type": "string", "minLength": 1},
        "sequence": {"type": "string", "pattern": "^[0-9]{20}$",
                     "description": "global position, zero-padded to 20 digits: the same live and replayed"},
        "streamversion": {"type": "integer", "minimum": 1},
        "correlationid": {"type": "string"},
        "causationid": {"type": "string"},
        "partner": {"type": "string", "description": "partner streams only: the grant it was sent under"},
        "data": {"type": "object"},
    },
    "required": ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema",
                 "tenant", "sequence", "streamversion", "data"],
    "additionalProperties": False,
}


# ------------------------------------------------------------------ examples
_HINTS = {"language": "nl", "feedback_language": "nl", "currency": "EUR", "tenant": EXAMPLE_TENANT,
          "tenant_id": EXAMPLE_TENANT, "birth_year": 1991, "age": 34, "district": "Centrum", "domicile": "Gent",
          "gender": "female", "title": "Drinkwaterfontein in het park", "body": "Een fontein bij de speeltuin.",
          "url": "https://erp.example.org/agora", "body_sha256": "0" * 64, "secret_sha256": "0" * 64,
          "status": "proposed", "from": "proposed", "from_status": "proposed", "to": "accepted",
          "workflow": {"proposed": ["accepted", "rejected"]}, "start": "2026-05-01T00:00:00Z",
          "end": "2026-06-01T00:00:00Z", "deadline": "2026-06-01T00:00:00Z", "at": "2026-05-04T09:30:00Z",
          "reason": "", "budget": "40000", "cost": "12500", "total_cost": "12500", "decision_id": "gent-2026-0042",
          "adapter_id": "gent-erp", "delivery_id": "gent-2026-0042.gent-erp", "selected": ["p1"],
          "projects": ["p1"], "points": None, "tie_breaking": ["cost", "id"], "score": "1/3", "folder": None,
          "decision": {"outcome": "accepted"}, "details": {}, "constraints": {}, "attributes": {},
          "pabulib_meta": None, "mes": None, "location": None, "tags": ["park"], "next_retry": None,
          "parent_id": None, "http_status": 200, "value": 1, "previous": 0, "settings": {}}
_PERSONS = {"author": "alice", "voter": "alice", "voter_id": "alice", "person": "alice", "moderator": "mod-bert"}


def _sample(name: str, sch: dict):
    if name in _HINTS and _valid_for(_HINTS[name], sch):
        return copy.deepcopy(_HINTS[name])
    if "const" in sch:
        return sch["const"]
    if "anyOf" in sch:
        return _sample(name, sch["anyOf"][0])
    if "enum" in sch:
        return next(v for v in sch["enum"] if v is not None)
    types = sch.get("type")
    kind = next((t for t in types if t != "null"), "null") if isinstance(types, list) else types
    if kind == "object":
        if "properties" in sch:
            return {k: _sample(k, s) for k, s in sch["properties"].items()}
        return {}
    if kind == "array":
        n = max(1, sch.get("minItems", 1))
        return [_sample(name, sch.get("items", {})) for _ in range(n)]
    if kind == "integer":
        return max(1, sch.get("minimum", 1)) if "exclusiveMinimum" not in sch else sch["exclusiveMinimum"] + 1
    if kind == "number":
        return float(max(1, sch.get("minimum", 1))) if "exclusiveMinimum" not in sch else sch["exclusiveMinimum"] + 1
    if kind == "boolean":
        return True
    if kind == "string":
        if name in _PERSONS:
            return _PERSONS[name]
        if is_identity_field(name):
            return "civil-servant-ann"
        if sch.get("format") == "date-time":
            return "2026-05-04T09:30:00Z"
        if name.endswith("_id") or name == "id":
            value = f"{name.removesuffix('_id') or 'x'}-7f3a"
        elif "pattern" in sch:
            value = next((c for c in ("accepted", "gent-erp", "4000", "12.5", "d-2026-001") if
                          re.search(sch["pattern"], c)), "x")
        else:
            value = "text"
        return value.ljust(sch.get("minLength", 0), "x")[:sch.get("maxLength", 10_000)]
    return None


def _valid_for(value, sch: dict) -> bool:
    try:
        import jsonschema
        jsonschema.validate(value, sch)
        return True
    except Exception:  # noqa: BLE001 - the hint does not fit this field
        return False


def example_data(etype, partner_view: bool = False) -> dict:
    """Example data for ``etype``, valid against its marshmallow schema (``partner_view``: as a partner with a
    pseudonymising, demographics grant receives it)."""
    data = {k: v for k, v in _sample("data", schema_of(etype.schema)).items()}
    if "points" in data and isinstance(data.get("ballot"), dict):
        data["ballot"]["points"] = None
    if partner_view:
        data = transform_data(data, EXAMPLE_TENANT, key=EXAMPLE_KEY, demographics=True, event_time=EXAMPLE_TIME)
    return data


def example_event(etype, partner_view: bool = True, base_url: str = "https://agora.example.org") -> dict:
    seen: dict = {}
    raw = example_data(etype)
    data = transform_data(raw, EXAMPLE_TENANT, key=EXAMPLE_KEY, demographics=True, event_time=EXAMPLE_TIME,
                          seen=seen) if partner_view else raw
    subject = f"{etype.name.lower()}-7f3a"
    for person in ("voter", "author", "person"):
        if raw.get(person):
            subject = f"{subject}-{raw[person]}"
            break
    ce = {"specversion": "1.0", "id": "6f1c2d8e-5b7a-4c0e-9a51-2f3e4d5c6b7a", "source": f"/agora/{etype.source}",
          "type": etype.name, "subject": transform_subject(subject, seen) if partner_view else subject,
          "time": EXAMPLE_TIME, "datacontenttype": "application/json",
          "dataschema": f"{base_url}/schemas/{etype.name}.v{etype.version}.json", "tenant": EXAMPLE_TENANT,
          "sequence": "00000000000000001042", "streamversion": 1, "data": data}
    if partner_view:
        ce["partner"] = "city-data-team"
    return ce


# ------------------------------------------------------------------ documents
def documented_types() -> list:
    """Every registered (type, version) of the platform's catalog (``agora.events.*``), all versions."""
    registry._ensure_catalog()
    return [t for (_n, _v), t in sorted(registry._TYPES.items())
            if t.schema.__module__.startswith("agora.events.")]


def schema_file(etype) -> str:
    return f"{etype.name}.v{etype.version}.json"


def schemas() -> dict[str, dict]:
    out = {schema_file(t): data_schema(t) for t in documented_types()}
    out["cloudevent.json"] = ENVELOPE
    return out


def asyncapi() -> dict:
    types = documented_types()
    latest = {t.name: t.version for t in registry.all_types()}
    sources = sorted({t.source for t in types})
    messages, channels, operations = {}, {}, {}
    for t in types:
        mid = f"{t.name}.v{t.version}"
        messages[mid] = {
            "name": t.name, "title": f"{t.name} v{t.version}" + ("" if latest.get(t.name) == t.version else
                                                                  " (older version: read back upcast)"),
            "summary": _doc_line(t), "contentType": CONTENT_TYPE,
            "headers": {"$ref": "#/components/schemas/AmqpHeaders"},
            "payload": {"allOf": [{"$ref": "#/components/schemas/CloudEvent"},
                                  {"type": "object", "properties": {
                                      "type": {"const": t.name},
                                      "data": {"$ref": f"schemas/{schema_file(t)}"}}}]},
            "bindings": {"amqp": {"contentEncoding": "utf-8", "messageType": t.name, "bindingVersion": "0.3.0"}},
            "examples": [{"name": f"{t.name}-partner", "summary": "as received on a partner queue",
                          "headers": {"tenant": EXAMPLE_TENANT, "sequence": "00000000000000001042",
                                      "type": t.name, "source": f"/agora/{t.source}"},
                          "payload": example_event(t, partner_view=True)}],
        }
    for source in sources:
        cid = f"{source}Events"
        channels[cid] = {
            "address": f"{source}.events",
            "title": f"exchange {source}.events",
            "description": f"Topic exchange of the {source} service's events; routing key = event type (bind a "
                           f"queue with '#' for everything). Internal consumers (nameko @event_handler, "
                           f"@subscribe); personal data sealed, person ids in clear: not for partners.",
            "messages": {f"{t.name}.v{t.version}": {"$ref": f"#/components/messages/{t.name}.v{t.version}"}
                         for t in types if t.source == source},
            "bindings": {"amqp": {"is": "routingKey", "exchange": {
                "name": f"{source}.events", "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"},
                "bindingVersion": "0.3.0"}},
        }
        operations[f"receive{source.capitalize()}Events"] = {
            "action": "receive", "channel": {"$ref": f"#/channels/{cid}"},
            "messages": [{"$ref": f"#/channels/{cid}/messages/{t.name}.v{t.version}"}
                         for t in types if t.source == source]}
    channels["partnerStream"] = {
        "address": "agora.partner.{partner}",
        "title": "a partner's queue",
        "description": (f"Durable queue of one partner, filled by the partner dispatcher through exchange "
                        f"{PARTNER_EXCHANGE} (topic) with routing key <partner>.<tenant>.<Type>, only for the "
                        f"granted tenants and types; person ids pseudonymised or dropped, demographics bucketed "
                        f"only when granted. The partner's RabbitMQ user may read this queue and nothing else."),
        "parameters": {"partner": {"description": "the partner's name (its RabbitMQ user)"}},
        "messages": {f"{t.name}.v{t.version}": {"$ref": f"#/components/messages/{t.name}.v{t.version}"}
                     for t in types},
        "bindings": {"amqp": {"is": "queue", "queue": {"name": "agora.partner.{partner}", "durable": True,
                                                       "exclusive": False, "autoDelete": False, "vhost": "/"},
                              "bindingVersion": "0.3.0"}},
    }
    operations["receivePartnerStream"] = {
        "action": "receive", "channel": {"$ref": "#/channels/partnerStream"},
        "messages": [{"$ref": f"#/channels/partnerStream/messages/{t.name}.v{t.version}"} for t in types]}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Agora event streams", "version": "1.0.0",
                 "description": "CloudEvents 1.0 in structured mode (AMQP/RabbitMQ binding: content type "
                                "application/cloudevents+json, the whole event in the body, no ce- headers). "
                                "Headers tenant, sequence (20 digits), type and source repeat body attributes. "
                                "Events are never changed: a new version is a new schema (dataschema URL). "
                                "Replay: GET /api/v1/partners/{partner}/events?after=<sequence>|since=<time> "
                                "(NDJSON, same id and sequence as live)."},
        "defaultContentType": CONTENT_TYPE,
        "servers": {"broker": {"host": "{host}:{port}", "protocol": "amqp", "protocolVersion": "0.9.1",
                               "pathname": "/{vhost}",
                               "variables": {"host": {"default": "localhost"}, "port": {"default": "5672"},
                                             "vhost": {"default": ""}}}},
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": {
                "CloudEvent": {k: v for k, v in ENVELOPE.items() if k != "$schema"},
                "AmqpHeaders": {"type": "object", "properties": {
                    "tenant": {"type": "string"}, "sequence": {"type": "string", "pattern": "^[0-9]{20}$"},
                    "type": {"type": "string"}, "source": {"type": "string"}},
                    "required": ["tenant", "sequence", "type", "source"]},
            },
            "messages": messages,
        },
    }


def render(doc: dict) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def files() -> dict[str, str]:
    """Relative path → content of every contract file under ``docs/``."""
    out = {"asyncapi.json": render(asyncapi())}
    for name, doc in schemas().items():
        out[f"schemas/{name}"] = render(doc)
    return out


def stale(out: Path = DOCS) -> list[str]:
    """Contract files missing or different in ``out`` (and stray schema files no type produces)."""
    wanted = files()
    problems = [p for p, text in wanted.items() if not (out / p).is_file() or (out / p).read_text() != text]
    if (out / "schemas").is_dir():
        problems += [f"schemas/{f.name} (no such type)" for f in sorted((out / "schemas").glob("*.json"))
                     if f"schemas/{f.name}" not in wanted]
    return problems


def write(out: Path = DOCS) -> list[str]:
    wanted = files()
    (out / "schemas").mkdir(parents=True, exist_ok=True)
    for f in (out / "schemas").glob("*.json"):
        if f"schemas/{f.name}" not in wanted:
            f.unlink()
    changed = []
    for path, text in wanted.items():
        target = out / path
        if not target.is_file() or target.read_text() != text:
            target.write_text(text)
            changed.append(path)
    return changed


# ------------------------------------------------------------------ HTTP (served by the relay process)
def http_get(path: str, base_url: str) -> tuple[int, bytes, str] | None:
    """``GET /asyncapi.json`` and ``GET /schemas/<file>`` (``$id`` = the URL it is served at); None otherwise."""
    path = path.split("?", 1)[0]
    if path in ("/asyncapi.json", "/asyncapi"):
        return 200, render(asyncapi()).encode(), "application/json"
    match = re.fullmatch(r"/schemas/([A-Za-z0-9_.-]+\.json)", path)
    if match:
        doc = _schema_cache().get(match.group(1))
        if doc is None:
            return 404, b'{"error":"not_found","message":"no such schema"}', "application/json"
        doc = {"$schema": JSON_SCHEMA, "$id": f"{base_url}{path}", **{k: v for k, v in doc.items()
                                                                     if k != "$schema"}}
        return 200, render(doc).encode(), "application/schema+json"
    return None


_SCHEMAS: dict | None = None


def _schema_cache() -> dict:
    global _SCHEMAS
    if _SCHEMAS is None:
        _SCHEMAS = schemas()
    return _SCHEMAS


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agora.contract",
                                     description="Write (or check) docs/asyncapi.json and docs/schemas/*.json "
                                                 "from the marshmallow event schemas.")
    parser.add_argument("--check", action="store_true", help="exit 1 when the committed files are stale")
    parser.add_argument("--out", type=Path, default=DOCS, help="docs folder (default: the repository's docs/)")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale(args.out)
        if problems:
            print(f"contract stale ({len(problems)} files): {', '.join(problems[:10])}; run "
                  f"`python -m agora.contract`", file=sys.stderr)
            return 1
        print("contract up to date")
        return 0
    changed = write(args.out)
    print(f"wrote {len(changed)} contract files under {args.out}" + (f": {', '.join(changed[:10])}" if changed
                                                                      else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
