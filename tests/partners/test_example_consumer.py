"""examples/partner_consumer.py (pika + the cloudevents SDK, shown in the README) against the live platform: the
ideas service and the relay as real processes; the partner is granted through the relay's admin API; a citizen
submits an idea over HTTP; the example prints it — pseudonymised, demographics bucketed."""
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import requests

from agora import auth
from agora.testing.services import run_relay, run_service
from partners_support import REPO, delete_user, store_of, unique_partner

SECRET = "partner-streams-tests-secret-0123456789"
T = "ghent"


def _iso(days):
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)).isoformat().replace("+00:00", "Z")


def _bearer(sub, roles, tenant=T):
    return {"Authorization": "Bearer " + auth.mint(sub, tenant, roles, secret=SECRET)}


def test_example_consumer_prints_a_live_idea(secantus, mongo_db, amqp_uri):
    name = unique_partner("lab")
    config = str(REPO / "services" / "ideas" / "config.yaml")
    try:
        with run_relay(secantus, mongo_db.name, amqp_uri, AGORA_JWT_SECRET=SECRET) as relay, \
                run_service("ideas.service", secantus, mongo_db.name, amqp_uri, config=config,
                            AGORA_JWT_SECRET=SECRET) as ideas:
            # the operator grants through the admin API (a tenant-wide admin may grant its own tenant only)
            body = {"name": name, "tenants": [T], "types": ["IdeaSubmitted"], "demographics": True}
            r = requests.post(relay.url + "/api/v1/partners", json=body, headers=_bearer("ops", ["admin"], "other"),
                              timeout=30)
            assert r.status_code == 403, r.text
            assert requests.post(relay.url + "/api/v1/partners", json=body, timeout=30).status_code == 401
            r = requests.post(relay.url + "/api/v1/partners", json=body, headers=_bearer("ops", ["admin"]), timeout=60)
            assert r.status_code == 201, r.text
            granted = r.json()
            assert granted["queue"] == f"agora.partner.{name}" and granted["types"] == ["IdeaSubmitted"]
            listed = requests.get(relay.url + "/api/v1/partners", headers=_bearer("ops", ["admin"]),
                                  timeout=30).json()
            assert [g["partner"] for g in listed["items"]] == [name] and "password" not in json.dumps(listed)

            api = f"{ideas.url}/api/v1/tenants/{T}"
            project = requests.post(api + "/projects", headers=_bearer("ada", ["admin"]), timeout=30, json={
                "title": "Parks",
                "phases": [{"kind": "ideation", "title": "Ideas", "start": _iso(-1), "end": _iso(30)}]})
            assert project.status_code == 201, project.text
            r = requests.post(api + "/ideas", headers=_bearer("alice", ["citizen"]), timeout=30, json={
                "project_id": project.json()["project_id"], "title": "A drinking fountain",
                "body": "Near the playground", "demographics": {"birth_year": 1984, "district": "Centrum",
                                                                "consent": True}})
            assert r.status_code == 201, r.text

            proc = subprocess.run([sys.executable, str(REPO / "examples" / "partner_consumer.py"),
                                   granted["amqp_uri"], granted["queue"], "--max", "1"],
                                  capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stderr
            [line] = proc.stdout.splitlines()
            event = json.loads(line)
            assert event["type"] == "IdeaSubmitted" and event["tenant"] == T and event["sequence"].isdigit()
            assert event["data"]["idea_id"] == r.json()["idea_id"] and event["data"]["title"] == "A drinking fountain"
            assert event["data"]["author"].startswith("pn_") and "alice" not in line and "1984" not in line
            # nor the platform's own pseudonym of alice (what the log and the internal exchanges carry)
            log_pseudonym = store_of(mongo_db).person_id(T, "alice", create=False)
            assert log_pseudonym and log_pseudonym not in line
            assert (event["data"]["personal"] or {}).get("age_band") in ("35-44", "45-54"), line
            assert "birth_year" not in line

            # revoke through the admin API
            r = requests.delete(f"{relay.url}/api/v1/partners/{name}", headers=_bearer("ops", ["admin"]), timeout=60)
            assert r.status_code == 200 and r.json() == {"partner": name, "revoked": True}
    finally:
        delete_user(name)


def test_readme_shows_the_example():
    readme = (REPO / "README.md").read_text()
    example = Path(REPO / "examples" / "partner_consumer.py").read_text()
    assert "examples/partner_consumer.py" in readme
    # the README's snippet is the example's consuming loop, verbatim
    assert "from_rabbitmq_event(RabbitMQMessage(" in readme and "from_rabbitmq_event(RabbitMQMessage(" in example
