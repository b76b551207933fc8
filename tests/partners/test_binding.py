"""The CloudEvents AMQP/RabbitMQ binding, structured mode: every event type the platform publishes, as the relay
publishes it, parsed with the official SDK (``from_rabbitmq_event``, ``from_json``), a plain pika consumer and a
kombu consumer (nameko's library); headers agree with the body; ``dataschema`` resolves over HTTP to the schema
the event's data validates against."""
import json
import time

import jsonschema
import pika
import requests
from cloudevents.core.bindings.rabbitmq import RabbitMQMessage, from_rabbitmq_event
from cloudevents.v1.http import from_json

from agora import contract
from agora.events import registry
from agora.events.envelope import NewEvent
from partners_support import store_of

T = "ghent"


def _publish_every_type(store):
    """One event of every documented type and version: the latest through the store's append; older versions as a
    release of their time stored them (raw documents, personal data sealed), which the relay publishes as stored."""
    expected = {}
    old = []
    for etype in contract.documented_types():
        data = contract.example_data(etype)
        if etype.version < registry.latest_version(etype.name):
            old.append((etype, data))
            continue
        [position] = store.append(T, f"{etype.name.lower()}-{etype.version}-alice", [NewEvent(etype.name, data)])
        expected[position] = etype
    for etype, data in old:
        position = store.head() + 1
        store.events.insert_one({"_id": position, "p": position, "tenant": T, "stream": f"old-{etype.name}",
                                 "version": 1, "eid": f"old-{etype.name}-{etype.version}", "type": etype.name,
                                 "v": etype.version, "source": etype.source, "time": "2026-01-05T10:00:00.000000Z",
                                 "data": store.vault.seal(T, data)})
        expected[position] = etype
    return expected


def test_every_published_type_parses_with_the_sdk_and_validates(mongo_db, amqp_uri, relay):
    store = store_of(mongo_db)
    sources = sorted({t.source for t in contract.documented_types()})
    conn = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    ch = conn.channel()
    queue = ch.queue_declare("", exclusive=True).method.queue
    for source in sources:
        ch.exchange_declare(f"{source}.events", exchange_type="topic", durable=True)
        ch.queue_bind(queue, f"{source}.events", "#")
    expected = _publish_every_type(store)
    got = []
    deadline = time.time() + 60
    for method, props, body in ch.consume(queue, inactivity_timeout=0.5):
        if method is not None:
            got.append((method, props, body))
            ch.basic_ack(method.delivery_tag)
        if len({json.loads(b)["sequence"] for _, _, b in got}) >= len(expected):
            break
        assert time.time() < deadline, f"{len(got)} of {len(expected)} events arrived"
    ch.cancel()
    conn.close()

    schemas = {}
    seen_types = set()
    for method, props, body in got:
        # structured mode: the whole event in the body, no binary-mode headers
        assert props.content_type == "application/cloudevents+json"
        assert not [h for h in (props.headers or {}) if h.lower().startswith("ce-")]
        ce = json.loads(body)
        # headers agree with the body
        assert props.headers == {"tenant": ce["tenant"], "sequence": ce["sequence"], "type": ce["type"],
                                 "source": ce["source"]}
        assert props.message_id == ce["id"] and method.routing_key == ce["type"]
        assert method.exchange == ce["source"].rsplit("/", 1)[1] + ".events"
        # the official SDK, RabbitMQ binding (auto-detects the mode from content_type)
        event = from_rabbitmq_event(RabbitMQMessage(headers=dict(props.headers), content_type=props.content_type,
                                                    body=body))
        assert event.get_id() == ce["id"] and event.get_type() == ce["type"] and event.get_source() == ce["source"]
        assert event.get_extension("sequence") == ce["sequence"] and event.get_extension("tenant") == T
        assert event.get_data() == ce["data"] and event.get_dataschema() == ce["dataschema"]
        # the SDK's JSON format
        legacy = from_json(body)
        assert legacy["id"] == ce["id"] and legacy["type"] == ce["type"] and legacy.data == ce["data"]
        # the envelope and the data validate; dataschema resolves over HTTP to the data's schema
        jsonschema.Draft202012Validator(contract.ENVELOPE, format_checker=jsonschema.FormatChecker()).validate(ce)
        url = ce["dataschema"]
        assert url.startswith(relay.url.replace("127.0.0.1", "localhost")) or url.startswith(relay.url)
        if url not in schemas:
            r = requests.get(url.replace("localhost", "127.0.0.1"), timeout=10)
            assert r.status_code == 200 and r.headers["Content-Type"] == "application/schema+json"
            schemas[url] = r.json()
            assert schemas[url]["$id"].endswith(url.split("/schemas/", 1)[1])
        jsonschema.Draft202012Validator(schemas[url], format_checker=jsonschema.FormatChecker()).validate(ce["data"])
        seen_types.add((ce["type"], ce["dataschema"].rsplit("/", 1)[1]))
        # personal data never in clear on the platform's exchanges
        if ce["data"].get("personal") is not None:
            assert set(ce["data"]["personal"]) == {"_enc", "_kid"}
    assert seen_types == {(t.name, contract.schema_file(t)) for t in expected.values()}
    # the AsyncAPI document is served too, and is the committed one
    r = requests.get(relay.url + "/asyncapi.json", timeout=10)
    assert r.status_code == 200 and r.json() == json.loads((contract.DOCS / "asyncapi.json").read_text())


def test_kombu_consumers_decode_structured_cloudevents(mongo_db, amqp_uri, relay):
    """nameko's consumers (kombu) accept the content type and get the CloudEvent as a dict."""
    import kombu.serialization
    kombu.serialization.register("cloudevents", json.dumps, json.loads,
                                 content_type="application/cloudevents+json", content_encoding="utf-8")
    store = store_of(mongo_db)
    exchange = kombu.Exchange("votes.events", type="topic", durable=True)
    received = []
    with kombu.Connection(amqp_uri) as conn:
        queue = kombu.Queue("kombu-ce", exchange=exchange, routing_key="ReactionCast", exclusive=True)
        queue(conn.default_channel).declare()
        from partners_support import append, reaction
        append(store, T, "reactions-p1-bob", "ReactionCast", reaction("bob"))
        with conn.Consumer([queue], callbacks=[lambda body, m: (received.append(body), m.ack())],
                           accept=["json", "cloudevents"]):
            deadline = time.time() + 30
            while not received and time.time() < deadline:
                try:
                    conn.drain_events(timeout=1)
                except (TimeoutError, OSError):
                    pass
    assert isinstance(received[0], dict) and received[0]["type"] == "ReactionCast"
    assert received[0]["data"]["voter"] == "bob" and set(received[0]["data"]["personal"]) == {"_enc", "_kid"}
