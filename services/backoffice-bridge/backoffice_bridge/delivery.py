"""The delivery scheduler: runs due deliveries (signed webhook POSTs, drop-folder writes) and keeps their log.

``bridge_deliveries`` holds one document per (decision, push adapter): ``status`` pending → in_flight →
succeeded | pending (retry at ``next_retry``, Unix s) | dead_lettered | cancelled; ``attempts``, ``generation``
(bumped by a replay) and ``log`` (one entry per attempt: outcome, HTTP status, a short reason — never the
receiver's response body). It is operational state, not a projection: a succeeded delivery is recorded (journaled
write) before its events are appended, so a restarted bridge never sends it again; retries survive restarts because
``next_retry`` is stored. A claimed delivery carries a lease; if the process dies mid-flight the lease expires and the
delivery is retried (receivers dedupe by ``webhook-id`` / ``Idempotency-Key``).

The attempt's events (``DeliveryAttempted``, ``DeliverySucceeded``, ``DeliveryDeadLettered``) get ids derived from
the delivery, its generation and attempt, so appending them again after a crash is a no-op.
"""
from __future__ import annotations

import logging
import os
import re
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable, Iterable, Union

from pymongo import ReturnDocument

from agora.events import NewEvent

from backoffice_bridge import decisions as dmap
from backoffice_bridge import webhooks as wh
from backoffice_bridge.renderers import EXTENSIONS

log = logging.getLogger("backoffice_bridge.delivery")
PUSH_TYPES = ("webhook", "drop_folder")
STATUSES = ("pending", "in_flight", "succeeded", "dead_lettered", "cancelled")
DECISION_EVENT_TYPE = "DecisionRecorded"


def _now() -> float:
    return time.time()


def key(tenant: str, ident: str) -> str:
    return f"{tenant}/{ident}"


def new_delivery(tenant: str, decision_id: str, adapter: dict, now: float) -> dict:
    delivery_id = dmap.delivery_id_for(decision_id, adapter["adapter_id"])
    return {"tenant": tenant, "delivery_id": delivery_id, "decision_id": decision_id,
            "adapter_id": adapter["adapter_id"], "adapter_type": adapter["type"], "format": adapter["format"],
            "status": "pending", "attempts": 0, "generation": 0,
            "next_retry": now, "created_at": now, "log": []}


def append_delivery_event(runner, tenant: str, doc: dict, etype: str, data: dict, eid: str) -> None:
    """Append one event of a delivery's stream (idempotent: ``eid`` is derived)."""
    payload = {"delivery_id": doc["delivery_id"], "decision_id": doc["decision_id"],
               "adapter_id": doc["adapter_id"], **data}
    event = NewEvent(etype, payload, id=eid)

    def decide(stored):
        return None if any(e.id == eid for e in stored) else event
    runner.run(tenant, f"delivery-{doc['delivery_id']}", decide)


class DeliveryScheduler:
    """Claims due deliveries and runs them (``tick`` is called by the service's timer)."""

    def __init__(self, runner, cols, settings, render_doc: Callable[[dict, str], tuple[str, str]],
                 spawn_all: Callable[[list], None] | None = None, http=None):
        self.runner = runner
        self.cols = cols
        self.settings = settings
        self.render_doc = render_doc
        self.spawn_all = spawn_all or (lambda fns: [fn() for fn in fns])
        self.http = http if http is not None else wh.guarded_session()

    # ------------------------------------------------------------------ claiming
    def due(self, now: float | None = None) -> list[dict]:
        now = _now() if now is None else now
        batch = self.settings.batch
        docs = list(self.cols.deliveries.find({"status": "pending", "next_retry": {"$lte": now}}).limit(batch))
        docs += list(self.cols.deliveries.find({"status": "in_flight", "lease_until": {"$lte": now}}).limit(batch))
        docs.sort(key=lambda d: d.get("next_retry", 0))
        return docs

    def tick(self) -> int:
        """Claim and run every due delivery (concurrently via ``spawn_all``); returns how many ran."""
        claimed = []
        for doc in self.due():
            got = self.cols.deliveries.find_one_and_update(
                {"_id": doc["_id"], "status": doc["status"], "attempts": doc["attempts"],
                 "generation": doc.get("generation", 0)},
                {"$set": {"status": "in_flight", "lease": uuid.uuid4().hex,
                          "lease_until": _now() + self.settings.lease_s}},
                return_document=ReturnDocument.AFTER)
            if got is not None:
                claimed.append(got)
        self.spawn_all([lambda d=d: self._run_guarded(d) for d in claimed])
        return len(claimed)

    def _run_guarded(self, doc: dict) -> None:
        try:
            self.attempt(doc)
        except Exception:  # noqa: BLE001 - the lease expires and the delivery is retried
            log.exception("delivery %s: attempt crashed", doc["delivery_id"])

    # ------------------------------------------------------------------ one attempt
    def attempt(self, doc: dict) -> str:
        tenant = doc["tenant"]
        started = _now()
        adapter = self.cols.adapters.find_one({"_id": key(tenant, doc["adapter_id"])})
        if adapter is None or not adapter.get("enabled", True):
            return self._finish(doc, "cancelled", None, "adapter removed or disabled", started, None)
        decision = self.cols.decisions.find_one({"_id": key(tenant, doc["decision_id"])})
        http_status, wait = None, None
        try:
            body, ctype = self.render_doc(decision, doc["format"])
            if adapter["type"] == "webhook":
                outcome, http_status, error, wait = self._post(doc, adapter, body, ctype)
            elif adapter["type"] == "drop_folder":
                outcome, error = self._drop(doc, adapter, body)
            else:
                outcome, error = "failed", f"adapter type {adapter['type']!r} is not pushed"
        except (ValueError, KeyError, TypeError) as exc:
            outcome, error = "failed", f"cannot render: {type(exc).__name__}"
        return self._finish(doc, outcome, http_status, error, started, wait, adapter)

    def secrets_of(self, tenant: str, adapter_id: str) -> list[str]:
        doc = self.cols.secrets.find_one({"_id": key(tenant, adapter_id)}) or {}
        if "secrets" not in doc and doc.get("secret"):        # stored before rotation existed
            return [doc["secret"]]
        return wh.secrets_in_force(doc.get("secrets") or [])

    def send(self, url: str, body: bytes, headers: dict, timeout: float):
        """POST through the guarded session: (outcome, http status, short reason, Retry-After seconds)."""
        import requests
        try:
            resp = self.http.post(url, data=body, headers=headers, timeout=(min(3.0, timeout), timeout),
                                  allow_redirects=False)
        except wh.UnsafeDestination as exc:
            return "failed", None, wh.short_reason(error=exc), None
        except requests.RequestException as exc:
            return "retry", None, wh.short_reason(error=exc), None
        try:
            outcome = wh.classify_response(resp.status_code)
            error = None if outcome == "delivered" else wh.short_reason(resp.status_code)
            return outcome, resp.status_code, error, wh.retry_after(resp.headers)
        finally:
            resp.close()                        # the body is never read, let alone kept

    def _post(self, doc, adapter, body, ctype):
        secrets = self.secrets_of(doc["tenant"], doc["adapter_id"])
        if not secrets:
            return "failed", None, "no webhook secret configured for this adapter", None
        idem = wh.idempotency_key(doc["decision_id"], doc["adapter_id"], doc["format"])
        data = body.encode("utf-8")
        headers = wh.signed_headers(data, secrets=secrets, msg_id=wh.message_id(idem),
                                    event_type=DECISION_EVENT_TYPE, content_type=ctype, idempotency=idem)
        return self.send(adapter["url"], data, headers, float(adapter.get("timeout_s") or 10.0))

    def ping(self, tenant: str, adapter: dict) -> dict:
        """A signed test request (``webhook-event-type: ping``) to a webhook adapter, answered synchronously."""
        import json
        secrets = self.secrets_of(tenant, adapter["adapter_id"])
        if not secrets:
            return {"outcome": "failed", "http_status": None, "reason": "no webhook secret configured"}
        msg = "msg_ping_" + uuid.uuid4().hex
        body = json.dumps({"type": "ping", "tenant": tenant, "adapter_id": adapter["adapter_id"],
                           "at": int(_now())}).encode("utf-8")
        headers = wh.signed_headers(body, secrets=secrets, msg_id=msg, event_type="ping",
                                    content_type="application/json")
        outcome, status, reason, _ = self.send(adapter["url"], body, headers, float(adapter.get("timeout_s") or 10))
        return {"outcome": outcome, "http_status": status, "reason": reason, "webhook_id": msg}

    def _drop(self, doc, adapter, body):
        folder = self.settings.drop_root / doc["tenant"] / adapter["folder"]
        name = drop_file_name(doc["decision_id"], doc["adapter_id"], EXTENSIONS[doc["format"]])
        try:
            from eventlet import tpool  # file I/O + fsync off the hub
            folder.mkdir(parents=True, exist_ok=True)
            tpool.execute(write_drop_file, folder, name, body)
        except OSError as exc:
            return "retry", f"{type(exc).__name__}: {exc.strerror or 'write failed'}"
        return "delivered", None

    def _finish(self, doc, outcome, http_status, error, started, wait, adapter=None) -> str:
        now = _now()
        attempts = int(doc["attempts"]) + (0 if outcome == "cancelled" else 1)
        adapter = adapter or {}
        max_attempts = int(adapter.get("max_attempts") or wh.DEFAULT_RETRY.max_attempts)
        cap = float(adapter.get("backoff_cap_s") or wh.DEFAULT_RETRY.cap_s)
        entry = {"attempt": attempts, "generation": doc.get("generation", 0), "at": now, "outcome": outcome,
                 "http_status": http_status, "error": error, "duration_ms": round((now - started) * 1000, 1)}
        next_retry = None
        if outcome == "delivered":
            status = "succeeded"
        elif outcome == "cancelled":
            status = "cancelled"
        elif outcome == "retry" and attempts < max_attempts:
            status = "pending"
            delay = wh.backoff_delay(attempts - 1, base=float(adapter.get("backoff_base_s") or wh.DEFAULT_RETRY.base_s),
                                     cap=cap, jitter="spread")
            next_retry = now + max(delay, min(wait or 0, cap))
            entry["next_retry"] = next_retry
        else:
            status = "dead_lettered"
        update = {"$set": {"status": status, "attempts": attempts, "last_attempt_at": now, "last_error": error},
                  "$unset": {"lease": "", "lease_until": ""}, "$push": {"log": entry}}
        if next_retry is not None:
            update["$set"]["next_retry"] = next_retry
        if status == "succeeded":
            update["$set"]["succeeded_at"] = now
        if status == "dead_lettered":
            update["$set"]["dead_at"] = now
        # durable (journaled) before anything else: a restarted bridge never re-sends a succeeded delivery
        res = self.cols.deliveries.update_one({"_id": doc["_id"], "lease": doc.get("lease")}, update)
        if res.modified_count != 1:
            log.warning("delivery %s: lease lost before recording %s", doc["delivery_id"], outcome)
            return outcome
        if outcome != "cancelled":
            self._record(doc, attempts, outcome, http_status, error, next_retry, status)
        return outcome

    def _record(self, doc, attempts, outcome, http_status, error, next_retry, status) -> None:
        gen = doc.get("generation", 0)
        events = [("DeliveryAttempted", {"attempt": attempts, "outcome": outcome, "http_status": http_status,
                                         "error": error, "next_retry": next_retry},
                   dmap.derived_id("attempt", doc["_id"], gen, attempts))]
        if status == "succeeded":
            events.append(("DeliverySucceeded", {"attempts": attempts, "detail": None},
                           dmap.derived_id("succeeded", doc["_id"], gen)))
        elif status == "dead_lettered":
            events.append(("DeliveryDeadLettered", {"attempts": attempts, "error": error or ""},
                           dmap.derived_id("dead", doc["_id"], gen)))
        for etype, data, eid in events:
            try:
                append_delivery_event(self.runner, doc["tenant"], doc, etype, data, eid)
            except Exception:  # noqa: BLE001 - the delivery log in Mongo is authoritative
                log.exception("delivery %s: could not append %s", doc["delivery_id"], etype)


# -------------------------------------------------------------------------------------------- drop folder
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def drop_file_name(decision_id: str, adapter: str, extension: str) -> str:
    """``{decision_id}.{adapter}.{extension}`` with anything but ``[A-Za-z0-9._-]`` replaced by ``_``."""
    parts = [_FILENAME_UNSAFE.sub("_", p) for p in (decision_id, adapter)]
    ext = _FILENAME_UNSAFE.sub("_", extension.lstrip("."))
    name = ".".join(parts + [ext])
    if name.startswith("."):
        name = "_" + name[1:]
    return name


def write_drop_file(folder: Union[str, Path], name: str, body: Union[str, bytes], *,
                    fsync: bool = True) -> tuple[Path, bool]:
    """Atomically write ``body`` to ``folder/name``; returns (path, written).

    Idempotent by file name: if the file exists it is left untouched and ``written`` is False. Otherwise the
    body goes to a hidden temporary file in the same folder (same filesystem), is flushed (and fsynced), then
    ``os.replace``d into place, so readers never see a partial file.
    """
    folder = Path(folder)
    if "/" in name or "\\" in name or name in ("", ".", ".."):
        raise ValueError(f"invalid drop file name: {name!r}")
    target = folder / name
    if target.exists():
        return target, False
    data = body.encode("utf-8") if isinstance(body, str) else body
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target, True


def pending_temp_files(folder: Union[str, Path]) -> Iterable[Path]:
    """Left-over temporary files of interrupted writes (safe to delete when no writer runs)."""
    return sorted(Path(folder).glob(".*.tmp"))
