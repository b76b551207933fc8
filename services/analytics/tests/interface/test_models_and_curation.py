"""Issue 17 point 2: models are saved in the store (a restart loads, never retrains), and staff curation (rename,
merge, seed) is recorded as events, so it survives restarts, retrains and projection rebuilds."""
from __future__ import annotations

import requests

from analytics.projections import COLLECTIONS
from analytics_stack import (PROJECT, TENANT, Seeder, analytics_service, api, headers, retrain, stack, status,
                             wait_for, wait_model)

CURATION = f"/api/v1/tenants/{TENANT}/projects/{PROJECT}/analytics/curation"


def curate(svc, body, roles=("moderator",)):
    return requests.post(svc.url + CURATION, json=body, headers=headers(roles), timeout=30)


def labels(svc):
    return {t["topic"]: t["label"] for t in api(svc, "/topics")["items"]}


def test_saved_model_survives_restart_and_curation_survives_retrain_and_rebuild(secantus, mongo_db, amqp_uri):
    seeder = Seeder(mongo_db)
    ideas = seeder.corpus(per_theme=12, seed=5)
    quiet = {"AGORA_ANALYTICS_SETTLE_S": "3600"}           # no settle retrain: the test controls retrains
    with stack(secantus, mongo_db.name, amqp_uri, **quiet) as svc:
        wait_model(svc, len(ideas))
        wait_for(lambda: mongo_db.analytics_models.count_documents({"chunks": {"$exists": True}}) == 1, 20, 0.1,
                 "model saved")
        before = api(svc, "/topics")["items"]
        topic = before[0]["topic"]
        # refused: unknown topic, citizen role, missing fields
        assert curate(svc, {"action": "rename", "topic": 999, "name": "x"}).status_code in (400, 422)
        assert curate(svc, {"action": "rename", "topic": topic, "name": "x"}, roles=("citizen",)).status_code == 403
        assert curate(svc, {"action": "merge", "topics": [topic]}).status_code in (400, 422)
        resp = curate(svc, {"action": "rename", "topic": topic, "name": "Our parks"})
        assert resp.status_code == 202, resp.text
        assert resp.json()["type"] == "TopicRenamed"
        wait_for(lambda: labels(svc).get(topic) == "Our parks", 20, 0.1, "rename applied")
        assert [e.type for e in seeder.store.read_stream(TENANT, f"curation-{PROJECT}")] == ["TopicRenamed"]

        def settled():
            s, head = status(svc), mongo_db.analytics_models.find_one({"chunks": {"$exists": True}})
            return (s and not s["training"] and s["model"]["trained_at"] and head
                    and head["trained_at"] == s["model"]["trained_at"] and s)
        first = wait_for(settled, 60, 0.2, "the installed model is the saved one")
        before = api(svc, "/topics")["items"]

    # restart: the saved model is installed, nothing is retrained, the topics are the same
    with analytics_service(secantus, mongo_db.name, amqp_uri, **quiet) as svc:
        s = wait_model(svc, len(ideas))
        assert s["model"]["trained_at"] == first["model"]["trained_at"] and s["jobs_installed"] == 0
        assert labels(svc)[topic] == "Our parks"
        assert {t["topic"]: t["terms"] for t in api(svc, "/topics")["items"]} == \
            {t["topic"]: t["terms"] for t in before}
        # a retrain keeps the topic's identity (matched to the old topics), so the name stays on it
        retrain(svc)
        assert labels(svc).get(topic) == "Our parks"

    # rebuild from the log: the curation is an event, so it comes back
    for name in COLLECTIONS:
        mongo_db.drop_collection(name)
    mongo_db.subscription_checkpoints.update_many({"_id": {"$regex": "^analytics:"}}, {"$set": {"position": 0}})
    with stack(secantus, mongo_db.name, amqp_uri) as svc:
        wait_model(svc, len(ideas))
        wait_for(lambda: (status(svc) or {}).get("curation", {}).get("names"), 30, 0.1, "curation replayed")
        assert "Our parks" in labels(svc).values()
