"""The analytics state is a projection: a restart (rebuild from the ``analytics_*`` collections) and a full replay
(drop the collections, reset the checkpoint) give the same report as the live service (fixed seed)."""
from __future__ import annotations

import random

from analytics.projections import COLLECTIONS
from analytics_stack import PROJECT, Seeder, analytics_service, api, retrain, stack, status, wait_for, wait_model


def comparable(report):
    return {k: report[k] for k in ("topics", "assignments", "clusters", "near_duplicates", "segments", "quality",
                                   "meta")}


def tables(svc):
    return {t: api(svc, "/" + t)["items"] for t in ("topics", "segments", "clusters", "trends", "assignments")}


def test_restart_and_drop_rebuild_give_identical_reports(secantus, mongo_db, amqp_uri):
    seeder = Seeder(mongo_db)
    ideas = seeder.corpus(per_theme=12, seed=11)
    rng = random.Random(3)
    with stack(secantus, mongo_db.name, amqp_uri) as svc:
        wait_model(svc, len(ideas))
        # history that exercises every event kind, some of it after the first model (online path)
        first = next(iter(ideas))
        seeder.append(f"idea-{first}", "IdeaEdited", {"idea_id": first, "project_id": PROJECT, "title": "Edited",
                                                      "body": "A new park with trees and flowers.", "language": "en",
                                                      "edited_by": "x"})
        ids = list(ideas)
        seeder.append(f"idea-{ids[1]}", "IdeaWithdrawn", {"idea_id": ids[1], "project_id": PROJECT,
                                                          "from_status": "proposed", "withdrawn_by": "x"})
        seeder.append(f"idea-{ids[2]}", "IdeaMerged", {"idea_id": ids[2], "project_id": PROJECT,
                                                       "survivor_id": ids[3], "from_status": "proposed",
                                                       "merged_by": "admin"})
        seeder.vote(ids[2], "late-voter", "parks", rng)                       # follows the merge
        seeder.vote(ids[4], "voter-4-0", "parks", rng, value=-1, etype="ReactionChanged", previous=1)
        late = seeder.idea("sport", rng, phase="ph-vote")
        wait_for(lambda: (s := status(svc))["n_ideas"] == len(ideas) - 1 and s["last_position"] >=
                 seeder.store.head() - 0, 20, 0.05, "events applied")
        retrain(svc)
        live = api(svc, "/report")
        live_tables = tables(svc)
        live_position = status(svc)["last_position"]
        assert late in live["assignments"] and ids[2] not in live["assignments"]

    # 1) restart: the corpus is rebuilt from the analytics_* projection
    with analytics_service(secantus, mongo_db.name, amqp_uri) as svc:
        wait_model(svc, len(ideas) - 1)
        wait_for(lambda: status(svc)["last_position"] == live_position, 10, 0.05, "caught up")
        retrain(svc)
        assert comparable(api(svc, "/report")) == comparable(live)
        assert tables(svc) == live_tables

    # 2) drop the projection and reset the checkpoint: everything is replayed from the log
    for name in COLLECTIONS:
        mongo_db.drop_collection(name)
    reset = mongo_db.subscription_checkpoints.update_many({"_id": {"$regex": "^analytics:"}},
                                                          {"$set": {"position": 0}})
    assert reset.matched_count >= 2
    with analytics_service(secantus, mongo_db.name, amqp_uri) as svc:
        wait_model(svc, len(ideas) - 1)
        wait_for(lambda: status(svc)["last_position"] == live_position, 10, 0.05, "caught up")
        retrain(svc)
        assert comparable(api(svc, "/report")) == comparable(live)
        assert tables(svc) == live_tables
    assert mongo_db.analytics_ideas.count_documents({}) == len(ideas) + 1
