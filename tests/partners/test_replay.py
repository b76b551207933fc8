"""Replay: a partner's granted events from a position or a time, streamed as NDJSON over HTTP (the relay's HTTP
server) with a cursor — the same ``id``, ``sequence`` and bytes as live delivery, across a restart of the relay;
erased people stay erased; republish into the partner's own queue only."""
import json
import urllib.parse

import requests

from agora import auth as auth_
from agora.events import registry

from agora.testing.services import start_relay
from partners_support import append, cli, consume, grant, idea, reaction, store_of, unique_partner


def _creds(g):
    uri = urllib.parse.urlsplit(g["amqp_uri"])
    return urllib.parse.unquote(uri.username), urllib.parse.unquote(uri.password)


def _replay(relay, name, auth, headers=None, **params):
    r = requests.get(f"{relay.url}/api/v1/partners/{name}/events", params=params, auth=auth, headers=headers,
                     timeout=60, stream=True)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in r.iter_lines() if line]
    *events, cursor = lines
    assert set(cursor) == {"cursor", "more"}
    return events, cursor


def _mixed(store, n, start=0):
    for i in range(start, start + n):
        tenant = "alpha" if i % 3 else "beta"
        if i % 2:
            append(store, tenant, f"reactions-p1-voter{i}", "ReactionCast", reaction(f"voter{i}", birth_year=1950 + i))
        else:
            append(store, tenant, f"idea-i{i}", "IdeaSubmitted", idea(f"i{i}", f"author{i}", birth_year=1960 + i))


# as in production: the public address of the schemas does not change when the relay restarts (elsewhere)
PUBLIC = {"AGORA_SCHEMA_BASE_URL": "https://agora.example.org"}
SECRET = "partner-replay-tests-secret-0123456789"


def test_replay_matches_live_across_a_relay_restart(secantus, mongo_db, amqp_uri, partners_env):
    store = store_of(mongo_db)
    relay = start_relay(secantus, mongo_db.name, amqp_uri, AGORA_JWT_SECRET=SECRET, **PUBLIC).wait_ready(30)
    try:
        g = grant(partners_env, unique_partner("lab"), "alpha", "ReactionCast,IdeaSubmitted", "--demographics")
        other = grant(partners_env, unique_partner("news"), "beta", "*")
        name, auth = g["partner"], _creds(g)
        _mixed(store, 30)
        alpha_count = sum(1 for i in range(30) if i % 3)
        live = consume(g["amqp_uri"], g["queue"], lambda m: len({json.loads(b)["id"] for _, b in m}) >= alpha_count)
        live_events = {json.loads(b)["id"]: b for _, b in live}
        events, cursor = _replay(relay, name, auth, after="0")
        assert len(events) == alpha_count and cursor == {"cursor": "00000000000000000030", "more": False}
        for e in events:     # the same bytes as live: same id, sequence, subject, pseudonyms and bucketed data
            assert json.loads(live_events[e["id"]]) == e
        assert [int(e["sequence"]) for e in events] == sorted(int(e["sequence"]) for e in events)
        assert all(e["tenant"] == "alpha" for e in events)
        version = registry.latest_version(events[0]["type"])
        assert events[0]["dataschema"] == f"https://agora.example.org/schemas/{events[0]['type']}.v{version}.json"

        # paging with the cursor
        page, c1 = _replay(relay, name, auth, after="0", limit="5")
        assert page == events[:5] and c1 == {"cursor": events[4]["sequence"], "more": True}
        rest, _ = _replay(relay, name, auth, after=c1["cursor"])
        assert page + rest == events
        # from a time: the events at or after it
        since = store.read_all("alpha", after=15, limit=1)[0]
        from_time, _ = _replay(relay, name, auth, since=since.time)
        assert from_time[0]["sequence"] == format(since.position, "020d") and from_time == \
            [e for e in events if int(e["sequence"]) >= since.position]

        # restart the relay: live goes on from the dispatcher's checkpoint, replay gives the same events
        relay.terminate()
        relay = start_relay(secantus, mongo_db.name, amqp_uri, AGORA_JWT_SECRET=SECRET, **PUBLIC).wait_ready(30)
        _mixed(store, 9, start=30)
        new_alpha = sum(1 for i in range(30, 39) if i % 3)
        live2 = consume(g["amqp_uri"], g["queue"],
                        lambda m: len({json.loads(b)["id"] for _, b in m} - set(live_events)) >= new_alpha)
        live2_events = {json.loads(b)["id"]: json.loads(b) for _, b in live2}
        more, cursor2 = _replay(relay, name, auth, after=cursor["cursor"])
        assert {e["id"] for e in more} == set(live2_events) - set(live_events) and len(more) == new_alpha
        for e in more:
            assert live2_events[e["id"]] == e
        assert cursor2 == {"cursor": "00000000000000000039", "more": False}
        everything, _ = _replay(relay, name, auth)
        assert everything == events + more

        # the CLI prints the same NDJSON
        env = {k: v for k, v in partners_env.items() if not k.startswith("_")} | PUBLIC
        proc = cli(env, "replay", name, "--after", cursor["cursor"])
        assert proc.returncode == 0, proc.stderr
        assert [json.loads(line) for line in proc.stdout.splitlines()] == more + [cursor2]

        # erased people stay erased: after forget, replay carries no demographics for them
        victim = more[0]
        person = "voter31" if victim["type"] == "ReactionCast" else "author32"
        assert store.forget_person("alpha", person)
        after_forget, _ = _replay(relay, name, auth, after=cursor["cursor"])
        erased = next(e for e in after_forget if e["id"] == victim["id"])
        assert erased["data"]["personal"] is None and victim["data"]["personal"]["age_band"]
        assert "_enc" not in json.dumps(after_forget) and "birth_year" not in json.dumps(after_forget)

        # who may replay: the partner itself (its broker credentials) or an admin; nobody else
        assert requests.get(f"{relay.url}/api/v1/partners/{name}/events", timeout=10).status_code == 401
        assert requests.get(f"{relay.url}/api/v1/partners/{name}/events", auth=(name, "wrong"),
                            timeout=10).status_code == 401
        assert requests.get(f"{relay.url}/api/v1/partners/{name}/events", auth=_creds(other),
                            timeout=10).status_code == 403
        assert requests.get(f"{relay.url}/api/v1/partners/{name}/events", params={"since": "yesterday"}, auth=auth,
                            timeout=10).status_code == 422
        # or with a bearer token of role partner naming it (as the bridge's partner webhooks use)
        token = {"Authorization": "Bearer " + auth_.mint(name, "alpha", ["partner"], secret=SECRET)}
        by_token, _ = _replay(relay, name, None, after=cursor["cursor"], headers=token)
        assert [e["id"] for e in by_token] == [e["id"] for e in more]
        other_token = {"Authorization": "Bearer " + auth_.mint(other["partner"], "beta", ["partner"], secret=SECRET)}
        assert requests.get(f"{relay.url}/api/v1/partners/{name}/events", headers=other_token,
                            timeout=10).status_code == 403

        # republish into the partner's own queue only (the other partner's queue gets nothing of it)
        r = requests.post(f"{relay.url}/api/v1/partners/{name}/replay", json={"after": "0"}, auth=auth, timeout=60)
        assert r.status_code == 202 and r.json()["republished"] == alpha_count + new_alpha
        again = consume(g["amqp_uri"], g["queue"], lambda m: len(m) >= alpha_count + new_alpha)
        assert [json.loads(b)["id"] for _, b in again] == [e["id"] for e in everything]
        assert all(json.loads(b)["tenant"] == "beta" for _, b in
                   consume(other["amqp_uri"], other["queue"], lambda m: len(m) >= 13))
    finally:
        relay.terminate()
