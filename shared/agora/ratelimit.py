"""Abuse limits on writes: per person and per client address, per tenant, holding across service replicas.

Each (tenant, person) and (tenant, address) has a fixed one-minute window; its count is shared by every replica
of every service in one document of the read-side database (``rate_limits``, expired by a TTL index). Why the
store and not Redis: it is already there, highly available and backed up in every deployment, and the write path
does not touch it per request — each process counts locally and adds its count to the shared document (``$inc``,
one round trip) whenever it has used a quarter of what the window still allows, or 0.25 s after its last sync.
So a replica decides from ``shared count + its own writes not yet in it``: exact with one replica (tested under
concurrency). With ``n`` replicas a replica's view of the others is as old as its last sync, so a burst spread
over replicas can exceed the limit by what the others admitted since then: never more than ``n × limit`` in a
window (no replica alone admits more than the limit), and about a quarter of the limit for traffic that moves
between replicas (tested with two). A person's first writes in a window cost no round trip (a new counter is not
synced at once).
Refusals are answered at once, without a round trip: 429 with ``Retry-After`` (seconds to the next window).

Limits are tenant settings (``writes_per_minute_person``, default 60; ``writes_per_minute_address``, default
600; see agora.tenants). ``AGORA_RATE_LIMITS=off`` turns them off (the test harness and throughput benchmarks do;
the abuse tests and ``bench/votes.py --abuse`` turn them on). In development mode (``AGORA_ENV=development``)
loopback addresses have no address limit, so the local demo seeding from one address is not cut; persons still are.
``AGORA_TRUST_FORWARDED=1`` takes the client address from ``X-Forwarded-For`` (behind the ingress).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
import time

from agora.errors import AgoraError

WINDOW_S = 60
SYNC_S = 0.25
COLLECTION = "rate_limits"


class TooManyRequests(AgoraError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after
        self.args = (message, retry_after)


def enabled() -> bool:
    return (os.environ.get("AGORA_RATE_LIMITS") or "on").strip().lower() not in ("off", "0", "false", "no")


class _Counter:
    __slots__ = ("window", "shared", "syncing", "pending", "synced_at")   # one sync in flight per key at most

    def __init__(self, window: int, now: float):
        self.window = window
        self.shared = 0          # the window's count in the store, as last seen (every replica's synced writes)
        self.syncing = 0         # this process's writes on their way to the store
        self.pending = 0         # this process's writes not sent yet
        self.synced_at = now     # a new counter is not synced at once: most people write once or twice a minute

    def used(self) -> int:
        return self.shared + self.syncing + self.pending


class RateLimiter:
    def __init__(self, db, window_s: int = WINDOW_S, clock=time.time):
        self.coll = db.get_collection(COLLECTION)
        self.window_s = window_s
        self.clock = clock
        self._counters: dict[str, _Counter] = {}
        self._lock = threading.Lock()
        self._indexed = False

    def _ensure_index(self) -> None:
        if not self._indexed:
            self.coll.create_index("expires", expireAfterSeconds=0)
            self._indexed = True

    def hit(self, key: str, limit: int, what: str = "writes") -> None:
        """Count one write for ``key``; :class:`TooManyRequests` when the window's ``limit`` is used up."""
        now = self.clock()
        mono = time.monotonic()
        window = int(now // self.window_s)
        retry_after = max(1, int((window + 1) * self.window_s - now + 0.999))
        send = 0
        with self._lock:
            c = self._counters.get(key)
            if c is None or c.window != window:
                if len(self._counters) > 100_000:
                    self._counters = {k: v for k, v in self._counters.items() if v.window == window}
                c = self._counters[key] = _Counter(window, mono)
            if c.used() >= limit:
                raise TooManyRequests(f"too many {what}: at most {limit} a minute; try again in {retry_after} s",
                                      retry_after)
            c.pending += 1
            left = limit - c.shared
            if not c.syncing and (c.pending >= max(1, left // 4) or mono - c.synced_at > SYNC_S):
                send, c.syncing, c.pending, c.synced_at = c.pending, c.pending, 0, mono
        while send:
            total = None
            try:
                total = self._sync(key, window, send)
            finally:
                with self._lock:       # one sync at a time per key: the total it returns includes every send
                    c.syncing = 0
                    if total is None:
                        c.pending += send          # not stored: count them again at the next sync
                    else:
                        c.shared = max(c.shared, total)
            with self._lock:           # what arrived meanwhile goes out now, not at the key's next write
                send = 0
                if c.pending and c.window == window:
                    send, c.syncing, c.pending, c.synced_at = c.pending, c.pending, 0, time.monotonic()

    def _sync(self, key: str, window: int, n: int) -> int:
        self._ensure_index()
        expires = dt.datetime.fromtimestamp((window + 2) * self.window_s, dt.timezone.utc)
        doc = self.coll.find_one_and_update({"_id": f"{key}|{window}"},
                                            {"$inc": {"n": n}, "$setOnInsert": {"expires": expires}},
                                            upsert=True, return_document=True)
        return int(doc["n"])


def person_key(tenant: str, sub: str) -> str:
    return "p|" + hashlib.sha256(f"{tenant}\x00{sub}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


def address_key(tenant: str, address: str) -> str:
    return "a|" + hashlib.sha256(f"{tenant}\x00{address}".encode()).hexdigest()[:32]


def client_address(request) -> str:
    if os.environ.get("AGORA_TRUST_FORWARDED") == "1":
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.remote_addr or "unknown"


def _loopback(address: str) -> bool:
    return address.startswith("127.") or address in ("::1", "localhost")


_limiters: dict[tuple, RateLimiter] = {}
_lim_lock = threading.Lock()


def limiter_for(db) -> RateLimiter:
    key = (id(db.client), db.name)        # one limiter (and its local counts) per database and process
    with _lim_lock:
        lim = _limiters.get(key)
        if lim is None:
            lim = _limiters[key] = RateLimiter(db)
        return lim


def check_write(db, tenant, request, caller) -> None:
    """The route layer's check for a write by ``caller`` (a Principal) in ``tenant`` (an agora.tenants.Tenant)."""
    if not enabled() or caller is None or caller.is_service:
        return
    from agora.auth import development_mode
    lim = limiter_for(db)
    lim.hit(person_key(tenant.name, caller.sub), int(tenant.setting("writes_per_minute_person")),
            "writes by one person")
    address = client_address(request)
    if not (development_mode() and _loopback(address)):
        lim.hit(address_key(tenant.name, address), int(tenant.setting("writes_per_minute_address")),
                "writes from one address")
