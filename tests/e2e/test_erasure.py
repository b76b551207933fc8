"""Erasure end to end (issue 16, point 1): a person writes an idea, comments, reacts, likes a comment, flags and
casts a budget ballot, all with self-declared demographics and consent; an admin has the decisions, the Pabulib
file and the analytics report exported. Then the admin erases the person (``POST …/erasures``), and every
collection of every service (read side and the log's database), every HTTP response (JSON, CSV, XLSX, Pabulib, the
decision renderings, the analytics report) and every message of a queue bound to every exchange is scanned for the
person's subject, display name, demographics, pseudonym and the digests derived from the subject: zero hits, and
every count is what it was before (the person's votes still count, anonymously).

The whole platform runs as in ``tests/e2e/test_platform.py``: SecantusDB, a fresh vhost, the relay and every service
of ``agora.topology.services()`` as a real ``nameko run`` process (abuse limits on: their counters are keyed by
the person too). The analytics PDF is rendered from the HTML report, which is scanned. Finally every service but
analytics (its corpora live in memory) rebuilds its read models from the log: the person does not come back.
Helpers: ``tests/e2e/erasure_support.py``."""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pymongo
import pytest
import requests

from agora.testing import eventually as wait
from agora import auth, topology
from agora.application import request_fingerprint
from agora.events import registry
from agora.personal import PersonalVault
from agora.ratelimit import person_key
from agora.store import EventStore
from agora.testing.plugin import SecantusServer, Vhost
from agora.testing.services import run_relay, run_service

sys.path.insert(0, str(Path(__file__).resolve().parent))
import erasure_support as es  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TENANT = "demo"
SUB = "erasure-subject-7f3a"
DISPLAY_NAME = "Zephyrine Quillfeather"
BIRTH_YEAR = 1919
DISTRICT = "Quillmoor-7f3a"
GENDER = "non_binary"          # nobody else in this population declares it
TAP = "erasure.tap"
OTHERS = [  # (sub, birth year, gender, district, display name)
    ("citizen-a", 1961, "female", "Centrum", "Ann"), ("citizen-b", 1975, "male", "Noord", "Bert"),
    ("citizen-c", 1988, "female", "Zuid", None), ("citizen-d", 1992, "male", "Centrum", "Dirk"),
    ("citizen-e", 2001, "female", "Noord", None), ("citizen-f", 1969, "male", "Zuid", "Frank"),
    ("citizen-g", 1984, "female", "Centrum", "Greet"), ("citizen-h", 1999, "male", "Noord", None)]
TEXTS = [  # distinct themes so the topic model has something to find
    ("Protected bike lanes on Station Road", "Separate the bike lane from car traffic with kerbs for safe cycling."),
    ("Secure bicycle parking at the station", "Guarded bicycle storage with places for bikes near the trains."),
    ("Plant trees on every shopping street", "Shade trees and planters make streets cooler in summer heat."),
    ("Community garden in the school yard", "Turn the empty school yard into a vegetable garden with trees."),
    ("More parking spaces near the market", "Short stay car parking near the market for older shoppers."),
    ("Free car parking for the first hour", "The first hour of car parking in the centre should be free."),
    ("Benches along the walking routes", "A bench every 200 metres so older people can rest while walking."),
    ("Public toilets and benches in the park", "Clean public toilets and shaded benches in the central park."),
]
SUBJECT_IDEA = ("Cycle path along the canal", "A wide cycle and walking path along the canal with trees and benches.")


def _token(sub, roles):
    return {"Authorization": "Bearer " + auth.mint(sub, TENANT, roles)}


ADMIN = _token("erasure-admin", ["admin", "moderator"])


def _iso(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def eventually(fetch, check, what, timeout=180.0, interval=0.3):
    return wait(fetch, timeout, interval, what, check=check)


def _ok(resp, *codes):
    assert resp.status_code in (codes or (200, 201)), \
        f"{resp.request.method} {resp.url}: {resp.status_code} {resp.text[:500]}"
    return resp.json() if "json" in resp.headers.get("Content-Type", "") else resp.text


@pytest.fixture(scope="module")
def platform():
    server = SecantusServer()
    vhost = Vhost()
    db_name, events_db = "erasure", "erasure_events"
    # the tap: bound with '#' to every exchange the platform publishes to, before anything is published
    exchanges = sorted({f"{t.source}.events" for t in registry.all_types()} | {"agora.partners"})
    es.open_tap(vhost.uri, exchanges, TAP)
    with ExitStack() as stack:
        stack.callback(server.stop)
        stack.callback(vhost.delete)
        stack.enter_context(run_relay(server.uri, db_name, vhost.uri, AGORA_EVENTS_DB=events_db))
        urls = {}
        for svc in topology.services():
            config = ROOT / svc.folder / "config.yaml"
            proc = stack.enter_context(run_service(svc.module, server.uri, db_name, vhost.uri,
                                                   config=str(config) if config.exists() else None,
                                                   AGORA_SERVICE_NAME=svc.name, AGORA_ANALYTICS_MIN_IDEAS=5,
                                                   AGORA_RATE_LIMITS="on",      # their counters are per person
                                                   AGORA_EVENTS_DB=events_db))
            urls[svc.name] = proc.url
        client = pymongo.MongoClient(server.uri)
        yield {"urls": urls, "db": client[db_name], "events_db": client[events_db], "amqp": vhost.uri,
               "exchanges": exchanges, "uri": server.uri}
        client.close()


# ---------------------------------------------------------------- the story


def _seed(urls):
    ideas = f"{urls['ideas']}/api/v1/tenants/{TENANT}"
    votes = f"{urls['votes']}/api/v1/tenants/{TENANT}"
    budgets = f"{urls['budgets']}/api/v1/tenants/{TENANT}/budgets/rounds"
    now = datetime.now(timezone.utc)
    project = _ok(requests.post(ideas + "/projects", headers=ADMIN, timeout=30, json={
        "title": "Erasure test project", "description": "Ideas for the centre.", "language": "en", "phases": [
            {"kind": "ideation", "title": "Ideas", "start": _iso(now - timedelta(days=1)),
             "end": _iso(now + timedelta(days=30))},
            {"kind": "voting", "title": "Support", "start": _iso(now - timedelta(days=1)),
             "end": _iso(now + timedelta(days=30))}]}))
    project_id = project["project_id"]
    people = [{"sub": s, "birth_year": y, "gender": g, "district": d, "name": n} for s, y, g, d, n in OTHERS]
    subject = {"sub": SUB, "birth_year": BIRTH_YEAR, "gender": GENDER, "district": DISTRICT, "name": DISPLAY_NAME}

    def demographics(p):
        return {"birth_year": p["birth_year"], "gender": p["gender"], "district": p["district"], "consent": True}

    def votes_personal(p):
        return {"birth_year": p["birth_year"], "gender": p["gender"], "district": p["district"], "consent": True}

    idea_ids = []
    for p, (title, body) in zip(people + [subject], TEXTS + [SUBJECT_IDEA]):
        extra = {"display_name": p["name"]} if p["name"] else {}
        headers = dict(_token(p["sub"], ["citizen"]), **{"Idempotency-Key": f"submit-{p['sub']}"})
        out = _ok(requests.post(ideas + "/ideas", headers=headers, timeout=30, json=dict({
            "project_id": project_id, "title": title, "body": body, "language": "en", "tags": ["centre"],
            "demographics": demographics(p)}, **extra)), 201)
        idea_ids.append(out["idea_id"])
    subject_idea = idea_ids[-1]
    # comments: others on the subject's idea, the subject on another idea and in reply
    comment_ids = []
    for p in people[:3]:
        out = _ok(requests.post(f"{ideas}/ideas/{subject_idea}/comments", headers=_token(p["sub"], ["citizen"]),
                                timeout=30, json={"body": f"Good idea, says {p['sub'][-1]}.", "language": "en"}), 201)
        comment_ids.append(out["comment_id"])
    subj = _token(SUB, ["citizen"])
    out = _ok(requests.post(f"{ideas}/ideas/{idea_ids[0]}/comments", timeout=30,
                            headers=dict(subj, **{"Idempotency-Key": "comment-1"}),
                            json={"body": "Yes, and along the canal too.", "language": "en",
                                  "display_name": DISPLAY_NAME}), 201)
    subject_comment = out["comment_id"]
    out = _ok(requests.post(f"{ideas}/ideas/{subject_idea}/comments", headers=subj, timeout=30,
                            json={"body": "Thanks, the canal path would connect the school.",
                                  "parent_id": comment_ids[0], "language": "en", "display_name": DISPLAY_NAME}), 201)
    subject_reply = out["comment_id"]
    comment_ids += [subject_comment, subject_reply]
    _ok(requests.post(f"{ideas}/comments/{comment_ids[1]}/flag", headers=subj, timeout=30,
                      json={"reason": "off topic"}), 201)
    # reactions: everybody on several ideas (with demographics given with the vote), likes on comments
    for n, p in enumerate(people):
        h = _token(p["sub"], ["citizen"])
        for k, idea_id in enumerate(idea_ids):
            if (n + k) % 3 != 0 or idea_id == subject_idea:
                _ok(requests.put(f"{votes}/ideas/{idea_id}/reaction", headers=h, timeout=30, json={
                    "value": 1 if (n + k) % 5 else -1, "personal": votes_personal(p)}))
        _ok(requests.put(f"{votes}/comments/{subject_comment}/like", headers=h, timeout=30,
                         json={"personal": votes_personal(p)}))
    for idea_id, value in ((idea_ids[0], 1), (idea_ids[2], 1), (idea_ids[4], -1), (subject_idea, 1)):
        _ok(requests.put(f"{votes}/ideas/{idea_id}/reaction", headers=dict(subj, **{
            "Idempotency-Key": f"react-{idea_id}"}), timeout=30, json={"value": value,
                                                                       "personal": votes_personal(subject)}))
    _ok(requests.put(f"{votes}/comments/{comment_ids[0]}/like", headers=subj, timeout=30,
                     json={"personal": votes_personal(subject)}))
    # a participatory-budgeting round: every one casts a ballot (the subject with demographics and consent)
    rnd = _ok(requests.post(budgets, headers=ADMIN, timeout=30, json={
        "project_id": project_id, "title": "Erasure round", "budget": "300000", "currency": "EUR",
        "ballot_type": "approval", "constraints": {"max_projects": 3}, "rule": "mes-add1"}), 201)
    round_id = rnd["round_id"]
    pb_projects = []
    for n, idea_id in enumerate([subject_idea] + idea_ids[:5]):
        pid = f"p{n + 1:02d}"
        _ok(requests.post(f"{budgets}/{round_id}/projects", headers=ADMIN, timeout=30, json={
            "id": pid, "cost": str(60_000 + 10_000 * n), "title": f"Project {n + 1}",
            "attributes": {"idea_id": idea_id}}), 201)
        pb_projects.append(pid)
    for n, p in enumerate(people):
        _ok(requests.put(f"{budgets}/{round_id}/ballot", headers=_token(p["sub"], ["citizen"]), timeout=30,
                         json={"selection": [pb_projects[n % 6], pb_projects[(n + 2) % 6]],
                               "personal": votes_personal(p)}))
    _ok(requests.put(f"{budgets}/{round_id}/ballot", headers=dict(subj, **{"Idempotency-Key": "ballot-1"}),
                     timeout=30, json={"selection": ["p01", "p03", "p05"], "personal": votes_personal(subject)}))
    eventually(lambda: requests.get(f"{budgets}/{round_id}", timeout=30).json(),
               lambda r: r.get("ballots") == len(people) + 1, "ballots projected")
    _ok(requests.post(f"{budgets}/{round_id}/close", headers=ADMIN, timeout=60))
    eventually(lambda: requests.post(f"{budgets}/{round_id}/outcome", headers=ADMIN, json={}, timeout=300),
               lambda r: r.status_code in (200, 201), "round counted", timeout=30, interval=1.0)  # < 60 writes/min
    # decisions: the subject's idea accepted, another rejected (the bridge records and renders them)
    for idea_id, status in ((subject_idea, "accepted"), (idea_ids[4], "rejected")):
        for step in ("under_review", status):
            _ok(requests.post(f"{ideas}/ideas/{idea_id}/status", headers=ADMIN, timeout=30, json={
                "status": step, "feedback": "Decided by the council." if step == status else "",
                "feedback_language": "en"}))
    return {"project_id": project_id, "idea_ids": idea_ids, "subject_idea": subject_idea,
            "comment_ids": comment_ids, "round_id": round_id, "pb_projects": pb_projects,
            "phase_ids": project.get("phase_ids") or []}


def _wait_caught_up(platform, story):
    """Read models show the whole story: ideas with their counters, tallies, ballots, decisions, analytics."""
    urls = platform["urls"]
    ideas = f"{urls['ideas']}/api/v1/tenants/{TENANT}"
    votes = f"{urls['votes']}/api/v1/tenants/{TENANT}"
    n_ideas = len(story["idea_ids"])
    eventually(lambda: requests.get(ideas + "/ideas", params={"limit": 100}, timeout=30).json(),
               lambda b: len(b.get("items", [])) == n_ideas, "ideas listed")
    eventually(lambda: requests.get(f"{ideas}/ideas/{story['subject_idea']}", timeout=30).json(),
               lambda d: d.get("status") == "accepted" and len(_comments(d)) >= 4, "idea detail")
    eventually(lambda: requests.get(f"{votes}/ideas/{story['subject_idea']}/tally", timeout=30).json(),
               lambda t: t.get("up", 0) >= 1, "tally")
    bridge = f"{urls['backoffice-bridge']}/api/v1/tenants/{TENANT}/decisions"
    eventually(lambda: requests.get(bridge, headers=ADMIN, timeout=30).json(),
               lambda b: len(b.get("items", [])) >= 3, "decisions recorded")
    report = (f"{urls['analytics']}/api/v1/tenants/{TENANT}/projects/{story['project_id']}/analytics/report")
    eventually(lambda: requests.get(report, headers=ADMIN, timeout=60),
               lambda r: r.status_code == 200 and len(r.json().get("assignments", {})) == n_ideas
               and r.json()["meta"].get("n_supports"), "analytics report", timeout=240)
    _wait_checkpoints(platform, platform["events_db"].events.find_one(sort=[("_id", -1)])["_id"])


def _comments(detail):
    out, stack = [], list(detail.get("comments") or [])
    while stack:
        c = stack.pop()
        out.append(c)
        stack.extend(c.get("replies") or c.get("children") or [])
    return out


def _wait_checkpoints(platform, position):
    """Every subscription of every service has passed ``position`` (the relay too)."""
    db = platform["db"]

    def lagging():
        docs = list(db.subscription_checkpoints.find({}))
        return [(d["_id"], d.get("position")) for d in docs
                if not str(d["_id"]).endswith("~rebuild") and (d.get("position") or 0) < position]
    eventually(lagging, lambda lag: not lag, f"every subscription past position {position}", timeout=180)


def _counts(platform, story):
    """Every count the erasure must leave as it was."""
    urls = platform["urls"]
    ideas = f"{urls['ideas']}/api/v1/tenants/{TENANT}"
    votes = f"{urls['votes']}/api/v1/tenants/{TENANT}"
    budgets = f"{urls['budgets']}/api/v1/tenants/{TENANT}/budgets/rounds/{story['round_id']}"
    analytics = f"{urls['analytics']}/api/v1/tenants/{TENANT}/projects/{story['project_id']}/analytics"
    out = {}
    listed = requests.get(ideas + "/ideas", params={"limit": 100}, timeout=30).json()["items"]
    out["ideas"] = sorted((i["idea_id"], i.get("votes_up"), i.get("votes_down"), i.get("comments"),
                           i.get("status")) for i in listed)
    out["counts"] = requests.get(ideas + "/ideas/counts", timeout=30).json()
    out["comments"] = {i: len(_comments(requests.get(f"{ideas}/ideas/{i}", timeout=30).json()))
                       for i in story["idea_ids"]}
    for i in story["idea_ids"]:
        t = requests.get(f"{votes}/ideas/{i}/tally", headers=ADMIN, timeout=30).json()
        out[f"tally {i}"] = (t["up"], t["down"], t.get("total"))
    for c in story["comment_ids"]:
        t = requests.get(f"{votes}/comments/{c}/tally", headers=ADMIN, timeout=30).json()
        out[f"likes {c}"] = (t["up"], t["down"])
    rnd = requests.get(budgets, timeout=30).json()
    out["ballots"] = rnd.get("ballots")
    outcome = requests.get(budgets + "/outcome", timeout=30).json()
    out["outcome"] = {k: outcome.get(k) for k in ("selected", "tallies", "ballots", "spent", "scores")
                      if k in outcome}
    pb = requests.get(budgets + "/export.pb", headers=ADMIN, timeout=60).text
    out["pabulib votes"] = _pb_votes(pb)
    meta = requests.get(analytics + "/report", headers=ADMIN, timeout=60).json()["meta"]
    out["analytics"] = {k: meta.get(k) for k in ("n_ideas", "n_analysed", "n_supports", "n_comments")}
    decisions = requests.get(f"{urls['backoffice-bridge']}/api/v1/tenants/{TENANT}/decisions", headers=ADMIN,
                             timeout=30).json()["items"]
    out["decisions"] = sorted((d["decision_id"], d.get("outcome")) for d in decisions)
    return out


def _pb_votes(text):
    lines = text.splitlines()
    if "VOTES" not in lines:
        return None
    rows = [line for line in lines[lines.index("VOTES") + 2:] if line.strip()]
    return sorted(";".join(sorted(r.split(";")[1].split(","))) if ";" in r else r for r in rows)


# ---------------------------------------------------------------- scanning


def _needles(pseudonym: str) -> list[es.Needle]:
    sub_id = PersonalVault._subject_id(TENANT, SUB)
    everywhere = {"read", "events", "http", "queue"}
    read_side = {"read", "http"}
    return [
        es.literal("subject", SUB, everywhere),
        es.literal("display name", DISPLAY_NAME, everywhere),
        es.literal("district", DISTRICT, everywhere),
        es.Needle("birth year", re.compile(r"(?<![\w.:+-])" + str(BIRTH_YEAR) + r"(?![\w:])"), frozenset(everywhere)),
        es.literal("gender", GENDER, {"read", "http"}),
        es.literal("pseudonym", pseudonym, read_side),
        es.literal("key id", f"{TENANT}:{pseudonym}", read_side),
        es.literal("subject digest (key vault)", sub_id.rsplit(":", 1)[1], everywhere),
        es.literal("subject digest (idempotency owner)", request_fingerprint("owner", TENANT, SUB), everywhere),
        es.literal("subject digest (rate limits)", person_key(TENANT, SUB).split("|", 1)[1], everywhere),
        es.literal("subject sha256", hashlib.sha256(SUB.encode()).hexdigest(), everywhere),
    ]


def _http_places(platform, story):
    """(url, params) of every GET route of every OpenAPI document, each id filled in with every known value, and
    the export variants (CSV, XLSX, Pabulib, every decision rendering)."""
    urls = platform["urls"]
    decisions = requests.get(f"{urls['backoffice-bridge']}/api/v1/tenants/{TENANT}/decisions", headers=ADMIN,
                             params={"limit": 100}, timeout=30).json()["items"]
    deliveries = requests.get(f"{urls['backoffice-bridge']}/api/v1/tenants/{TENANT}/deliveries", headers=ADMIN,
                              timeout=30).json().get("items", [])
    adapters = requests.get(f"{urls['backoffice-bridge']}/api/v1/tenants/{TENANT}/deliveries/adapters",
                            headers=ADMIN, timeout=30).json().get("items", [])
    values = {
        "tenant": [TENANT], "project_id": [story["project_id"]], "project": [story["project_id"]],
        "idea_id": story["idea_ids"], "comment_id": story["comment_ids"], "round_id": [story["round_id"]],
        "phase_id": story["phase_ids"], "decision_id": [d["decision_id"] for d in decisions],
        "delivery_id": [d.get("delivery_id") for d in deliveries if d.get("delivery_id")],
        "adapter_id": [a.get("adapter_id") for a in adapters if a.get("adapter_id")],
        "key": ["submit-" + SUB, "ballot-1", "comment-1"], "name": ["index.html"], "path": ["index.html"],
    }
    overrides = {"/outcome/projects/": {"project_id": story["pb_projects"]}}
    places = []
    for base in urls.values():
        for path in es.openapi_get_paths(base):
            for filled in es.expand(path, values, overrides):
                url = base + filled
                places.append((url, {}))
                if "/analytics/" in path and not path.endswith(("/report.html", "/report.pdf", "/status")):
                    for fmt in ("csv", "xlsx"):
                        if not (path.endswith("/report") and fmt == "csv"):
                            places.append((url, {"format": fmt}))
                if path.endswith("/decisions/{decision_id}"):
                    for fmt in ("oslo-ttl", "oslo-jsonld", "akn", "popolo", "csv"):
                        places.append((url, {"format": fmt}))
                    places.append((url, {"format": "csv", "variant": "excel"}))
                if path.endswith("/ideas"):
                    for sort in ("most_voted", "trending"):
                        places.append((url, {"sort": sort, "limit": 100}))
                    places.append((url, {"include_hidden": "true", "limit": 100}))
                if path.endswith("/ideas/similar"):
                    places.append((url, {"text": "cycle path canal trees benches", "limit": 20}))
    return places


def _scan_http(platform, story, needles, hits):
    fetched = []                                       # (url, caller) answered 200
    callers = {"admin": ADMIN, "anonymous": None, "citizen": _token("citizen-a", ["citizen"])}
    for url, params in _http_places(platform, story):
        # API documents and the dashboard's files list every gender a form offers
        ns = [n for n in needles if n.label != "gender"] if ("openapi" in url or "/dashboard/" in url) else needles
        for who, headers in callers.items():
            resp = es.fetch(url, headers, params)
            assert resp.status_code < 500, f"{who} GET {resp.url}: {resp.status_code} {resp.text[:300]}"
            if resp.status_code == 200:
                fetched.append((resp.url, who))
            hits.scan(f"GET {resp.url} as {who} ({resp.status_code})", es.response_text(resp), ns, "http")
    return fetched


def _scan_everything(platform, story, needles):
    hits = es.Hits()
    per_db = {}
    for db, scope in ((platform["db"], "read"), (platform["events_db"], "events")):
        per_db[db.name] = es.scan_database(db, needles, scope, hits)
    fetched = _scan_http(platform, story, needles, hits)
    return hits, per_db, fetched


# ---------------------------------------------------------------- the test


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_an_erased_person_is_nowhere_and_every_count_stays(platform):
    urls = platform["urls"]
    story = _seed(urls)
    _wait_caught_up(platform, story)
    store = EventStore(platform["db"], events_db=platform["events_db"])
    pseudonym = store.person_id(TENANT, SUB, create=False)
    assert pseudonym and pseudonym != SUB
    needles = _needles(pseudonym)

    # the scan finds the person before the erasure (so zero hits afterwards means something)
    before, per_db, fetched_before = _scan_everything(platform, story, needles)
    labels_before = {label for _where, label, _x in before.found}
    assert {"display name", "district", "birth year", "gender", "pseudonym", "key id", "subject digest (key vault)",
            "subject digest (idempotency owner)"} <= labels_before, labels_before
    assert any(w.startswith("GET ") and label == "display name" for w, label, _x in before.found), \
        "the display name is published before the erasure (the HTTP scan sees what it looks for)"
    counts_before = _counts(platform, story)
    assert counts_before["ballots"] == len(OTHERS) + 1 and counts_before["pabulib votes"]

    # erase (admin endpoint); the CLI path exists too
    erased = requests.post(f"{urls['ideas']}/api/v1/tenants/{TENANT}/erasures", headers=ADMIN, timeout=30,
                           json={"person": SUB, "reason": "GDPR art. 17 request E-2026-7f3a"})
    assert erased.status_code == 202, erased.text
    assert erased.json()["person"] == pseudonym
    cli = subprocess.run([sys.executable, "-m", "agora", "erase", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert cli.returncode == 0 and "--person" in cli.stdout and "--reason" in cli.stdout, cli.stderr
    forgotten = platform["events_db"].events.find_one({"type": "PersonalDataForgotten"})
    assert forgotten is not None and forgotten["data"]["person"] == pseudonym
    _wait_checkpoints(platform, forgotten["_id"])
    _wait_checkpoints(platform, platform["events_db"].events.find_one(sort=[("_id", -1)])["_id"])
    fresh = EventStore(platform["db"], events_db=platform["events_db"])      # no pseudonym cached in this process
    assert fresh.person_id(TENANT, SUB, create=False) is None, "the subject→pseudonym mapping is gone"
    keys = platform["db"].personal_keys
    assert keys.find_one({"_id": PersonalVault._subject_id(TENANT, SUB)}) is None
    assert keys.find_one({"_id": PersonalVault.kid(TENANT, pseudonym)}) is None

    # nowhere: every collection, every HTTP response, every message the exchanges routed
    hits, per_db, fetched = _scan_everything(platform, story, needles)
    assert len(fetched) == len(fetched_before) and len(fetched) > 100, (len(fetched), len(fetched_before))
    answered = [url for url, who in fetched if who == "admin"]
    for wanted in ("/analytics/report?", "/analytics/report?format=xlsx", "/analytics/report.html",
                   "/analytics/segments?format=csv", "/analytics/segments?format=xlsx", "/analytics/topics?",
                   "/export.pb", "/outcome/projects/p01", "format=oslo-ttl", "format=oslo-jsonld", "format=akn",
                   "format=popolo", "format=csv&variant=excel", "/tally", "/moderation/queue", "/decisions?"):
        assert any(wanted in url or url.endswith(wanted.rstrip("?")) for url in answered), f"no 200 for {wanted}"
    assert per_db[platform["db"].name] and per_db[platform["events_db"].name]["events"] > 0
    messages = es.drain(platform["amqp"], TAP)
    assert len(messages) >= platform["events_db"].events.count_documents({}), "the tap saw every event"
    for svc in topology.services():
        for headers, key, body in es.drain(platform["amqp"], f"agora.dlq.{svc.name}", passive=True):
            hits.scan(f"queue agora.dlq.{svc.name} ({key})", f"{headers}\n{body.decode('utf-8', 'replace')}",
                      needles, "queue")
    for headers, key, body in messages:
        hits.scan(f"queue {TAP} message {headers.get('message_id')} ({key})",
                  f"{headers}\n{body.decode('utf-8', 'replace')}", needles, "queue")
    assert not hits.found, f"the erased person is still in {len(hits.places())} places:\n{hits.report()}"

    # the person's votes still count, anonymously
    assert _counts(platform, story) == counts_before

    # projections are disposable: rebuilt from the log (shredded, pseudonym unlinked), nothing comes back
    env = dict(os.environ, AGORA_MONGO_URI=platform["uri"], AGORA_MONGO_DB=platform["db"].name,
               AGORA_EVENTS_DB=platform["events_db"].name, AGORA_AMQP_URI=platform["amqp"])
    owners = {str(d["_id"]).split(":")[0] for d in platform["db"].subscription_checkpoints.find({})}
    assert {"ideas", "votes", "budgets", "backoffice_bridge"} <= owners, owners
    for name in sorted(owners - {"analytics"}):    # analytics keeps its corpora in memory: it needs a restart
        done = subprocess.run([sys.executable, "-m", "agora", "projections", "rebuild", name, "--yes",
                               "--wait", "300"], capture_output=True, text=True, timeout=400, env=env)
        assert done.returncode == 0, f"rebuild {name}: {done.stdout}{done.stderr}"
    _wait_checkpoints(platform, platform["events_db"].events.find_one(sort=[("_id", -1)])["_id"])
    rebuilt = es.Hits()
    for db, scope in ((platform["db"], "read"), (platform["events_db"], "events")):
        es.scan_database(db, needles, scope, rebuilt)
    assert not rebuilt.found, f"a rebuild brought the erased person back:\n{rebuilt.report()}"
    assert _counts(platform, story) == counts_before
