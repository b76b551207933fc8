"""The application layer's one command path: load → decide → append with the expected version → retry.

Every service's use cases run their commands through :class:`CommandRunner` (the role of eventsourcing's
``Application.save`` / cosmicpython's unit of work)::

    runner = CommandRunner(store)
    outcome = runner.run(tenant, idea_stream(idea_id), lambda idea: idea.withdraw(caller, reason),
                         load=Idea.from_events)

- ``load(events) -> aggregate`` rebuilds the aggregate from its stream (default: the list of stored events itself);
  ``decide(aggregate)`` is the pure domain rule and returns the new events as :class:`agora.events.NewEvent`
  (one, a list, or nothing); the runner appends them with ``expected_version`` = the stream's version it read.
- A :class:`~agora.errors.ConcurrencyError` (another writer got there first) re-reads and decides again, with one
  backoff policy for every service (:class:`Backoff`: full jitter, capped exponential).
- An optional :class:`AggregateCache` skips the stream read on the hot path (votes): an aggregate is only ever a
  replay of a stream prefix, and the expected-version check refuses the append unless the cached state *is* current;
  a decision that appends nothing (a refusal, "unchanged") is re-checked against the stream before it is answered.
- Idempotency: inside :func:`command` scope (opened by the web layer for an ``Idempotency-Key``, after
  authentication and authorization, scoped to tenant, caller and route), event ids are derived from the command id,
  so a retry after a lost answer or a crash re-appends nothing (the store's unique event id) and
  :meth:`CommandRunner.run` answers from what is stored. :func:`new_id` gives the use case ids (a new idea's id …)
  that are the same on every retry of the command.
- Correlation and causation ids come from the request's scope (:mod:`agora.logs`): ``correlationid`` is the
  request's correlation id, ``causationid`` the command id.
"""
from __future__ import annotations

import contextvars
import hashlib
import random
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from agora.errors import AgoraError, ConcurrencyError
from agora.events.envelope import NewEvent, StoredEvent
from agora.logs import current_correlation

__all__ = ["CommandRunner", "Outcome", "Backoff", "AggregateCache", "command", "current_command", "new_id",
           "derive_id", "NewEvent"]

ID_NAMESPACE = uuid.UUID("5b0f4a52-9d59-4c1e-9f3c-6f1c2a0e1d7a")

_command: contextvars.ContextVar[str | None] = contextvars.ContextVar("agora_command_id", default=None)


class command:
    """``with command(command_id):`` scopes an idempotent command (see the module docstring)."""

    __slots__ = ("command_id", "_token")

    def __init__(self, command_id: str | None):
        self.command_id = command_id

    def __enter__(self) -> str | None:
        self._token = _command.set(self.command_id)
        return self.command_id

    def __exit__(self, *exc) -> None:
        _command.reset(self._token)


def current_command() -> str | None:
    return _command.get()


def derive_id(*parts: Any) -> str:
    """A UUID derived from ``parts`` (stable across processes and retries)."""
    return str(uuid.uuid5(ID_NAMESPACE, "|".join(str(p) for p in parts)))


def new_id(tenant: str, purpose: str = "") -> str:
    """An id for something the current command creates: derived from the command id when the command is
    idempotent (a retry creates the same idea, not a second one), random otherwise."""
    cmd = _command.get()
    if cmd:
        return derive_id(tenant, cmd, purpose)
    return str(uuid.uuid4())


def request_fingerprint(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def _sleep(seconds: float) -> None:
    time.sleep(seconds)   # green under nameko (eventlet monkey-patches time.sleep)


@dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential backoff between conflicting attempts: the first retry is immediate (the winner has
    already appended), then ``uniform(0, min(cap, base * 2**n))``."""
    attempts: int = 30
    base: float = 0.002
    cap: float = 0.05

    def delay(self, attempt: int) -> float:
        if attempt == 0:
            return 0.0
        return random.uniform(0, min(self.cap, self.base * 2 ** min(attempt, 10)))


DEFAULT_BACKOFF = Backoff()


@dataclass
class Outcome:
    """What a command did: the stream, its version afterwards, the positions and events appended (or found stored,
    ``replayed``). ``data`` is the first event's data."""
    stream: str
    version: int
    positions: list = field(default_factory=list)
    events: list = field(default_factory=list)
    replayed: bool = False

    @property
    def position(self) -> int | None:
        return self.positions[-1] if self.positions else None

    @property
    def types(self) -> list[str]:
        return [e.type for e in self.events]

    @property
    def data(self) -> dict:
        return self.events[0].data if self.events else {}

    @property
    def appended(self) -> bool:
        return bool(self.events) and not self.replayed

    def body(self, **ids) -> dict:
        """The usual command response: version, position, event types, plus the given ids (None dropped)."""
        out = {"version": self.version, "position": self.position, "events": self.types}
        out.update({k: v for k, v in ids.items() if v is not None})
        return out


class AggregateCache:
    """LRU of aggregates by (tenant, stream), each with the stream version it is a replay of.

    Safe because an aggregate is only ever a replay of a stream *prefix* and the runner only trusts it for a
    decision that appends: the append carries ``expected_version`` = the cached version, and the store refuses it
    unless the stream is still exactly there. A stale entry costs a conflict and a re-read, never a wrong event."""

    def __init__(self, size: int = 100_000):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key) -> tuple[Any, int] | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key, aggregate, version: int) -> None:
        with self._lock:
            current = self._items.get(key)
            if current is not None and current[1] >= version:
                return                              # never replace a newer prefix by an older one
            self._items[key] = (aggregate, version)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def drop(self, key) -> None:
        with self._lock:
            self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


def _as_events(decided) -> list[NewEvent]:
    if decided is None:
        return []
    if isinstance(decided, NewEvent):
        return [decided]
    out = list(decided)
    for ev in out:
        if not isinstance(ev, NewEvent):
            raise TypeError(f"a decide function must return agora.events.NewEvent objects, got {type(ev).__name__}")
    return out


def _identity(events):
    return events


class CommandRunner:
    """Runs commands against the event store (see the module docstring). One per process is enough; it holds no
    per-request state."""

    def __init__(self, store, *, backoff: Backoff = DEFAULT_BACKOFF, sleep: Callable[[float], None] = _sleep):
        self.store = store
        self.backoff = backoff
        self.sleep = sleep

    # ------------------------------------------------------------------ the one loop
    def run(self, tenant: str, stream: str, decide: Callable[[Any], Any], *,
            load: Callable[[list[StoredEvent]], Any] = _identity,
            cache: AggregateCache | None = None, initial: Callable[[], Any] | None = None,
            evolve: Callable[[Any, list[NewEvent]], Any] | None = None) -> Outcome:
        """Decide on ``stream``'s aggregate and append the new events with the expected version.

        ``cache`` (with ``evolve(aggregate, new_events) -> aggregate``, pure, returning a new object) keeps the
        aggregate after each append; ``initial()`` is the state assumed for a stream this process never saw (the
        append with expected version 0 checks the assumption)."""
        cmd = _command.get()
        if cmd:
            prior = self._stored_outcome(tenant, stream, cmd)
            if prior is not None:
                return prior
        key = (tenant, stream)
        for attempt in range(self.backoff.attempts):
            agg, version, trusted = None, 0, True
            if attempt == 0 and cache is not None:
                hit = cache.get(key)
                if hit is not None:
                    agg, version = hit
                    trusted = False
                elif initial is not None:
                    agg, version = initial(), 0
                    trusted = False
            if trusted:
                agg, version = self._load(tenant, stream, load, cache, key)
                new = _as_events(decide(agg))
            else:
                try:
                    new = _as_events(decide(agg))
                except AgoraError:
                    new = []                        # a refusal is only ever answered from the stream itself
                if not new:
                    agg, version = self._load(tenant, stream, load, cache, key)
                    new = _as_events(decide(agg))
            if not new:
                return Outcome(stream, version)
            new = self._stamp(tenant, stream, new, cmd)
            try:
                positions = self.store.append(tenant, stream, new, expected_version=version)
            except ConcurrencyError:
                if cache is not None:
                    cache.drop(key)
                if attempt + 1 < self.backoff.attempts:
                    self.sleep(self.backoff.delay(attempt))
                continue
            if cache is not None:
                if evolve is not None:
                    cache.put(key, evolve(agg, new), version + len(new))
                else:
                    cache.drop(key)
            return Outcome(stream, version + len(new), positions, new)
        raise ConcurrencyError(tenant, stream, "retried",
                               f"still conflicting after {self.backoff.attempts} attempts")

    def _load(self, tenant, stream, load, cache, key):
        events = self.store.read_stream(tenant, stream)
        version = events[-1].version if events else 0
        agg = load(events)
        if cache is not None:
            cache.put(key, agg, version)
        return agg, version

    @staticmethod
    def _stamp(tenant: str, stream: str, new: list[NewEvent], cmd: str | None) -> list[NewEvent]:
        cid = current_correlation()
        out = []
        for i, ev in enumerate(new):
            eid = derive_id(tenant, cmd, stream, i) if cmd else ev.id
            out.append(NewEvent(ev.type, ev.data, id=eid, correlationid=ev.correlationid or cid,
                                causationid=ev.causationid or cmd, time=ev.time))
        return out

    def _stored_outcome(self, tenant: str, stream: str, cmd: str) -> Outcome | None:
        """The outcome of this command on this stream when a previous attempt appended it already."""
        first = self.store.get(derive_id(tenant, cmd, stream, 0))
        if first is None or first.tenant != tenant:
            return None
        events = [e for e in self.store.read_stream(tenant, stream, first.version) if e.causationid == cmd]
        return Outcome(stream, self.store.stream_version(tenant, stream), [e.position for e in events],
                       events or [first], replayed=True)

    # ------------------------------------------------------------------ conveniences
    def append_new(self, tenant: str, stream: str, events: Iterable[NewEvent] | NewEvent,
                   exists_error: Callable[[], Exception] | None = None) -> Outcome:
        """Start a new stream (expected version 0): ``exists_error()`` is raised when it exists already."""
        def decide(stored):
            if stored:
                if exists_error is not None:
                    raise exists_error()
                return None
            return events
        return self.run(tenant, stream, decide)
