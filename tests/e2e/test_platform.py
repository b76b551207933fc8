"""The whole platform end to end: every service as a real `nameko run` process, the relay, RabbitMQ and
SecantusDB; the demo city (deploy/local/demo_city.py, what `make run` seeds) entered through the public APIs."""
import sys
from pathlib import Path

import pytest
import requests

from agora.testing import eventually as wait
from agora import auth
from agora.store import EventStore
from agora.testing.services import run_relay, run_service

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "local"))
import demo_city  # noqa: E402

TENANT = "demo"
SERVICES = [("ideas", "ideas.service"), ("votes", "votes.service"), ("budgets", "budgets.service"),
            ("analytics", "analytics.service"), ("backoffice-bridge", "backoffice_bridge.service")]


def eventually(fetch, check, timeout=90.0, interval=0.25):
    return wait(fetch, timeout, interval, "platform state", check=check)


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    from contextlib import ExitStack

    import pymongo

    from agora.testing.plugin import SecantusServer, Vhost
    server = SecantusServer()
    vhost = Vhost()
    db_name = "e2e"
    events_db = "e2e_events"     # as in production: the log in its own (append-only by role) database
    with ExitStack() as stack:
        stack.callback(server.stop)
        stack.callback(vhost.delete)
        stack.enter_context(run_relay(server.uri, db_name, vhost.uri, AGORA_EVENTS_DB=events_db))
        urls = {}
        for name, module in SERVICES:
            config = ROOT / "services" / name / "config.yaml"
            proc = stack.enter_context(run_service(module, server.uri, db_name, vhost.uri,
                                                   config=str(config) if config.exists() else None,
                                                   AGORA_SERVICE_NAME=name, AGORA_ANALYTICS_MIN_IDEAS=5,
                                                   AGORA_EVENTS_DB=events_db))
            urls[name] = proc.url
        seeded = demo_city.seed(urls, TENANT, citizens=80)
        client = pymongo.MongoClient(server.uri)
        yield {"urls": urls, "seeded": seeded, "db": client[db_name], "events_db": client[events_db]}


def admin():
    return {"Authorization": "Bearer " + auth.mint("e2e-admin", TENANT, ["admin", "moderator"])}


def test_ideas_votes_and_decisions_flow_through_the_platform(platform):
    urls, seeded = platform["urls"], platform["seeded"]
    assert seeded["seeded"] and seeded["ideas"] == len(demo_city.IDEAS) and seeded["reactions"] > 100
    ideas_api = f"{urls['ideas']}/api/v1/tenants/{TENANT}"
    listed = eventually(lambda: requests.get(ideas_api + "/ideas", params={"limit": 100}).json(),
                        lambda body: len(body.get("items", [])) == len(demo_city.IDEAS))
    most_voted = requests.get(ideas_api + "/ideas", params={"sort": "most_voted", "limit": 5}).json()["items"]
    assert most_voted[0]["idea_id"] in {i["idea_id"] for i in listed["items"]}
    # votes: the tally of the most voted idea has per-segment counts
    first = most_voted[0]["idea_id"]
    tally_url = f"{urls['votes']}/api/v1/tenants/{TENANT}/ideas/{first}/tally"
    tally = eventually(lambda: requests.get(tally_url, headers=admin()).json(), lambda t: t.get("up", 0) > 0)
    assert tally["segments"]                                           # staff see segments …
    assert requests.get(tally_url).json()["segments"] is None          # … the public sees totals
    # bridge: the accepted and the rejected idea became decisions, rendered as OSLO Turtle
    bridge_api = f"{urls['backoffice-bridge']}/api/v1/tenants/{TENANT}/decisions"
    # one story: the ideas the budget round funds are the accepted ones, plus one rejected idea
    assert seeded["funded"] and sorted(seeded["accepted"]) == sorted(seeded["funded"])
    decisions = eventually(lambda: requests.get(bridge_api, headers=admin()).json(),
                           lambda body: len(body.get("items", [])) >= len(seeded["funded"]) + 2)["items"]
    assert sorted(d["outcome"] for d in decisions if d["kind"] == "idea_status") == \
        ["accepted"] * len(seeded["funded"]) + ["rejected"]
    assert [d["outcome"] for d in decisions if d["kind"] == "budget_outcome"] == ["allocated"]   # the demo round
    accepted = next(d for d in decisions if d["outcome"] == "accepted")
    ttl = requests.get(f"{bridge_api}/{accepted['decision_id']}.ttl", headers=admin())
    assert ttl.status_code == 200, ttl.text
    assert "Besluit" in ttl.text and "Funded by the participatory budget" in ttl.text


def test_analytics_sees_the_demo_city(platform):
    urls, seeded = platform["urls"], platform["seeded"]
    api = f"{urls['analytics']}/api/v1/tenants/{TENANT}/projects/{seeded['project_id']}/analytics"
    report = eventually(lambda: requests.get(api + "/report", headers=admin()).json(),
                        lambda r: r.get("topics") and len(r.get("assignments", {})) == len(demo_city.IDEAS),
                        timeout=180)
    assert {row["measure"] for row in report["segments"]} >= {"ideas", "support"}
    assert {row["dimension"] for row in report["segments"]} >= {"age_band", "gender", "district"}


def test_no_personal_data_reaches_the_broker_or_plain_event_documents(platform):
    db, events_db = platform["db"], platform["events_db"]
    assert "events" not in db.list_collection_names(), "the log lives only in AGORA_EVENTS_DB"
    raw = events_db.events.find_one({"type": "IdeaSubmitted"})
    assert set(raw["data"]["personal"]) == {"_enc", "_kid"}
    store = EventStore(db, events_db=events_db)
    assert store.read_stream(TENANT, raw["stream"])[0].data["personal"]["consent"] is True


def test_a_real_pabulib_round_is_counted_and_exported_as_a_decision(platform):
    """Assen 2024 (Method of Equal Shares + add-one) imported through the budgets API, counted in its worker,
    equals the official winners, and reaches the back-office bridge as a budget_outcome decision."""
    from agora.testing import shared_path
    path = shared_path("data/pabulib/Netherlands_Assen_2024.pb")
    official = _official_selected(path.read_text(encoding="utf-8"))
    urls = platform["urls"]
    api = f"{urls['budgets']}/api/v1/tenants/{TENANT}/budgets/rounds"
    imported = requests.post(api + "/import", params={"project_id": "assen-2024", "rule": "mes-add1"},
                             data=path.read_bytes(), headers=admin(), timeout=300)
    assert imported.status_code == 201, imported.text
    round_id = imported.json()["round_id"]
    counted = requests.post(f"{api}/{round_id}/outcome", json={}, headers=admin(), timeout=600)
    assert counted.status_code in (200, 201), counted.text
    outcome = requests.get(f"{api}/{round_id}/outcome", headers=admin()).json()
    assert set(outcome["selected"]) == official
    bridge_api = f"{urls['backoffice-bridge']}/api/v1/tenants/{TENANT}/decisions"
    decisions = eventually(lambda: requests.get(bridge_api, headers=admin()).json(),
                           lambda body: any(d.get("kind") == "budget_outcome" for d in body.get("items", [])))
    budget = next(d for d in decisions["items"] if d["kind"] == "budget_outcome")
    assert budget["outcome"] == "allocated"


def _official_selected(text: str) -> set[str]:
    lines = text.splitlines()
    start = lines.index("PROJECTS") + 1
    header = lines[start].split(";")
    selected = set()
    for line in lines[start + 1:]:
        if line.strip() == "VOTES":
            break
        row = dict(zip(header, line.split(";")))
        if row.get("selected", "0").strip() == "1":
            selected.add(row["project_id"])
    return selected
