"""The analytics read models, written by the subscriptions (``agora.sub.analytics.<ideas|votes|budgets|curation>``).

* **Mongo projection** (written with the subscription's ``session``, so it commits with the checkpoint):
  ``analytics_projects`` (title, language, phases), ``analytics_ideas`` (one per idea: text, phase, status,
  submission instant, the author's pseudonym and demographics, active/merged), ``analytics_supports`` (one per voter
  and idea: last reaction value and demographics), ``analytics_comments``, ``analytics_curation`` (the curation
  events), ``analytics_rounds`` / ``analytics_ballots`` (budget rounds → project, ballots). Dropping the
  ``analytics_*`` collections and resetting the subscriptions' checkpoints rebuilds everything from the log.
* **In memory** (:class:`Corpora`): one :class:`analytics.live.Corpus` per (tenant, project), rebuilt from the
  projection on start (:meth:`Projections.load`) and kept current by :meth:`Projections.handle` (O(one idea) on the
  hub, including the online LDA update of a new idea).
* ``PersonalDataForgotten {person}`` (:meth:`Projections.forget`, handled by each subscription for what it
  projected): the person's ideas lose author and demographics; their supports and ballots lose demographics and the
  pseudonym in their ids becomes a token of the erasure (they still count, as one anonymous person).
"""
from __future__ import annotations

import hashlib
import logging
import re
import time

from eventlet.semaphore import Semaphore

from agora.errors import NotFound

from analytics import live
from analytics.topics import TopicParams

log = logging.getLogger("analytics.projections")

IDEAS = "analytics_ideas"
SUPPORTS = "analytics_supports"
PROJECTS = "analytics_projects"
ROUNDS = "analytics_rounds"
BALLOTS = "analytics_ballots"
COMMENTS = "analytics_comments"
MODELS = "analytics_models"
CURATION = "analytics_curation"
COLLECTIONS = (IDEAS, SUPPORTS, PROJECTS, ROUNDS, BALLOTS, COMMENTS, MODELS, CURATION)
BUDGET_TYPES = ("RoundOpened", "ProjectAdded") + live.BALLOT_TYPES

#: event types per source service (one subscription each, queue ``agora.sub.analytics.<name>``)
SOURCES = {"ideas": list(live.PROJECT_TYPES + live.IDEA_TYPES + live.COMMENT_TYPES),
           "votes": list(live.VOTE_TYPES),
           "analytics": list(live.CURATION_TYPES),
           "budgets": list(BUDGET_TYPES)}


class Corpora:
    """The in-memory corpora of every (tenant, project), each with its green lock."""

    def __init__(self, params: TopicParams | None = None):
        self.params = params or TopicParams()
        self.by_key: dict[str, live.Corpus] = {}
        self.locks: dict[str, Semaphore] = {}

    def corpus(self, tenant: str, project: str, create: bool = False) -> live.Corpus:
        key = live.corpus_key(tenant, project)
        c = self.by_key.get(key)
        if c is None:
            if not create:
                raise NotFound(f"no analytics for project {project!r} of tenant {tenant!r}")
            c = live.Corpus(tenant, project, params=self.params)
            self.by_key[key] = c
            self.locks[key] = Semaphore(1)
        return c

    def lock(self, corpus: live.Corpus) -> Semaphore:
        return self.locks[corpus.key]

    def all(self) -> list[live.Corpus]:
        return list(self.by_key.values())

    def of_tenant(self, tenant: str) -> list[live.Corpus]:
        return sorted((c for c in self.by_key.values() if c.tenant == tenant), key=lambda c: c.project)

    def clear(self) -> None:
        self.by_key.clear()
        self.locks.clear()


class Projections:
    """The subscription handlers: Mongo documents (with the subscription's session) first, then the corpus."""

    def __init__(self, db, corpora: Corpora):
        self.db = db
        self.corpora = corpora

    def corpus(self, tenant: str, project: str, create: bool = False) -> live.Corpus:
        return self.corpora.corpus(tenant, project, create)

    def lock(self, corpus: live.Corpus) -> Semaphore:
        return self.corpora.lock(corpus)

    def ensure_indexes(self) -> None:
        for name in (IDEAS, SUPPORTS, BALLOTS, COMMENTS):
            self.db[name].create_index([("tenant", 1), ("project", 1)], name="corpus")
        self.db[ROUNDS].create_index([("tenant", 1)], name="tenant")

    def load(self) -> None:
        """Rebuild every corpus from the projection (startup)."""
        self.corpora.clear()
        grouped: dict[str, dict] = {}

        def group(doc):
            return grouped.setdefault(live.corpus_key(doc["tenant"], doc["project"]),
                                      {"tenant": doc["tenant"], "project": doc["project"], "doc": None,
                                       "ideas": [], "supports": [], "ballots": [], "comments": [],
                                       "curation": []})
        for doc in self.db[PROJECTS].find():
            group(doc)["doc"] = doc
        for doc in self.db[IDEAS].find():
            group(doc)["ideas"].append(doc)
        for doc in self.db[SUPPORTS].find():
            group(doc)["supports"].append(doc)
        for doc in self.db[BALLOTS].find():
            if doc.get("project"):
                group(doc)["ballots"].append(doc)
        for doc in self.db[COMMENTS].find():
            group(doc)["comments"].append(doc)
        for doc in self.db[CURATION].find():
            group(doc)["curation"].append(doc)
        for g in grouped.values():
            c = self.corpus(g["tenant"], g["project"], create=True)
            c.load(g["doc"], g["ideas"], g["supports"], g["ballots"], g["comments"], g["curation"])
            c.changed_at = time.monotonic()
        log.info("analytics: %d corpora rebuilt from the projection", len(grouped))

    # ------------------------------------------------------------------ events (subscription)
    def handle(self, event, session, part: str | None = None) -> None:
        """Project one event: Mongo documents (with ``session``) first, then the in-memory corpus. ``part``: the
        subscription (ideas, votes, budgets) handling a ``PersonalDataForgotten``."""
        t, d = event.type, event.data
        if t == "PersonalDataForgotten":
            self.forget(event, session, part)
            return
        if t in ("RoundOpened", "ProjectAdded") or t in live.BALLOT_TYPES:
            self._handle_budget(event, session)
            return
        project = d.get("project_id")
        if not project:
            return
        pid = f"{event.tenant}|{project}"
        if t in live.CURATION_TYPES:
            _id = f"{pid}|{event.position}"
            self.db[CURATION].replace_one({"_id": _id}, {"_id": _id, "tenant": event.tenant, "project": project,
                                                         "type": t, "data": dict(d), "position": event.position},
                                          upsert=True, session=session)
        elif t in live.PROJECT_TYPES:
            doc = self.db[PROJECTS].find_one({"_id": pid}, session=session) or {
                "_id": pid, "tenant": event.tenant, "project": project, "title": project, "phases": {}}
            if t == "ProjectCreated":
                doc["title"] = d.get("title") or project
                doc["language"] = d.get("language")
            else:
                doc["phases"][d["phase_id"]] = {"phase_id": d["phase_id"], "kind": d.get("kind"),
                                                "title": d.get("title") or d["phase_id"],
                                                "start": d.get("start"), "end": d.get("end")}
            doc["position"] = event.position
            self.db[PROJECTS].replace_one({"_id": pid}, doc, upsert=True, session=session)
        elif t in live.IDEA_TYPES:
            _id = f"{pid}|{d['idea_id']}"
            current = self.db[IDEAS].find_one({"_id": _id}, session=session)
            doc = live.idea_record(event, current)
            if doc is None:
                return
            doc["_id"] = _id
            self.db[IDEAS].replace_one({"_id": _id}, doc, upsert=True, session=session)
        elif t in live.COMMENT_TYPES:
            cid = d.get("comment_id") if t == "CommentPosted" else d.get("target_id")
            if t != "CommentPosted" and d.get("target_type") != "comment":
                return
            _id = f"{pid}|c|{cid}"
            doc = live.comment_record(event, self.db[COMMENTS].find_one({"_id": _id}, session=session))
            if doc is None:
                return
            doc["_id"] = _id
            self.db[COMMENTS].replace_one({"_id": _id}, doc, upsert=True, session=session)
        elif t in live.VOTE_TYPES:
            doc = live.support_record(event)
            if doc is None:
                return
            doc["_id"] = f"{pid}|{doc['sid']}"
            self.db[SUPPORTS].replace_one({"_id": doc["_id"]}, doc, upsert=True, session=session)
        else:
            return
        corpus = self.corpus(event.tenant, project, create=True)
        with self.lock(corpus):
            if corpus.apply(event):
                corpus.changed_at = time.monotonic()

    def forget(self, event, session, part: str | None = None) -> None:
        """``PersonalDataForgotten {person}``: the person's ideas lose author and demographics; their supports and
        ballots lose demographics, and the pseudonym in their ids becomes a token of this erasure (derived from the
        event id, so a rebuild writes the same documents), so they still count as one anonymous person. Each
        subscription erases what it projected (``part``: ideas → ideas, votes → supports, budgets → ballots; None:
        all), in its own order, so a lagging one cannot write the pseudonym back; idempotent."""
        tenant, person = event.tenant, event.data["person"]
        token = "erased-" + hashlib.sha256(str(event.id).encode("utf-8")).hexdigest()[:16]
        if part in (None, "ideas"):
            self.db[IDEAS].update_many({"tenant": tenant, "author": person},
                                       {"$set": {"author": None, "personal": {}}}, session=session)
        for coll, field in [(c, f) for p, c, f in (("votes", SUPPORTS, "sid"), ("budgets", BALLOTS, "ballot"))
                            if part in (None, p)]:
            for doc in list(self.db[coll].find({"tenant": tenant, field: {"$regex": re.escape(person) + "$"}},
                                               session=session)):
                self.db[coll].delete_one({"_id": doc["_id"]}, session=session)
                new = dict(doc, _id=doc["_id"].replace(person, token), personal={})
                new[field] = doc[field].replace(person, token)
                self.db[coll].replace_one({"_id": new["_id"]}, new, upsert=True, session=session)
        for corpus in self.corpora.of_tenant(tenant):
            with self.lock(corpus):
                if corpus.forget(person, token, part):
                    corpus.changed_at = time.monotonic()

    def _handle_budget(self, event, session) -> None:
        """Budget rounds belong to an Agora project; ballots approve PB projects, which map to ideas when the
        PB project names one (``attributes.idea_id``) or has an idea's id."""
        d = event.data
        rid = f"{event.tenant}|{d.get('round_id')}"
        rounds = self.db[ROUNDS]
        if event.type == "RoundOpened":
            rounds.update_one({"_id": rid}, {"$set": {"tenant": event.tenant, "project": d.get("project_id"),
                                                      "position": event.position},
                                             "$setOnInsert": {"items": {}}}, upsert=True, session=session)
            return
        rnd = rounds.find_one({"_id": rid}, session=session)
        if event.type == "ProjectAdded":
            attrs = d.get("attributes") or {}
            idea = attrs.get("idea_id") if isinstance(attrs, dict) else None
            rounds.update_one({"_id": rid}, {"$set": {f"items.{_key(d.get('id'))}": str(idea or d.get('id'))}},
                              upsert=True, session=session)
            return
        if not rnd or not rnd.get("project"):
            return
        items = rnd.get("items") or {}
        ballot = f"{d.get('round_id')}:{d.get('voter_id')}"
        personal = live.demographics(d.get("personal") or d.get("demographics"))
        ideas = None if event.type == "BallotWithdrawn" else [
            items.get(_key(i), i) for i in live.ballot_items(d)]
        bid = f"{rid}|{d.get('voter_id')}"
        self.db[BALLOTS].replace_one({"_id": bid}, {"_id": bid, "tenant": event.tenant, "project": rnd["project"],
                                                    "ballot": ballot, "items": ideas, "personal": personal,
                                                    "position": event.position}, upsert=True, session=session)
        corpus = self.corpus(event.tenant, rnd["project"], create=True)
        with self.lock(corpus):
            if corpus.mark("budgets", event.position):
                corpus.apply_ballot(ballot, ideas, personal)
                corpus.changed_at = time.monotonic()


def _key(value) -> str:
    return str(value).replace(".", "\uff0e").replace("$", "\uff04")

