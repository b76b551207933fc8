"""Helpers shared by the analytics interface and e2e tests: seeding events with the real event schemas through
the EventStore, running the relay + ``nameko run analytics.service``, polling the API."""
from __future__ import annotations

import contextlib
import datetime as dt
import random
from pathlib import Path

import requests

import agora.events.catalog  # noqa: F401 - registers every event schema
from agora.testing import eventually
from agora import auth
from agora.events.envelope import NewEvent
from agora.store import ANY, EventStore
from agora.testing.services import run_relay, run_service
from analytics import live

SERVICE_DIR = Path(__file__).resolve().parents[1]
CONFIG = str(SERVICE_DIR / "config.yaml")
TENANT = "springfield"
PROJECT = "green-city"

THEMES = {
    "parks": ["park", "trees", "garden", "benches", "shade", "lawn", "flowers", "fountain", "playground", "plants"],
    "traffic": ["traffic", "cars", "crossing", "parking", "speed", "bus", "lane", "pedestrians", "junction",
                "roundabout"],
    "sport": ["sports", "swimming", "pool", "football", "basketball", "gym", "court", "athletics", "tennis",
              "training"],
}
# demographics planted per theme: parks ideas mostly by older women, traffic by young men, sport mixed
PLANTED = {"parks": ([1950, 1955, 1960], ["female"] * 4 + ["male"], ["North", "North", "South"]),
           "traffic": ([1995, 2000, 2003], ["male"] * 4 + ["female"], ["South", "South", "East"]),
           "sport": ([1975, 1985, 1990], ["female", "male"], ["East", "North", "South"])}
START = dt.datetime(2026, 9, 7, 9, 0, tzinfo=dt.timezone.utc)


def iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def token(roles=("moderator",), tenant=TENANT, sub="clerk") -> str:
    return auth.mint(sub, tenant, list(roles))


def headers(roles=("moderator",), tenant=TENANT) -> dict:
    return {"Authorization": f"Bearer {token(roles, tenant)}"}


def idea_text(theme: str, rng: random.Random, words: int = 12) -> tuple[str, str]:
    vocab = THEMES[theme]
    others = [w for t, v in THEMES.items() if t != theme for w in v]
    ws = [rng.choice(vocab) for _ in range(words)] + [rng.choice(others)]
    rng.shuffle(ws)
    return f"More {ws[0]} and {ws[1]}", "We want " + " ".join(ws) + " in our neighbourhood."


class Seeder:
    def __init__(self, db, tenant=TENANT, project=PROJECT):
        self.store = EventStore(db).ensure_indexes()
        self.tenant = tenant
        self.project = project
        self.n = 0
        self.records = {}     # idea id -> batch input record of `python -m analytics analyze` (same ideas)

    def append(self, stream, etype, data, when=None):
        return self.store.append(self.tenant, stream, [NewEvent(etype, data, time=iso(when) if when else None)],
                                 ANY)[0]

    def project_with_phases(self):
        p = self.project
        self.append(f"project-{p}", "ProjectCreated", {"project_id": p, "title": "Green city 2026",
                    "description": "What should change?", "language": "en", "created_by": "admin",
                    "workflow": {"proposed": ["accepted", "rejected"]}}, START - dt.timedelta(days=7))
        for pid, kind, title, start, end in (("ph-ideas", "ideation", "Ideas", 0, 28), ("ph-vote", "voting",
                                                                                     "Voting", 28, 56)):
            self.append(f"project-{p}", "PhaseAdded", {"project_id": p, "phase_id": pid, "kind": kind,
                        "title": title, "start": iso(START + dt.timedelta(days=start)),
                        "end": iso(START + dt.timedelta(days=end)), "added_by": "admin"},
                        START - dt.timedelta(days=7))

    def idea(self, theme, rng, phase="ph-ideas", when=None, title=None, body=None, idea_id=None, personal=True):
        self.n += 1
        iid = idea_id or f"{theme}-{self.n}"
        t, b = idea_text(theme, rng)
        years, genders, districts = PLANTED[theme]
        data = {"idea_id": iid, "project_id": self.project, "phase_id": phase, "title": title or t, "body": body or b,
                "language": "en", "author": f"citizen-{self.n}", "tags": [], "status": "proposed",
                "personal": {"birth_year": rng.choice(years), "gender": rng.choice(genders),
                             "district": rng.choice(districts), "consent": True} if personal else None}
        self.append(f"idea-{iid}", "IdeaSubmitted", data, when)
        self.records[iid] = {"id": iid, "text": data["title"] + "\n" + data["body"], "language": "en",
                             "demographics": live.demographics(data["personal"]), "votes": []}
        return iid

    def vote(self, idea_id, voter, theme, rng, value=1, etype="ReactionCast", previous=0):
        years, genders, districts = PLANTED[theme]
        data = {"target_type": "idea", "target_id": idea_id, "idea_id": idea_id, "project_id": self.project,
                "phase_id": "ph-vote", "voter": voter, "value": value, "previous": previous,
                "personal": {"birth_year": rng.choice(years), "gender": rng.choice(genders),
                             "district": rng.choice(districts)}}
        if etype == "ReactionCast" and value == 1 and idea_id in self.records:
            self.records[idea_id]["votes"].append({"demographics": live.demographics(data["personal"])})
        return self.append(f"reactions-{self.project}-{voter}", etype, data)

    def corpus(self, per_theme=20, seed=7, votes=2):
        """A project, two phases, ``3 × per_theme`` ideas over five weeks (the last fifth in the voting phase)
        and ``votes`` supports per idea. Returns {idea_id: theme}."""
        rng = random.Random(seed)
        self.project_with_phases()
        ideas = {}
        order = [th for th in THEMES for _ in range(per_theme)]
        rng.shuffle(order)
        for i, theme in enumerate(order):
            when = START + dt.timedelta(hours=9 * i)
            phase = "ph-vote" if i >= len(order) * 4 // 5 else "ph-ideas"
            ideas[self.idea(theme, rng, phase=phase, when=when)] = theme
        for j, (iid, theme) in enumerate(ideas.items()):
            for v in range(votes):
                self.vote(iid, f"voter-{j}-{v}", theme, rng)
        return ideas


wait_for = eventually   # the suite's one wait helper (agora.testing)


def api(svc, path, roles=("moderator",), **params):
    resp = requests.get(svc.url + f"/api/v1/tenants/{TENANT}/projects/{PROJECT}/analytics{path}",
                        headers=headers(roles), params=params, timeout=30)
    resp.raise_for_status()
    return resp.json()


def status(svc):
    resp = requests.get(svc.url + f"/api/v1/tenants/{TENANT}/projects/{PROJECT}/analytics/status",
                        headers=headers(), timeout=10)
    return resp.json() if resp.status_code == 200 else None


def wait_model(svc, n_ideas, timeout=60.0):
    return wait_for(lambda: (s := status(svc)) and s["n_ideas"] == n_ideas and s["model"] and not s["training"]
                    and s, timeout, 0.1, f"model over {n_ideas} ideas")


def retrain(svc, timeout=90.0, **overrides):
    resp = requests.post(svc.url + f"/api/v1/tenants/{TENANT}/projects/{PROJECT}/analytics/retrain",
                         headers=headers(), json=overrides, timeout=10)
    assert resp.status_code == 202, resp.text
    job = resp.json()["job"]
    return wait_for(lambda: (s := status(svc)) and s["jobs_installed"] >= job and s, timeout, 0.1,
                    f"retrain job {job}")


SERVICE_ENV = {"AGORA_ANALYTICS_MIN_IDEAS": "10", "AGORA_ANALYTICS_DEBOUNCE_S": "0.3",
               "AGORA_ANALYTICS_K_CANDIDATES": "3,4,6", "AGORA_LOG_LEVEL": "INFO",
               "AGORA_SERVICE_NAME": "analytics"}


@contextlib.contextmanager
def analytics_service(mongo_uri, db_name, amqp_uri, **env):
    with run_service("analytics.service", mongo_uri, db_name, amqp_uri, config=CONFIG,
                     **dict(SERVICE_ENV, **env)) as svc:
        yield svc


@contextlib.contextmanager
def stack(mongo_uri, db_name, amqp_uri, **env):
    with run_relay(mongo_uri, db_name, amqp_uri), analytics_service(mongo_uri, db_name, amqp_uri, **env) as svc:
        yield svc
