"""The application layer's mechanisms over the real store: the command runner, tenants, pseudonyms, tokens."""
import threading
import time

import jwt
import pytest

from agora import auth, privacy
from agora.application import AggregateCache, Backoff, CommandRunner, command, derive_id, new_id
from agora.errors import ConcurrencyError, Conflict, Unauthorized
from agora.events import NewEvent
from agora.store import EventStore
from agora.tenants import TenantRegistry, UnknownTenant


@pytest.fixture
def store(mongo_db):
    return EventStore(mongo_db).ensure_indexes()


def _things(events):
    return [e.data["n"] for e in events]


def _ev(n):
    return NewEvent("TestHappened", {"n": n, "words": 0})


def test_runner_appends_with_expected_version_and_retries_conflicts(store):
    runner = CommandRunner(store, backoff=Backoff(attempts=50, base=0.001, cap=0.005))
    results = []

    def add(i):
        out = runner.run("city", "counter", lambda ns: _ev(len(ns) + 1), load=_things)
        results.append(out)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # every command saw the stream it appended to: values 1..8, one each, versions contiguous
    assert sorted(e.data["n"] for e in store.read_stream("city", "counter")) == list(range(1, 9))
    assert sorted(o.version for o in results) == list(range(1, 9))


def test_runner_refusal_and_noop(store):
    runner = CommandRunner(store)

    def refuse(events):
        raise Conflict("not now", reason="closed")
    with pytest.raises(Conflict):
        runner.run("city", "s", refuse)
    out = runner.run("city", "s", lambda events: None)
    assert out.version == 0 and out.positions == [] and not out.appended
    assert store.head() == 0


def test_runner_rejects_other_event_shapes(store):
    with pytest.raises(TypeError):
        CommandRunner(store).run("city", "s", lambda events: [("TestHappened", {"n": 1, "words": 0})])


def test_idempotent_command_appends_once_and_ids_are_stable(store):
    runner = CommandRunner(store)
    with command("cmd-1"):
        a = new_id("city", "thing")
        first = runner.run("city", "s", lambda evs: _ev(len(evs) + 1))
    with command("cmd-1"):
        b = new_id("city", "thing")
        again = runner.run("city", "s", lambda evs: _ev(len(evs) + 1))
    assert a == b and first.appended and again.replayed
    assert again.positions == first.positions and again.events[0].id == first.events[0].id
    assert len(store.read_stream("city", "s")) == 1
    assert store.read_stream("city", "s")[0].causationid == "cmd-1"
    with command("cmd-2"):
        assert new_id("city", "thing") != a


def test_cached_aggregate_is_checked_by_the_expected_version(store):
    runner = CommandRunner(store)
    cache = AggregateCache()
    kwargs = dict(load=_things, cache=cache, initial=list, evolve=lambda agg, new: agg + [e.data["n"] for e in new])
    runner.run("city", "c", lambda ns: _ev(len(ns) + 1), **kwargs)
    # another process appends behind this cache's back
    store.append("city", "c", [_ev(2)], expected_version=1)
    out = runner.run("city", "c", lambda ns: _ev(len(ns) + 1), **kwargs)
    assert _things(store.read_stream("city", "c")) == [1, 2, 3] and out.version == 3
    assert cache.get(("city", "c")) == ([1, 2, 3], 3)


def test_runner_gives_up_with_a_concurrency_error(store):
    runner = CommandRunner(store, backoff=Backoff(attempts=3), sleep=lambda s: None)

    def always_behind(events):
        store.append("city", "x", [_ev(len(events) + 100)], expected_version=len(events))   # someone else wins
        return _ev(1)
    with pytest.raises(ConcurrencyError):
        runner.run("city", "x", always_behind)


def test_tenant_registry(mongo_db, store):
    reg = TenantRegistry(store)
    reg.add("gent", {"min_cell_size": 10, "languages": ["nl", "en"]}, by="op")
    assert reg.get("gent").min_cell_size == 10
    assert reg.get("gent").setting("writes_per_minute_person") == 60
    with pytest.raises(Conflict):
        reg.add("gent")
    with pytest.raises(UnknownTenant):
        reg.get("Gent")
    with pytest.raises(UnknownTenant):
        reg.get("brugge")
    assert reg.ensure("brugge").name == "brugge"
    reg.configure("gent", {"min_cell_size": 7})
    assert reg.get("gent").min_cell_size == 7 and reg.get("gent").setting("languages") == ["nl", "en"]
    assert [t.name for t in reg.list()] == ["brugge", "gent"]
    assert store.head() == 0        # operator configuration, not a city's history


def test_pseudonyms_and_erasure(store, mongo_db):
    p1 = store.person_id("city", "alice@idp")
    assert p1.startswith("p-") and "alice" not in p1
    assert store.person_id("city", "alice@idp") == p1
    assert store.person_id("other", "alice@idp") != p1            # tenant-scoped
    store.append("city", "idea-1", [NewEvent("TestProfiled", {"author": p1,
                                                               "personal": {"birth_year": 1990}})])
    assert store.read_stream("city", "idea-1")[0].data["personal"] == {"birth_year": 1990}
    assert store.erase_subject("city", "alice@idp", "request", "admin") == p1
    ev = store.read_stream("city", "idea-1")[0]
    assert ev.data["personal"] is None and ev.data["personal_shredded"]
    forgotten = store.read_stream("city", f"person-{p1}")[0]
    assert forgotten.type == "PersonalDataForgotten" and forgotten.data["person"] == p1
    assert "alice" not in str(list(mongo_db.personal_keys.find())) + str(list(mongo_db.events.find()))
    assert store.person_id("city", "alice@idp", create=False) is None
    assert store.erase_subject("city", "nobody") is None


def test_tokens_plain_errors_and_limits(monkeypatch):
    token = auth.mint("alice", "demo", ["citizen"])
    p = auth.decode(token)
    assert p.sub == "alice" and p.kind == "user" and not p.is_service
    for bad, words in [("garbage.\xb7token", "not a valid JWT"),
                       (jwt.encode({"sub": "a", "tenant": "demo", "iat": 1, "exp": 2 ** 40, "iss": "agora",
                                    "aud": "agora"}, auth.jwt_secret(), "HS256"), "lives longer"),
                       (jwt.encode({"sub": "a", "tenant": "demo", "iat": int(time.time()),
                                    "exp": int(time.time()) + 60, "iss": "agora", "aud": "other"},
                                   auth.jwt_secret(), "HS256"), "not meant for this platform"),
                       (jwt.encode({"sub": "a", "tenant": "demo", "exp": int(time.time()) + 60},
                                   auth.jwt_secret(), "HS256"), "lacks the claim"),
                       (jwt.encode({"sub": "a", "tenant": "demo", "iat": int(time.time()),
                                    "exp": int(time.time()) + 60, "iss": "agora", "aud": "agora"},
                                   "another-secret-of-enough-length-0123456789", "HS256"), "signature")]:
        with pytest.raises(Unauthorized) as err:
            auth.decode(bad)
        assert words in str(err.value)
    svc = auth.decode(auth.service_token("bridge", ["ideas.change_status"]))
    assert svc.is_service and svc.may("ideas.change_status") and not svc.may("ideas.merge")


def test_secret_required_outside_development(monkeypatch):
    monkeypatch.setenv("AGORA_ENV", "production")
    monkeypatch.delenv("AGORA_JWT_SECRET", raising=False)
    with pytest.raises(auth.ConfigurationError, match="AGORA_JWT_SECRET is not set"):
        auth.check_configuration()
    monkeypatch.setenv("AGORA_JWT_SECRET", "")
    with pytest.raises(auth.ConfigurationError):
        auth.check_configuration()
    monkeypatch.setenv("AGORA_JWT_SECRET", "short")
    with pytest.raises(auth.ConfigurationError, match="at least 32"):
        auth.check_configuration()
    monkeypatch.setenv("AGORA_JWT_SECRET", "x" * 40)
    auth.check_configuration()
    with pytest.raises(ValueError, match="at most"):
        auth.mint("a", "demo", ["citizen"], ttl_s=100 * 365 * 86400)


def test_cell_suppression():
    out = privacy.suppress({"20-40": 12, "40-60": 3, "60-80": 9}, 5)
    assert out == {"20-40": 12, "40-60": "< 5", "60-80": "< 5"}
    assert privacy.suppress({"a": 0, "b": 7}, 5) == {"a": 0, "b": 7}
    assert not privacy.any_small(privacy.suppress({"a": 1, "b": 2, "c": 30}, 5), 5)
    assert privacy.any_small({"x": [{"n": 4}]}, 5) and not privacy.any_small({"x": True}, 5)
    assert derive_id("a", 1) == derive_id("a", 1) != derive_id("a", 2)


def test_concurrent_new_people_get_one_pseudonym_each_in_grouped_writes(store, mongo_db):
    subjects = [f"voter-{i}" for i in range(60)]
    results: dict = {}

    def resolve(sub):
        results.setdefault(sub, set()).add(store.person_id("city", sub))

    threads = [threading.Thread(target=resolve, args=(s,)) for s in subjects * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(len(v) == 1 for v in results.values()) and len(results) == 60
    assert len({next(iter(v)) for v in results.values()}) == 60
    assert mongo_db.personal_keys.count_documents({"_id": {"$regex": "^sub:city:"}}) == 60
    # another process (a fresh vault) finds the same pseudonyms
    assert EventStore(mongo_db).person_id("city", "voter-7") == next(iter(results["voter-7"]))
