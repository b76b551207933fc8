"""Grants, enforced by the broker, and what leaves: a partner of tenant A (a real second RabbitMQ user) receives only
its granted tenant and types, transformed (pseudonyms, bucketed demographics only if granted), cannot bind, declare,
consume or publish its way anywhere else, and loses access at once when revoked."""
import json

import pika
import pytest
from cloudevents.core.bindings.rabbitmq import RabbitMQMessage, from_rabbitmq_event
from pika.exceptions import AMQPConnectionError, ChannelClosedByBroker, ConnectionClosedByBroker, StreamLostError

from partners_support import (append, cli, consume, grant, idea, reaction, rabbitmq_users,
                              store_of, unique_partner)

PEOPLE = ("alice", "bob", "carol", "dora", "erin", "frank", "mod-gert")


def _status(idea_id, by):
    return {"idea_id": idea_id, "project_id": "p1", "title": "Idea", "from": "proposed", "to": "accepted",
            "decision": True, "feedback": "", "feedback_language": None, "decided_by": by}


def test_partner_of_tenant_a_gets_only_its_grant_transformed_and_nothing_else(mongo_db, amqp_uri, relay,
                                                                              partners_env):
    store = store_of(mongo_db)
    a, b = unique_partner("lab"), unique_partner("news")
    ga = grant(partners_env, a, "alpha", "ReactionCast,IdeaSubmitted,IdeaStatusChanged", "--demographics")
    gb = grant(partners_env, b, "beta", "*", "--identities", "drop")
    assert ga["queue"] == f"agora.partner.{a}" and ga["tenants"] == ["alpha"] and ga["amqp_uri"].startswith("amqp://")
    assert a in rabbitmq_users() and b in rabbitmq_users()

    append(store, "alpha", "reactions-p1-alice", "ReactionCast", reaction("alice", birth_year=1991))
    append(store, "beta", "reactions-p1-bob", "ReactionCast", reaction("bob"))
    append(store, "alpha", "idea-i1", "IdeaSubmitted", idea("i1", "carol", birth_year=1958))
    append(store, "beta", "idea-i9", "IdeaStatusChanged", _status("i9", "dora"))
    append(store, "alpha", "manual-i1", "ManualVotesSet", {"idea_id": "i1", "project_id": "p1", "phase_id": None,
                                                            "up": 3, "reason": "paper", "by": "mod-gert"})
    append(store, "alpha", "idea-i1", "IdeaStatusChanged", _status("i1", "erin"))
    append(store, "alpha", "reactions-p1-frank", "ReactionCast", reaction("frank", idea="i1"))   # the last one

    last = "00000000000000000007"          # frank's reaction: everything before it has been dispatched
    got_a = consume(ga["amqp_uri"], ga["queue"], lambda m: any(json.loads(body)["sequence"] == last for _, body in m))
    got_b = consume(gb["amqp_uri"], gb["queue"], lambda m: len(m) >= 2)

    events_a = [json.loads(body) for _, body in got_a]
    assert [(e["tenant"], e["type"]) for e in events_a] == [
        ("alpha", "ReactionCast"), ("alpha", "IdeaSubmitted"), ("alpha", "IdeaStatusChanged"),
        ("alpha", "ReactionCast")]
    assert [int(e["sequence"]) for e in events_a] == [1, 3, 6, 7]
    # the binding: structured mode, headers agree with the body, the SDK parses it
    for props, body in got_a + got_b:
        ce = json.loads(body)
        assert props.content_type == "application/cloudevents+json"
        assert props.headers == {"tenant": ce["tenant"], "sequence": ce["sequence"], "type": ce["type"],
                                 "source": ce["source"]}
        assert from_rabbitmq_event(RabbitMQMessage(dict(props.headers), props.content_type, body)).get_id() == ce["id"]
    # what leaves: no person identifier anywhere (data, subject, headers), no birth year, nothing sealed
    for props, body in got_a + got_b:
        text = body.decode() + json.dumps(props.headers)
        for person in PEOPLE:
            assert person not in text, f"{person} leaked: {text}"
        assert "1991" not in text and "1958" not in text and "birth_year" not in text and "_enc" not in text
    alice, carol, erin, frank = events_a
    assert alice["data"]["voter"].startswith("pn_") and alice["subject"] == "reactions-p1-" + alice["data"]["voter"]
    assert alice["data"]["personal"] == {"age_band": "35-44", "gender": "female", "district": "Centrum"}
    assert carol["data"]["author"].startswith("pn_") and carol["data"]["personal"]["age_band"] == "65-74"
    assert "consent" not in carol["data"]["personal"]
    assert erin["data"]["decided_by"].startswith("pn_") and frank["data"]["voter"] not in (alice["data"]["voter"],)
    assert len({alice["data"]["voter"], carol["data"]["author"], erin["data"]["decided_by"]}) == 3
    # partner B (tenant beta, every type, identities dropped, no demographics)
    events_b = [json.loads(body) for _, body in got_b]
    assert [(e["tenant"], e["type"], e["partner"]) for e in events_b] == [("beta", "ReactionCast", b),
                                                                          ("beta", "IdeaStatusChanged", b)]
    assert events_b[0]["data"]["voter"] is None and events_b[0]["data"]["personal"] is None
    assert events_b[0]["subject"] == "reactions-p1-x" and events_b[1]["data"]["decided_by"] is None

    # the partner cannot bind, declare, consume or publish its way to anything else
    conn = pika.BlockingConnection(pika.URLParameters(ga["amqp_uri"]))
    attempts = {
        "bind to the platform's exchange": lambda ch: ch.queue_bind(ga["queue"], "votes.events", "#"),
        "bind to another tenant's keys": lambda ch: ch.queue_bind(ga["queue"], "agora.partners", f"{a}.beta.#"),
        "bind to another partner's keys": lambda ch: ch.queue_bind(ga["queue"], "agora.partners", f"{b}.#"),
        "declare a queue": lambda ch: ch.queue_declare("sneaky"),
        "declare a server-named queue": lambda ch: ch.queue_declare("", exclusive=True),
        "consume another partner's queue": lambda ch: ch.basic_get(gb["queue"]),
        "publish": lambda ch: (ch.confirm_delivery(), ch.basic_publish("agora.partners", f"{a}.alpha.ReactionCast",
                                                                       b"{}")),
        "delete its queue": lambda ch: ch.queue_delete(ga["queue"]),
    }
    for what, attempt in attempts.items():
        ch = conn.channel()
        with pytest.raises(ChannelClosedByBroker) as refused:
            attempt(ch)
        assert refused.value.reply_code == 403, what
    conn.close()

    # revocation: the open connection is closed, the user and queue are gone, a new connection is refused
    conn = pika.BlockingConnection(pika.URLParameters(ga["amqp_uri"]))
    proc = cli({k: v for k, v in partners_env.items() if not k.startswith("_")}, "partners", "revoke", a)
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"partner": a, "revoked": True}
    with pytest.raises((ConnectionClosedByBroker, StreamLostError)):
        for _ in range(100):
            conn.process_data_events(time_limit=0.2)
    assert a not in rabbitmq_users()
    with pytest.raises(AMQPConnectionError):
        pika.BlockingConnection(pika.URLParameters(ga["amqp_uri"]))
    platform = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    with pytest.raises(ChannelClosedByBroker) as gone:
        platform.channel().queue_declare(ga["queue"], passive=True)
    assert gone.value.reply_code == 404
    platform.close()
    # the dispatcher stops publishing for A; B is untouched
    append(store, "alpha", "reactions-p1-alice", "ReactionCast", dict(reaction("alice"), value=-1,
                                                                      previous=1) | {"value": 1, "previous": 0})
    append(store, "beta", "reactions-p1-bob2", "ReactionCast", reaction("bob2"))
    [(_, body)] = consume(gb["amqp_uri"], gb["queue"], lambda m: len(m) >= 1)
    assert json.loads(body)["sequence"] == "00000000000000000009"
    grants = store.db.get_collection("partner_grants")
    assert grants.find_one({"_id": a})["revoked"] is True


def test_grant_cli_refuses_bad_requests(partners_env):
    env = {k: v for k, v in partners_env.items() if not k.startswith("_")}
    for args, needle in [
        (["grant", "Bad_Name", "--tenant", "alpha", "--types", "ReactionCast"], "partner name"),
        (["grant", "lab-x", "--tenant", "alpha", "--types", "NoSuchType"], "unknown event type"),
        (["grant", "lab-x", "--tenant", "Alpha!", "--types", "ReactionCast"], "not a tenant"),
        (["revoke", "nobody-here"], "no grant"),
    ]:
        proc = cli(env, "partners", *args)
        assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
