"""The store contract, run over the in-memory EventStore (agora.memory) too: the same tests as test_store.py
(which runs them over SecantusDB), plus the personal-data contract over both."""
import pytest

import test_store as contract
from agora.events.envelope import NewEvent
from agora.memory import InMemoryEventStore
from agora.store import EventStore


@pytest.fixture
def store():
    return InMemoryEventStore()


test_append_and_read_stream = contract.test_append_and_read_stream
test_expected_version_conflict_is_clear_and_stores_nothing = \
    contract.test_expected_version_conflict_is_clear_and_stores_nothing
test_idempotent_append_returns_original_positions = contract.test_idempotent_append_returns_original_positions
test_invalid_payload_refused_before_storing = contract.test_invalid_payload_refused_before_storing
test_read_all_is_scoped_and_contiguous = contract.test_read_all_is_scoped_and_contiguous
test_cloudevent_envelope = contract.test_cloudevent_envelope
test_group_commit_under_threads = contract.test_group_commit_under_threads
test_expected_any_appends_at_the_end = contract.test_expected_any_appends_at_the_end


@pytest.fixture(params=["secantus", "memory"])
def any_store(request):
    if request.param == "memory":
        return InMemoryEventStore()
    return EventStore(request.getfixturevalue("mongo_db")).ensure_indexes()


def test_personal_data_contract(any_store):
    store = any_store
    person = store.person_id("city", "alice")
    assert person != "alice" and store.person_id("city", "alice") == person
    store.append("city", "p", [NewEvent("TestProfiled", {"author": person, "personal": {"age": 30}})])
    store.append("city", "q", [NewEvent("TestProfiled", {"author": "p-other", "personal": {"age": 50}})])
    assert store.read_stream("city", "p")[0].data["personal"] == {"age": 30}
    assert store.erase_subject("city", "alice", "asked", "admin") == person
    erased = store.read_stream("city", "p")[0].data
    assert erased["personal"] is None and erased["personal_shredded"] is True
    assert store.read_stream("city", "q")[0].data["personal"] == {"age": 50}
    assert store.read_all("city", types=["PersonalDataForgotten"])[0].data["person"] == person
    assert store.person_id("city", "alice", create=False) is None


def test_read_page_reports_the_scan(any_store):
    store = any_store
    for i in range(10):
        store.append("a" if i < 8 else "b", f"s{i}", [contract.ev(i)], 0)
    events, reached = store.read_page("b", after=0, limit=10)
    assert [e.position for e in events] == [9, 10] and reached == 10
    events, reached = store.read_page("a", after=0, limit=3)
    assert [e.position for e in events] == [1, 2, 3]
    assert [e.position for e in store.iter_all("a", batch=3)] == list(range(1, 9))
    assert store.get(events[0].id).position == 1 and store.stream_version("a", "s0") == 1
