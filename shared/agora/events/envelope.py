"""CloudEvents 1.0 structured-mode JSON envelope with Agora's extension attributes.

Core attributes: specversion, id, source, type, subject, time, datacontenttype, data.
Extensions (lower-case alphanumerics, as CloudEvents requires): tenant, sequence (zero-padded global position),
streamversion, correlationid, causationid, dataschema (the URL of the data's JSON Schema, see :func:`schema_url`).
"""
from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

SPECVERSION = "1.0"
SEQUENCE_WIDTH = 20
REQUIRED = ("specversion", "id", "source", "type", "time", "datacontenttype", "data", "tenant", "sequence",
            "streamversion", "dataschema", "subject")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_id() -> str:
    return str(uuid.uuid4())


def format_sequence(position: int) -> str:
    return str(position).zfill(SEQUENCE_WIDTH)


def schema_base_url() -> str:
    """Where the JSON Schemas are served (``GET <base>/schemas/<Type>.v<N>.json``, by the relay's HTTP server):
    ``AGORA_SCHEMA_BASE_URL``, else ``AGORA_PUBLIC_URL``, else ``http://localhost:<AGORA_HTTP_PORT>``. Read once
    per process (every published event asks); ``schema_base_url.cache_clear()`` after changing the environment."""
    if _BASE[0] is None:
        env = os.environ
        base = env.get("AGORA_SCHEMA_BASE_URL") or env.get("AGORA_PUBLIC_URL") \
            or f"http://localhost:{env.get('AGORA_HTTP_PORT') or 8000}"
        _BASE[0] = base.rstrip("/")
    return _BASE[0]


_BASE: list = [None]
schema_base_url.cache_clear = lambda: _BASE.__setitem__(0, None)


def schema_url(type_: str, version: int) -> str:
    """The ``dataschema`` of an event: the URL of the JSON Schema of its ``data`` (agora.contract)."""
    return f"{schema_base_url()}/schemas/{type_}.v{version}.json"


_SCHEMA_VERSION = re.compile(r"(\d+)(?:\.json)?$")


def schema_version_of(dataschema: str) -> int:
    """The schema version named by a ``dataschema`` (URL ``…/<Type>.v<N>.json`` or legacy ``urn:…:<Type>:<N>``)."""
    match = _SCHEMA_VERSION.search(str(dataschema))
    if not match:
        raise ValueError(f"no schema version in dataschema {dataschema!r}")
    return int(match.group(1))


@dataclass
class NewEvent:
    """An event a command decided to append: type, data, optional id/correlation/causation."""
    type: str
    data: dict
    id: str = field(default_factory=new_id)
    correlationid: str | None = None
    causationid: str | None = None
    time: str | None = None


@dataclass(frozen=True)
class StoredEvent:
    """An event as read back from the store (already upcast to the latest schema version)."""
    id: str
    type: str
    source: str
    tenant: str
    stream: str
    version: int
    position: int
    time: str
    data: dict
    schema_version: int
    correlationid: str | None = None
    causationid: str | None = None

    def to_cloudevent(self) -> dict:
        ce = {
            "specversion": SPECVERSION,
            "id": self.id,
            "source": f"/agora/{self.source}",
            "type": self.type,
            "subject": self.stream,
            "time": self.time,
            "datacontenttype": "application/json",
            "dataschema": schema_url(self.type, self.schema_version),
            "tenant": self.tenant,
            "sequence": format_sequence(self.position),
            "streamversion": self.version,
            "data": self.data,
        }
        if self.correlationid:
            ce["correlationid"] = self.correlationid
        if self.causationid:
            ce["causationid"] = self.causationid
        return ce

    def to_json(self) -> bytes:
        return json.dumps(self.to_cloudevent(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_cloudevent(cls, ce: dict) -> "StoredEvent":
        missing = [k for k in REQUIRED if k not in ce]
        if missing or ce.get("specversion") != SPECVERSION:
            raise ValueError(f"not an Agora CloudEvent (missing {missing or 'specversion 1.0'})")
        schema_version = schema_version_of(ce["dataschema"])
        return cls(id=ce["id"], type=ce["type"], source=str(ce["source"]).rsplit("/", 1)[-1],
                   tenant=ce["tenant"], stream=ce["subject"], version=int(ce["streamversion"]),
                   position=int(ce["sequence"]), time=ce["time"], data=ce["data"], schema_version=schema_version,
                   correlationid=ce.get("correlationid"), causationid=ce.get("causationid"))
