"""One event as one partner receives it — the same function for live delivery and replay, so both carry the same
``id``, ``sequence``, subject and data (partners deduplicate on ``id`` or ``sequence``).

Message (CloudEvents AMQP/RabbitMQ binding, structured mode): body = the CloudEvent JSON, ``content_type``
``application/cloudevents+json``, no ``ce-`` headers; ``message_id`` = event id; headers ``tenant``, ``sequence``
(the body's 20-digit string), ``type``, ``source`` (the body's ``/agora/<service>``) repeat body attributes.
"""
from __future__ import annotations

import json

import pika

from agora.events import registry
from agora.events.envelope import StoredEvent
from agora.partners.grants import Grant
from agora.partners.privacy import transform_data, transform_subject

CONTENT_TYPE = "application/cloudevents+json"


def partner_event(event: StoredEvent, grant: Grant) -> dict:
    """The CloudEvent dict of ``event`` for ``grant`` (the caller checked ``grant.covers``). ``event`` must be read
    from the store with its personal part opened (plaintext or shredded), never sealed."""
    ce = event.to_cloudevent()
    seen: dict = {}
    ce["data"] = transform_data(event.data, event.tenant, key=grant.pseudonym_key,
                                demographics=grant.demographics, event_time=event.time, seen=seen)
    if seen:
        ce["subject"] = transform_subject(event.stream, seen)
    # ids that name people may also appear in correlation/causation ids only by accident of a caller: not copied
    ce.pop("correlationid", None)
    ce.pop("causationid", None)
    ce["partner"] = grant.name
    return ce


def open_events(store, events: list[StoredEvent], personal) -> list[StoredEvent]:
    """Events read raw (``read_page(upcast=False)``: personal data sealed) made ready for :func:`partner_event`:
    upcast, and their personal part opened only if ``personal`` (some grant includes demographics) and only if the
    person's key exists *now* — one uncached ``$in`` query per batch, so an erasure made by another process a moment
    ago is honoured at once (the vault's key cache would keep decrypting for up to a minute). Otherwise null.
    ``personal`` is a bool or a predicate on the event (only events some demographics grant covers are opened)."""
    alive: set = set()
    wants = personal if callable(personal) else (lambda _e, _p=bool(personal): _p)
    if personal:
        kids = {e.data["personal"].get("_kid") for e in events
                if isinstance(e.data.get("personal"), dict) and wants(e)}
        kids.discard(None)
        if kids:
            alive = {d["_id"] for d in store.vault.keys.find({"_id": {"$in": sorted(kids)}}, {"_id": 1})}
    out = []
    for event in events:
        data = event.data
        sealed = data.get("personal")
        if isinstance(sealed, dict) and "_enc" in sealed:
            if wants(event):
                data = store.vault.open(data) if sealed.get("_kid") in alive else dict(data, personal=None)
            # else: left sealed; privacy.bucket never lets a sealed part out, and a grant with demographics that
            # the read-ahead did not know yet opens it when it publishes (:func:`opened_for`)
        version, data = registry.upcast(event.type, event.schema_version, data)
        if data is event.data and version == event.schema_version:
            out.append(event)
        else:
            out.append(StoredEvent(event.id, event.type, event.source, event.tenant, event.stream, event.version,
                                   event.position, event.time, data, version, event.correlationid,
                                   event.causationid))
    return out


def opened_for(store, event: StoredEvent, grant) -> StoredEvent:
    """``event`` with its personal part opened when ``grant`` includes demographics and the read-ahead left it
    sealed (the grant was not known yet when the page was read)."""
    sealed = event.data.get("personal")
    if grant.demographics and isinstance(sealed, dict) and "_enc" in sealed:
        return open_events(store, [event], True)[0]
    return event


def pages(store, after: int, batch: int, personal, types=None, until: int | None = None, depth: int = 3,
          follow: bool = False, idle_s: float = 0.02, stop=None):
    """Pages ``(events, reached, full)`` of the log after ``after``, read and opened (:func:`open_events`) by a
    thread ``depth`` pages ahead of the consumer: the store's reply time overlaps with the consumer's transforming
    and publishing. ``personal()`` says whether (or for which events) to open personal data, asked per page (see
    :func:`open_events`). ``follow``: keep tailing the
    head (until ``stop`` is set) instead of ending there."""
    import queue
    import threading
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = stop or threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def read():
        position = after
        try:
            while not stop.is_set():
                if until is not None and position >= until:
                    break
                events, reached = store.read_page("*", after=position, limit=batch, types=types, until=until,
                                                  upcast=False)
                full = len(events) == batch
                nxt = events[-1].position if full else max(reached, position)
                if events or nxt > position:
                    if not put((open_events(store, events, personal()) if events else [], nxt, full)):
                        return
                if not full:
                    if not follow and (until is None or nxt >= until or nxt <= position):
                        break
                    stop.wait(idle_s)
                position = nxt
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(exc)
            return
        put(done)

    thread = threading.Thread(target=read, name="agora-partner-pages", daemon=True)
    thread.start()
    return q, done, stop


def encode(ce: dict) -> bytes:
    return json.dumps(ce, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def routing_key(grant: Grant, event: StoredEvent) -> str:
    return f"{grant.name}.{event.tenant}.{event.type}"


def properties(ce: dict) -> pika.BasicProperties:
    return pika.BasicProperties(
        content_type=CONTENT_TYPE, content_encoding="utf-8", delivery_mode=2, message_id=ce["id"], type=ce["type"],
        headers={"tenant": ce["tenant"], "sequence": ce["sequence"], "type": ce["type"], "source": ce["source"]})
