"""Replay: a partner's granted events from a position or a time, read from the store — the log is the truth.

``events(store, grant, after=…, since=…, limit=…)`` yields the partner's CloudEvents exactly as live delivery
transforms them (same ``id`` and ``sequence``), then a :class:`Cursor`: the position the scan reached (a partner
resumes with ``after=<cursor>``; it may lie beyond the last event when the partner's filter skipped events) and
whether more may follow. Served as NDJSON over HTTP (:mod:`agora.partners.http`), printed by
``python -m agora replay``, or republished into the partner's own queue only (:func:`republish`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import pika

from agora.events.envelope import format_sequence
from agora.partners import broker, stream
from agora.partners.grants import Grant
from agora.store import EventStore

MAX_LIMIT = 1_000_000


@dataclass
class Cursor:
    position: int
    more: bool

    def line(self) -> dict:
        return {"cursor": format_sequence(self.position), "more": self.more}


def position_at(store: EventStore, since: str) -> int:
    """The last position whose event time is before ``since`` (ISO 8601): replay ``after`` it. Event times grow
    with positions (an append stamps its time just before taking the next position), so a binary search over
    point reads of ``_id`` finds it without a scan."""
    since = _normalise(since)
    lo, hi = 0, store.head()               # invariant: time(lo) < since (or lo = 0), time(hi + 1) ≥ since
    while lo < hi:
        mid = (lo + hi + 1) // 2
        doc = store.events.find_one({"_id": mid}, {"time": 1})
        if doc is not None and _normalise(doc["time"]) < since:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _normalise(instant: str) -> str:
    from agora.events.ideas import format_instant, parse_instant
    return format_instant(parse_instant(instant)).replace("Z", "").ljust(26, "0")[:26]


def events(store: EventStore, grant: Grant, *, after: int = 0, since: str | None = None, limit: int = 10_000,
           until: int | None = None, page: int = 1000) -> Iterator[dict | Cursor]:
    if since:
        after = max(after, position_at(store, since))
    limit = max(1, min(int(limit), MAX_LIMIT))
    types = None if grant.all_types else list(grant.types)
    end = store.head() if until is None else until
    sent = 0
    position = after
    if position < end:
        # read (and opened) a few pages ahead by a thread, while this one transforms and the caller writes
        q, done, stop = stream.pages(store, position, page, lambda: grant.demographics, types=types, until=end)
        try:
            while sent < limit:
                item = q.get()
                if item is done:
                    break
                if isinstance(item, BaseException):
                    raise item
                batch, reached, _full = item
                for event in batch:
                    if sent >= limit:
                        break
                    if grant.covers(event.tenant, event.type):
                        yield stream.partner_event(event, grant)
                        sent += 1
                    position = event.position
                else:
                    position = max(position, reached)
        finally:
            stop.set()
    yield Cursor(position, position < end)


def republish(store: EventStore, grant: Grant, amqp_uri: str, *, after: int = 0, since: str | None = None,
              limit: int = MAX_LIMIT) -> tuple[int, Cursor]:
    """Publish the partner's events again into its own queue only (routing key ``<partner>.<tenant>.<Type>``, with
    publisher confirms). Returns (events published, cursor)."""
    conn = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    try:
        ch = conn.channel()
        ch.exchange_declare(broker.PARTNER_EXCHANGE, exchange_type="topic", durable=True)
        ch.confirm_delivery()
        n = 0
        cursor = Cursor(after, False)
        for item in events(store, grant, after=after, since=since, limit=limit):
            if isinstance(item, Cursor):
                cursor = item
                continue
            key = f"{grant.name}.{item['tenant']}.{item['type']}"
            ch.basic_publish(broker.PARTNER_EXCHANGE, key, stream.encode(item), stream.properties(item))
            n += 1
        return n, cursor
    finally:
        conn.close()
