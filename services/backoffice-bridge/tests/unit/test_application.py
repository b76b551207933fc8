"""The bridge's use cases over the in-memory event store and a real (embedded) read-side database, without nameko:
recording decisions, adapters with secrets that are never published, rotation, the projection and erasure."""
from __future__ import annotations

import json

import pytest

from agora.auth import Principal
from agora.errors import Conflict, NotFound
from agora.events import NewEvent
from agora.memory import InMemoryEventStore
from backoffice_bridge import decisions as dmap
from backoffice_bridge.application import Bridge
from backoffice_bridge.projections import Viewer

T = "gent"
SECRET = "whsec_c2VjcmV0LWtleS1mb3ItdW5pdC10ZXN0cy0wMTIz"


def who(sub: str, *roles: str) -> Principal:
    return Principal(sub, T, frozenset(roles or ("partner",)))


@pytest.fixture
def bridge(mongo_db, monkeypatch, tmp_path):
    monkeypatch.setenv("AGORA_ENV", "development")
    monkeypatch.setenv("AGORA_WEBHOOK_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("AGORA_BRIDGE_DROP_ROOT", str(tmp_path))
    return Bridge(InMemoryEventStore(), mongo_db).ensure_indexes()


def project_all(bridge: Bridge) -> None:
    for ev in bridge.store.read_all(T):
        bridge.projection.apply(ev, None)


def test_recording_a_decision_is_idempotent(bridge):
    ev = NewEvent("IdeaStatusChanged", {"idea_id": "idea-1", "project_id": "p", "title": "Fietsstraat",
                                        "from": "under_review", "to": "accepted", "decision": True, "feedback": "",
                                        "feedback_language": "nl", "decided_by": "service:backoffice_bridge"})
    bridge.store.append(T, "idea-idea-1", [ev])
    stored = bridge.store.get(ev.id)
    first = bridge.record_from_event(stored)
    assert bridge.record_from_event(stored) == first == dmap.decision_id_for(T, ev.id)
    [recorded] = bridge.store.read_stream(T, f"decision-{first}")
    assert recorded.data["inbound_command_id"].startswith(dmap.INBOUND_PREFIX)   # the bridge caused it
    assert recorded.data["decision"]["motivation"] is None                        # empty feedback: none


def test_adapters_secrets_and_rotation(bridge):
    alice, bob, admin = who("alice"), who("bob"), who("ada", "admin")
    hook = {"type": "webhook", "format": "csv", "url": "http://127.0.0.1:9/hook", "enabled": True, "secret": SECRET}
    out = bridge.configure_adapter(T, alice, "erp", dict(hook))
    assert out["adapter_id"] == "erp" and out["events"] == ["DeliveryConfigured"]
    published = json.dumps([e.data for e in bridge.store.read_all(T)])
    assert SECRET not in published and "secret" not in published and "alice" not in published
    with pytest.raises(Conflict):
        bridge.configure_adapter(T, bob, "erp", dict(hook))
    project_all(bridge)
    alice_view = Viewer(bridge.store.person_id(T, "alice"), False)
    assert [a["adapter_id"] for a in bridge.queries.list_adapters(T, alice_view)["items"]] == ["erp"]
    assert bridge.queries.list_adapters(T, bridge.viewer(T, bob))["items"] == []
    assert bridge.queries.list_adapters(T, bridge.viewer(T, admin))["items"][0]["owner"] == "partner"
    with pytest.raises(NotFound):
        bridge.rotate_secret(T, bob, "erp", "another-secret-0123456789", None)
    rotated = bridge.rotate_secret(T, alice, "erp", "another-secret-0123456789", 60)
    assert rotated["secrets_in_force"] == 2
    assert bridge.scheduler.secrets_of(T, "erp") == ["another-secret-0123456789", SECRET]
    bridge.rotate_secret(T, alice, "erp", "third-secret-0123456789ab", 0)
    assert bridge.scheduler.secrets_of(T, "erp") == ["third-secret-0123456789ab"]


def test_erasure_drops_the_pseudonym_from_the_read_models(bridge):
    alice = who("alice")
    bridge.configure_adapter(T, alice, "feed", {"type": "pull", "format": "csv", "enabled": True})
    person = bridge.store.person_id(T, "alice")
    bridge.store.erase_subject(T, "alice", reason="request")
    project_all(bridge)
    doc = bridge.cols.adapters.find_one({"_id": f"{T}/feed"})
    assert doc["owned_by"] is None and doc["configured_by"] == "" and person not in json.dumps(doc, default=str)
