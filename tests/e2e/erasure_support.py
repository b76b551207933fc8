"""Helpers of tests/e2e/test_erasure.py: what to look for (needles), where to look (collections, HTTP responses,
a tap queue bound to every exchange), and how to turn each place into text that can be searched.

A hit is reported as ``(where, needle label, excerpt)`` so a failing test names the collection, URL or message that
still holds the erased person's data."""
from __future__ import annotations

import io
import json
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from itertools import product

import requests
from bson import json_util

# ---------------------------------------------------------------- needles


@dataclass
class Needle:
    label: str
    pattern: re.Pattern
    scopes: frozenset = frozenset({"read", "events", "http", "queue"})   # where this needle must not appear


def literal(label: str, text: str, scopes=None) -> Needle:
    # a whole token: not inside a longer word or number (ids are hex, times have digits)
    pattern = re.compile(r"(?<![\w.])" + re.escape(text) + r"(?![\w])", re.IGNORECASE)
    return Needle(label, pattern, frozenset(scopes) if scopes else Needle.scopes)


@dataclass
class Hits:
    found: list = field(default_factory=list)

    def scan(self, where: str, text: str, needles: list[Needle], scope: str) -> None:
        for needle in needles:
            if scope not in needle.scopes:
                continue
            m = needle.pattern.search(text)
            if m:
                lo = max(0, m.start() - 120)
                self.found.append((where, needle.label, text[lo:m.end() + 120]))

    def report(self) -> str:
        lines = [f"- {where}: {label} in …{excerpt!r}…" for where, label, excerpt in self.found[:60]]
        more = len(self.found) - 60
        return "\n".join(lines) + (f"\n… and {more} more" if more > 0 else "")

    def places(self) -> set[str]:
        return {where for where, _label, _excerpt in self.found}


# ---------------------------------------------------------------- the store


def scan_database(db, needles: list[Needle], scope: str, hits: Hits) -> dict[str, int]:
    """Every document of every collection of ``db``, serialized as extended JSON; returns documents per
    collection (so the caller can show the scan was not empty)."""
    seen = {}
    for name in sorted(db.list_collection_names()):
        n = 0
        for doc in db[name].find({}):
            n += 1
            where = f"{db.name}.{name} _id={str(doc.get('_id'))[:80]}"
            hits.scan(where, json_util.dumps(doc, ensure_ascii=False), needles, scope)
            for blob in _binaries(doc):          # e.g. the analytics models, pickled and compressed
                try:
                    text = zlib.decompress(blob).decode("utf-8", "replace")
                except zlib.error:
                    text = blob.decode("utf-8", "replace")
                hits.scan(where + " (binary)", text, needles, scope)
        seen[name] = n
    return seen


def _binaries(value):
    if isinstance(value, (bytes, bytearray)):
        yield bytes(value)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _binaries(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _binaries(v)


# ---------------------------------------------------------------- the broker


def open_tap(amqp_uri: str, exchanges: list[str], queue: str) -> None:
    """A durable queue bound with ``#`` to every exchange (declared topic and durable, as the relay does)."""
    import pika
    conn = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    try:
        ch = conn.channel()
        ch.queue_declare(queue, durable=True)
        for exchange in exchanges:
            ch.exchange_declare(exchange, exchange_type="topic", durable=True)
            ch.queue_bind(queue, exchange, routing_key="#")
    finally:
        conn.close()


def drain(amqp_uri: str, queue: str, passive: bool = False) -> list[tuple[dict, str, bytes]]:
    """Every message in ``queue`` (acknowledged): (headers, routing key, body)."""
    import pika
    conn = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    out = []
    try:
        ch = conn.channel()
        if passive:
            try:
                ch.queue_declare(queue, passive=True)
            except Exception:  # noqa: BLE001 - no such queue: nothing parked there
                return []
        while True:
            method, props, body = ch.basic_get(queue, auto_ack=True)
            if method is None:
                break
            headers = dict(props.headers or {})
            headers.update({k: v for k, v in (("message_id", props.message_id), ("correlation_id",
                            props.correlation_id), ("app_id", props.app_id), ("user_id", props.user_id),
                            ("type", props.type)) if v})
            out.append((headers, method.routing_key, body))
    finally:
        conn.close()
    return out


# ---------------------------------------------------------------- HTTP


def response_text(resp: requests.Response) -> str:
    """The searchable text of a response: headers and body; an XLSX (a zip) is unzipped and its XML joined."""
    head = "\n".join(f"{k}: {v}" for k, v in resp.headers.items())
    raw = resp.content
    if raw[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            body = "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    else:
        body = raw.decode("utf-8", "replace")
    return head + "\n\n" + body


def openapi_get_paths(base_url: str) -> list[str]:
    for path in ("/api/v1/openapi.json", "/openapi.json"):
        r = requests.get(base_url + path, timeout=30)
        if r.status_code == 200 and r.headers.get("Content-Type", "").startswith("application/json"):
            doc = r.json()
            return [p for p, ops in doc["paths"].items() if "get" in ops]
    raise AssertionError(f"no OpenAPI document at {base_url}")


def expand(path: str, values: dict[str, list[str]], overrides: dict[str, dict[str, list[str]]]) -> list[str]:
    """Every concrete URL path for an OpenAPI path template: each ``{param}`` takes each known value
    (``overrides[fragment]`` replace ``values`` for paths containing ``fragment``)."""
    params = re.findall(r"{([^}]+)}", path)
    known = dict(values)
    for fragment, vals in overrides.items():
        if fragment in path:
            known.update(vals)
    if any(not known.get(p) for p in params):
        return []
    out = []
    for combo in product(*(known[p] for p in params)):
        filled = path
        for p, v in zip(params, combo):
            filled = filled.replace("{" + p + "}", requests.utils.quote(str(v), safe=""), 1)
        out.append(filled)
    return out


def fetch(url: str, headers: dict | None, params: dict | None = None) -> requests.Response:
    return requests.get(url, headers=headers or {}, params=params or {}, timeout=120)


def as_json(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None
