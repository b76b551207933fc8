"""End to end: an idea submitted over HTTP is stored, published by the relay (`python -m agora.relay` subprocess)
to the topic exchange ``ideas.events`` — received here by a plain kombu consumer — and visible in the list."""
import json
import time

import kombu
import pytest
import requests

from agora.testing.services import run_relay

from agora.testing import eventually

from ideas_support import open_phases

T = "ghent"


@pytest.fixture(scope="module")
def relay(running):
    with run_relay(running.mongo_uri, running.db.name, running.amqp_uri) as proc:
        yield proc


def test_submitted_idea_is_stored_published_and_listed(running, relay):
    admin = running.token("ada", ["admin"])
    alice = running.token("alice", ["citizen"])
    exchange = kombu.Exchange("ideas.events", type="topic", durable=True)
    with kombu.Connection(running.amqp_uri) as conn:
        queue = kombu.Queue("e2e-ideas", exchange=exchange, routing_key="#", exclusive=True)
        queue(conn.default_channel).declare()
        received = []

        def on_message(body, message):
            received.append((json.loads(body) if isinstance(body, (str, bytes)) else body, message.headers,
                             message.delivery_info["routing_key"]))
            message.ack()

        with conn.Consumer([queue], callbacks=[on_message],
                           accept=["json", "application/json", "application/cloudevents+json"]):
            project = requests.post(running.api() + "/projects", headers=admin,
                                    json={"title": "E2E", "phases": open_phases()}).json()["project_id"]
            r = requests.post(running.api() + "/ideas", headers=alice, json={
                "project_id": project, "title": "Fontaine 💧 au parc", "body": "Une fontaine d'eau potable",
                "demographics": {"birth_year": 2001, "district": "Centrum", "consent": True}})
            assert r.status_code == 201, r.text
            idea_id = r.json()["idea_id"]
            # stored
            [stored] = running.store.read_stream(T, f"idea-{idea_id}")
            assert stored.type == "IdeaSubmitted"
            # published
            deadline = time.time() + 30
            while time.time() < deadline and not any(ce["type"] == "IdeaSubmitted" for ce, _, _ in received):
                try:
                    conn.drain_events(timeout=1)
                except (TimeoutError, OSError):
                    pass
    types = [ce["type"] for ce, _, _ in received]
    assert types[:3] == ["ProjectCreated", "PhaseAdded", "PhaseAdded"] and "IdeaSubmitted" in types
    ce, headers, routing_key = next(x for x in received if x[0]["type"] == "IdeaSubmitted")
    assert routing_key == "IdeaSubmitted" and headers["tenant"] == T
    assert ce["specversion"] == "1.0" and ce["source"] == "/agora/ideas" and ce["id"] == stored.id
    assert ce["subject"] == f"idea-{idea_id}" and ce["tenant"] == T
    assert ce["dataschema"].endswith("/schemas/IdeaSubmitted.v2.json")
    assert ce["data"]["idea_id"] == idea_id and ce["data"]["title"] == "Fontaine 💧 au parc"
    assert ce["data"]["language"] == "fr" and ce["data"]["author"] == running.store.person_id(T, "alice")
    # demographics: plaintext for readers of the store, sealed (crypto-shreddable) on the wire
    assert stored.data["personal"] == {"birth_year": 2001, "gender": None, "district": "Centrum", "domicile": None,
                                       "consent": True, "display_name": None}
    assert set(ce["data"]["personal"]) == {"_enc", "_kid"} and "Centrum" not in json.dumps(ce)
    # visible in the list projection
    items = eventually(lambda: [i for i in requests.get(running.api() + "/ideas",
                                                        params={"project_id": project}).json()["items"]
                                if i["idea_id"] == idea_id])
    assert items[0]["title"] == "Fontaine 💧 au parc" and items[0]["status"] == "proposed"
