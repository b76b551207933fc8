"""Live analytics: how idea/vote/ballot events change one corpus, and the report views the service serves.

Pure (no nameko/pymongo/pika), used by :mod:`analytics.projections` and :mod:`analytics.application`.

* :class:`Corpus` — one (tenant, project): the engine's :class:`analytics.domain.CorpusState` plus what the
  dashboard needs besides the texts (titles, phases, statuses, submission instants) and the bookkeeping of the
  model jobs. ``apply(event)`` applies one stored event (idempotent per global position: positions at or below
  its source's last applied one are ignored, so a retried subscription transaction never applies an event twice in
  memory). Each source (ideas, votes, budgets) is its own subscription, so a vote may be handled before its idea:
  such supports wait in ``pending`` until the idea arrives (the final state does not depend on the interleaving).
* :func:`idea_record` / :func:`support_record` — the documents of the Mongo projection (``analytics_ideas``,
  ``analytics_supports``) for an event; :meth:`Corpus.load` rebuilds the in-memory corpus from them in the order
  the live path would have built it (submission position), so a restart gives the same state as the live process.
* :func:`view` — the batch report (:meth:`CorpusState.report`) restricted to one phase, plus the dashboard tables
  (:func:`tables`): topics (with counts and example ideas), assignments, segments, clusters, near-duplicates,
  trends (ideas per topic per ISO week).

Support identity: a supporter's approval of idea X is the support ``"{X}:{voter}"`` (ballots:
``"{X}:ballot:{ballot}"``). When X is merged into Y the support moves to Y under the same id, so a later
retraction that names X still finds it (``resolve`` follows merges).
"""
from __future__ import annotations

import datetime as _dt
from collections import Counter, defaultdict
from typing import Iterable, Mapping

from analytics.domain import CorpusState
from analytics.text import TextPipeline
from analytics.topics import TopicParams

IDEA_TYPES = ("IdeaSubmitted", "IdeaEdited", "IdeaWithdrawn", "IdeaMerged", "IdeaStatusChanged")
COMMENT_TYPES = ("CommentPosted", "ContentHidden", "ContentRestored")
CURATION_TYPES = ("TopicRenamed", "TopicsMerged", "TopicSeeded", "TopicSplit")
PROJECT_TYPES = ("ProjectCreated", "PhaseAdded", "PhaseChanged")
VOTE_TYPES = ("ReactionCast", "ReactionChanged", "ReactionRetracted")
BALLOT_TYPES = ("BallotCast", "BallotReplaced", "BallotWithdrawn")
MEASURES = ("ideas", "support")
DIMENSIONS = ("age_band", "gender", "district")
TABLES = ("topics", "assignments", "segments", "clusters", "near_duplicates", "trends")


def source_of(event) -> str:
    """The owning service of an event (``StoredEvent.source``; inferred from the type for plain objects)."""
    src = getattr(event, "source", None)
    if src:
        return src
    if event.type in VOTE_TYPES:
        return "votes"
    if event.type in BALLOT_TYPES:
        return "budgets"
    if event.type in CURATION_TYPES:
        return "analytics"
    return "ideas"


def corpus_key(tenant: str, project: str) -> str:
    return f"{tenant}|{project}"


def demographics(personal: Mapping | None) -> dict:
    """Event ``personal`` snapshot → the engine's demographics keys (``birthyear``, ``gender``, ``district``)."""
    p = personal or {}
    out = {}
    if p.get("birth_year") not in (None, ""):
        out["birthyear"] = p["birth_year"]
    gender = p.get("gender")
    if gender and gender != "prefer_not_to_say":
        out["gender"] = gender
    if p.get("district"):
        out["district"] = p["district"]
    return out


def idea_text(title: str | None, body: str | None) -> str:
    return "\n".join(x for x in (title or "", body or "") if x)


def week_of(instant: str | None) -> str | None:
    """Monday (``YYYY-MM-DD``) of the ISO week of an ISO 8601 instant."""
    if not instant:
        return None
    text = instant.strip()
    try:
        dt = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(_dt.timezone.utc)
    day = dt.date()
    return (day - _dt.timedelta(days=day.weekday())).isoformat()


# ----------------------------------------------------------------------------------------- projection documents
def idea_record(event, current: Mapping | None) -> dict | None:
    """The ``analytics_ideas`` document after ``event`` (``current``: the stored one, or None); None = ignore."""
    d = event.data
    t = event.type
    if t == "IdeaSubmitted":
        return {"tenant": event.tenant, "project": d["project_id"], "idea_id": d["idea_id"],
                "seq": event.position, "title": d["title"], "body": d["body"], "language": d.get("language"),
                "phase_id": d.get("phase_id"), "status": d.get("status"), "submitted_at": event.time,
                "personal": demographics(d.get("personal")), "active": True, "merged_into": None,
                "author": d.get("author"), "position": event.position}
    if current is None:
        return None
    doc = dict(current)
    doc["position"] = event.position
    if t == "IdeaEdited":
        doc.update(title=d["title"], body=d["body"], language=d.get("language"))
    elif t == "IdeaWithdrawn":
        doc.update(active=False, status="withdrawn")
    elif t == "IdeaMerged":
        doc.update(active=False, status="merged", merged_into=d["survivor_id"])
    elif t == "IdeaStatusChanged":
        doc.update(status=d["to"], title=d.get("title") or doc["title"])
    else:
        return None
    return doc


def comment_record(event, current: Mapping | None) -> dict | None:
    """The ``analytics_comments`` document after a comment event (None = not a comment event / unknown)."""
    d = event.data
    if event.type == "CommentPosted":
        return {"tenant": event.tenant, "project": d["project_id"], "idea_id": d["idea_id"],
                "comment_id": d["comment_id"], "body": d.get("body") or "", "language": d.get("language"),
                "hidden": False, "position": event.position}
    if d.get("target_type") != "comment" or current is None:
        return None
    return dict(current, hidden=event.type == "ContentHidden", position=event.position)


def support_record(event) -> dict | None:
    """The ``analytics_supports`` document for a reaction on an idea (None for comment reactions)."""
    d = event.data
    if d.get("target_type") != "idea":
        return None
    return {"tenant": event.tenant, "project": d["project_id"], "target_id": d["target_id"],
            "sid": f"{d['target_id']}:{d['voter']}", "value": int(d.get("value") or 0),
            "personal": demographics(d.get("personal")), "position": event.position}


def ballot_items(data: Mapping) -> list[str]:
    """Project (item) ids approved by a ballot event's payload (``ballot.projects``, or a list/mapping)."""
    ballot = data.get("ballot")
    if isinstance(ballot, Mapping):
        ballot = ballot.get("projects") or ballot.get("selection") or []
    if isinstance(ballot, Mapping):
        ballot = list(ballot)
    out = []
    for v in ballot or []:
        if isinstance(v, (list, tuple)) and v:
            v = v[0]
        if v is not None:
            out.append(str(v))
    return out


# ----------------------------------------------------------------------------------------- the corpus
class Corpus:
    def __init__(self, tenant: str, project: str, params: TopicParams | None = None,
                 pipeline: TextPipeline | None = None) -> None:
        self.tenant = tenant
        self.project = project
        self.state = CorpusState(pipeline=pipeline, params=params or TopicParams(), online=True)
        self.meta: dict[str, dict] = {}             # idea id -> title, phase_id, status, submitted_at, seq
        self.merged_into: dict[str, str] = {}
        self.ballots: dict[str, list[str]] = {}     # ballot -> support ids it holds
        self.title = project
        self.phases: dict[str, dict] = {}
        self.positions: dict[str, int] = {}         # event source -> last applied global position
        self.pending: dict[str, dict] = {}          # supports of ideas not seen yet (another subscription)
        self.comments: dict[str, dict] = {}         # comment id -> idea id, body, language
        self.language: str | None = None            # the project's language (labels, sentences)
        self.version = 0                           # bumped on every change (cache key of views)
        self.changed_at = 0.0                      # monotonic time of the last change (set by the service)
        # model jobs (driven by the service's scheduler)
        self.jobs_requested = 0
        self.jobs_installed = 0
        self.job_overrides: dict = {}
        self.training = None                        # running Future
        self.training_job = 0
        self.training_version = 0
        self.training_pool = None
        self.trained_at: str | None = None
        self.last_error: str | None = None
        self.cache: dict = {}

    # -------------------------------------------------------------------- helpers
    @property
    def key(self) -> str:
        return corpus_key(self.tenant, self.project)

    def resolve(self, idea_id: str) -> str | None:
        seen = set()
        while idea_id in self.merged_into and idea_id not in seen:
            seen.add(idea_id)
            idea_id = self.merged_into[idea_id]
        return idea_id if idea_id in self.state.ideas else None

    @property
    def last_position(self) -> int:
        return max(self.positions.values(), default=0)

    def _seen(self, source: str, position: int) -> bool:
        if position <= self.positions.get(source, 0):
            return True
        self.positions[source] = position
        return False

    def touch(self) -> None:
        self.version += 1
        self.cache.clear()

    # -------------------------------------------------------------------- events
    def apply(self, event) -> bool:
        """Apply one stored event in memory; False when already applied (position at or below the last one of
        its source: each source is its own subscription, in global order)."""
        if self._seen(source_of(event), event.position):
            return False
        t, d = event.type, event.data
        if t == "ProjectCreated":
            self.title = d.get("title") or self.project
            self.language = d.get("language") or self.language
        elif t in ("PhaseAdded", "PhaseChanged"):
            self.phases[d["phase_id"]] = {"phase_id": d["phase_id"], "kind": d.get("kind"),
                                          "title": d.get("title") or d["phase_id"],
                                          "start": d.get("start"), "end": d.get("end")}
        elif t in IDEA_TYPES:
            self._apply_idea(event)
        elif t in COMMENT_TYPES:
            d = event.data
            if t == "CommentPosted":
                self.apply_comment({"idea_id": d["idea_id"], "comment_id": d["comment_id"],
                                    "body": d.get("body"), "language": d.get("language"), "hidden": False})
            elif d.get("target_type") == "comment":
                self.apply_comment({"idea_id": d.get("idea_id"), "comment_id": d.get("target_id"),
                                    "hidden": t == "ContentHidden"})
        elif t in VOTE_TYPES:
            rec = support_record(event)
            if rec is not None:
                self._apply_support(rec)
        elif t in CURATION_TYPES:
            if self.state.curate(t, d):
                self.jobs_requested += 1               # new seeds: retrain (the seeds stay for later retrains)
        self.touch()
        return True

    def _apply_idea(self, event) -> None:
        t, d = event.type, event.data
        iid = d["idea_id"]
        if t == "IdeaSubmitted":
            rec = idea_record(event, None)
            self.add_idea(rec)
            return
        if iid not in self.state.ideas:
            if t == "IdeaStatusChanged" and iid in self.meta:
                self.meta[iid]["status"] = d["to"]
            return
        if t == "IdeaEdited":
            self.state.edit_idea(iid, text=idea_text(d["title"], d["body"]), language=d.get("language"))
            self.meta[iid]["title"] = d["title"]
        elif t == "IdeaWithdrawn":
            self.state.withdraw_idea(iid)
            self.meta[iid]["status"] = "withdrawn"
        elif t == "IdeaMerged":
            survivor = self.resolve(d["survivor_id"])
            self.merged_into[iid] = d["survivor_id"]
            if survivor is not None and survivor != iid:
                self.state.merge_ideas(iid, survivor)
            else:
                self.state.withdraw_idea(iid)
            self.meta[iid]["status"] = "merged"
        elif t == "IdeaStatusChanged":
            self.meta[iid]["status"] = d["to"]

    def apply_comment(self, rec: Mapping) -> None:
        """A comment joins (or, hidden, leaves) its idea's document; the text is kept for a later restore."""
        cid = str(rec["comment_id"])
        if rec.get("body") is not None:
            self.comments[cid] = {"idea_id": rec["idea_id"], "body": rec["body"], "language": rec.get("language")}
        known = self.comments.get(cid)
        if known is None:
            return
        target = self.resolve(known["idea_id"])
        if target is None:
            return
        if rec.get("hidden"):
            self.state.remove_comment(target, cid)
        else:
            self.state.add_comment(target, cid, known["body"], known.get("language"))

    def add_idea(self, rec: Mapping) -> None:
        iid = rec["idea_id"]
        self.state.add_idea(iid, idea_text(rec["title"], rec["body"]), rec.get("personal") or {},
                            language=rec.get("language"), time=rec.get("submitted_at"), author=rec.get("author"),
                            title=rec["title"])
        self.meta[iid] = {"title": rec["title"], "phase_id": rec.get("phase_id"), "status": rec.get("status"),
                          "submitted_at": rec.get("submitted_at"), "seq": rec.get("seq")}
        for sid, personal in self.pending.pop(iid, {}).items():
            self.state.add_support(iid, personal, sid)

    def _apply_support(self, rec: Mapping) -> None:
        target = self.resolve(rec["target_id"])
        if target is None:
            if rec["target_id"] not in self.meta:           # idea not seen yet: keep it until it arrives
                waiting = self.pending.setdefault(rec["target_id"], {})
                if rec["value"] == 1:
                    waiting[rec["sid"]] = dict(rec.get("personal") or {})
                else:
                    waiting.pop(rec["sid"], None)
            return
        if rec["value"] == 1:
            self.state.add_support(target, rec.get("personal") or {}, rec["sid"])
        else:
            self.state.remove_support(target, rec["sid"])

    def apply_ballot(self, ballot: str, idea_ids: Iterable[str] | None, personal: Mapping | None) -> None:
        """A budget ballot (cast, replaced: ``idea_ids``; withdrawn: None) as supports ``{idea}:ballot:{ballot}``."""
        for sid in self.ballots.pop(ballot, []):           # a replacement/withdrawal drops the previous ballot
            target = self.resolve(sid.split(":ballot:")[0])
            if target is not None:
                self.state.remove_support(target, sid)
        if idea_ids is None:
            return
        held = []
        for iid in idea_ids:
            sid = f"{iid}:ballot:{ballot}"
            self._apply_support({"target_id": iid, "sid": sid, "value": 1, "personal": personal})
            held.append(sid)
        self.ballots[ballot] = held

    def forget(self, person: str, token: str, part: str | None = None) -> bool:
        """An erased person (``PersonalDataForgotten``): their ideas lose author and demographics (``part``
        "ideas"), their supports (``"votes"``) and ballots (``"budgets"``) their demographics, and the pseudonym in
        support and ballot ids becomes ``token`` (one per erasure: they still count, as one anonymous person);
        ``part`` None: all of it. Idempotent; True when something changed."""
        from analytics.domain import VOTER_KEY

        def mine(sid: str) -> bool:       # a support of this part: ballots' are "{idea}:ballot:{round}:{voter}"
            return person in sid and part in (None, "budgets" if ":ballot:" in sid else "votes")

        changed = False
        for rec in self.state.ideas.values():
            if part in (None, "ideas") and rec.author == person:
                rec.author, rec.demographics, changed = None, {}, True
            for sid in [s for s in rec.supports if mine(s)]:
                voter = rec.supports.pop(sid).get(VOTER_KEY)
                rec.supports[sid.replace(person, token)] = (
                    {VOTER_KEY: str(voter).replace(person, token)} if voter is not None else {})
                changed = True
        for iid, waiting in self.pending.items():
            if any(mine(sid) for sid in waiting):
                self.pending[iid] = {(sid.replace(person, token) if mine(sid) else sid): ({} if mine(sid) else demo)
                                     for sid, demo in waiting.items()}
                changed = True
        if part in (None, "budgets"):
            for ballot in [b for b in self.ballots if person in b]:
                self.ballots[ballot.replace(person, token)] = [s.replace(person, token)
                                                               for s in self.ballots.pop(ballot)]
                changed = True
        if changed:
            self.touch()
        return changed

    # -------------------------------------------------------------------- rebuild from the projection
    def mark(self, source: str, position: int) -> bool:
        """For events applied by the caller (ballots): False when already applied, else record the position."""
        if self._seen(source, position):
            return False
        self.touch()
        return True

    def _at_least(self, source: str, position) -> None:
        self.positions[source] = max(self.positions.get(source, 0), int(position or 0))

    def load(self, project_doc: Mapping | None, ideas: Iterable[Mapping], supports: Iterable[Mapping],
             ballots: Iterable[Mapping] = (), comments: Iterable[Mapping] = (),
             curation: Iterable[Mapping] = ()) -> None:
        """Rebuild from the Mongo projection (same state as the live path: ideas in submission order)."""
        if project_doc:
            self.title = project_doc.get("title") or self.project
            self.language = project_doc.get("language") or self.language
            self.phases = dict(project_doc.get("phases") or {})
            self._at_least("ideas", project_doc.get("position"))
        ideas = sorted(ideas, key=lambda r: r["seq"])
        for rec in ideas:
            self._at_least("ideas", rec.get("position"))
            if rec.get("merged_into"):
                self.merged_into[rec["idea_id"]] = rec["merged_into"]
            if rec.get("active"):
                self.add_idea(rec)
            else:
                self.meta[rec["idea_id"]] = {"title": rec["title"], "phase_id": rec.get("phase_id"),
                                             "status": rec.get("status"), "submitted_at": rec.get("submitted_at"),
                                             "seq": rec.get("seq")}
        for rec in sorted(curation, key=lambda r: r.get("position") or 0):
            self._at_least("analytics", rec.get("position"))
            self.state.curate(rec["type"], rec["data"])
        for rec in sorted(comments, key=lambda r: (r.get("position") or 0, r["comment_id"])):
            self._at_least("ideas", rec.get("position"))
            self.apply_comment(rec)
        for rec in sorted(supports, key=lambda r: (r.get("position") or 0, r["sid"])):
            self._at_least("votes", rec.get("position"))
            if rec.get("value") == 1:
                self._apply_support(rec)
        for rec in sorted(ballots, key=lambda r: (r.get("position") or 0, r["ballot"])):
            self._at_least("budgets", rec.get("position"))
            if rec.get("items") is not None:
                self.apply_ballot(rec["ballot"], rec["items"], rec.get("personal"))
        self.touch()

    # -------------------------------------------------------------------- status
    def status(self) -> dict:
        model = self.state.model
        return {
            "tenant": self.tenant, "project": self.project, "title": self.title, "version": self.version,
            "last_position": self.last_position, "n_ideas": len(self.state.ideas),
            "n_supports": sum(len(r.supports) for r in self.state.ideas.values()),
            "model": None if model is None else {
                "k": model.k, "n_trained_docs": model.n_trained_docs, "n_updates": model.n_updates,
                "trained_at": self.trained_at,
                "quality": {k: model.quality.get(k) for k in ("coherence", "diversity", "candidates")}},
            "n_comments": sum(len(r.comments) for r in self.state.ideas.values()),
            "n_junk": len(self.state.junk()), "language": self.language,
            "curation": {"names": {str(k): v for k, v in self.state.curation["names"].items()},
                         "merges": {str(k): v for k, v in self.state.curation["merges"].items()},
                         "seeds": [name for name, _ in self.state.curation["seeds"]]},
            "training": self.training is not None, "jobs_requested": self.jobs_requested,
            "jobs_installed": self.jobs_installed, "last_error": self.last_error,
            "phases": sorted(self.phases.values(), key=lambda p: (str(p.get("start")), p["phase_id"])),
        }


# ----------------------------------------------------------------------------------------- views
def base_report(corpus: Corpus, reference_year: int | None = None, min_cell_size: int | None = None) -> dict:
    """The engine's batch report of the whole corpus (never trains: the model comes from the worker process).
    ``min_cell_size``: the tenant's minimum published cell (agora.tenants; default ``AGORA_MIN_CELL_SIZE`` or 5)."""
    titles = {iid: m.get("title") or "" for iid, m in corpus.meta.items()}
    times = {iid: m.get("submitted_at") for iid, m in corpus.meta.items() if m.get("submitted_at")}
    return corpus.state.report(topics_from="lda", train_if_missing=False, reference_year=reference_year,
                               language=corpus.language, titles=titles, times=times, min_cell_size=min_cell_size)


def view(corpus: Corpus, report: dict, phase: str | None = None, measure: str | None = None,
         dimension: str | None = None) -> dict:
    """``report`` restricted to the ideas of ``phase`` (segments recomputed on them) and to one measure/dimension."""
    out = dict(report)
    if phase:
        keep = {iid for iid in corpus.state.ideas if corpus.meta.get(iid, {}).get("phase_id") == phase}
        assign = {iid: (a["topic"], a["weight"]) for iid, a in report["assignments"].items() if iid in keep}
        out["assignments"] = {iid: a for iid, a in report["assignments"].items() if iid in keep}
        labels = {t["id"]: t["label"] for t in report["topics"]}
        rows = corpus.state.segment_rows(assign, report["meta"]["reference_year"],
                                         alpha=report["meta"]["alpha"], min_expected=report["meta"]["min_expected"],
                                         min_lift=report["meta"]["min_lift"],
                                         min_cell_size=report["meta"]["min_cell_size"])
        for r in rows:
            r["topic_label"] = labels.get(r["topic"])
        out["segments"] = rows
        clusters = []
        for c in report["clusters"]:
            ideas = [i for i in c["ideas"] if i in keep]
            if len(ideas) >= 2:
                clusters.append(dict(c, ideas=ideas, size=len(ideas),
                                     near_duplicates=[p for p in c["near_duplicates"]
                                                      if p[0] in keep and p[1] in keep]))
        out["clusters"] = clusters
        out["near_duplicates"] = [p for p in report["near_duplicates"] if p["a"] in keep and p["b"] in keep]
        out["meta"] = dict(report["meta"], n_ideas=len(keep),
                           n_supports=sum(len(corpus.state.ideas[i].supports) for i in keep))
        from analytics import summary as summ
        times = {iid: m.get("submitted_at") for iid, m in corpus.meta.items() if m.get("submitted_at")}
        out["summaries"] = summ.summaries(corpus.state, out, language=report["meta"].get("language") or "en",
                                          times=times)
    if measure or dimension:
        out["segments"] = [r for r in out["segments"] if (not measure or r["measure"] == measure)
                           and (not dimension or r["dimension"] == dimension)]
    out["meta"] = dict(out["meta"], tenant=corpus.tenant, project=corpus.project, phase=phase,
                       measure=measure, dimension=dimension)
    return out


def tables(corpus: Corpus, v: dict, examples: int = 3) -> dict[str, list[dict]]:
    """Flat rows of every dashboard table from a :func:`view`."""
    meta = corpus.meta
    labels = {t["id"]: t["label"] for t in v["topics"]}
    title = lambda iid: meta.get(iid, {}).get("title", "")  # noqa: E731
    by_topic: dict = defaultdict(list)
    for iid, a in v["assignments"].items():
        if a["topic"] is not None:
            by_topic[a["topic"]].append((a["weight"], iid))
    total = sum(len(x) for x in by_topic.values()) or 1
    topics = []
    for t in v["topics"]:
        members = sorted(by_topic.get(t["id"], []), key=lambda wi: (-wi[0], meta.get(wi[1], {}).get("seq") or 0))
        topics.append({"topic": t["id"], "label": t["label"], "terms": ", ".join(w for w, _ in t["terms"]),
                       "n_ideas": len(members), "share": round(len(members) / total, 4),
                       "examples": [{"idea_id": iid, "title": title(iid), "weight": w}
                                    for w, iid in members[:examples]]})
    order = sorted(v["assignments"], key=lambda iid: meta.get(iid, {}).get("seq") or 0)
    phase_title = lambda pid: (corpus.phases.get(pid) or {}).get("title") if pid else None  # noqa: E731
    assignments = [{"idea_id": iid, "title": title(iid), "phase_id": meta.get(iid, {}).get("phase_id"),
                    "phase": phase_title(meta.get(iid, {}).get("phase_id")),
                    "status": meta.get(iid, {}).get("status"),
                    "submitted_at": meta.get(iid, {}).get("submitted_at"),
                    "topic": v["assignments"][iid]["topic"], "topic_label": labels.get(v["assignments"][iid]["topic"]),
                    "weight": v["assignments"][iid]["weight"]} for iid in order]
    segments = [{k: r.get(k) for k in ("measure", "dimension", "segment", "versus", "topic", "topic_label", "count",
                                       "people", "segment_total", "segment_people", "expected", "share", "lift",
                                       "ratio_vs_rest", "p_value", "p_adjusted", "significant", "suppressed")}
                for r in v["segments"]]
    clusters = []
    for c in v["clusters"]:
        dup_of: dict = {}
        for a, b, s in c["near_duplicates"]:
            dup_of.setdefault(b, (a, s))
            dup_of.setdefault(a, (b, s))
        for iid in c["ideas"]:
            other = dup_of.get(iid)
            clusters.append({"cluster": c["id"], "label": c["label"], "size": c["size"], "idea_id": iid,
                             "title": title(iid), "representative": iid == c["representative"],
                             "near_duplicate_of": other[0] if other else None,
                             "similarity": round(other[1], 4) if other else None})
    dups = [{"a": p["a"], "title_a": title(p["a"]), "b": p["b"], "title_b": title(p["b"]),
             "similarity": round(p["similarity"], 4)} for p in v["near_duplicates"]]
    counts: Counter = Counter()
    for iid, a in v["assignments"].items():
        week = week_of(meta.get(iid, {}).get("submitted_at"))
        if week and a["topic"] is not None:
            counts[(week, a["topic"])] += 1
    trends = [{"week": w, "topic": t, "topic_label": labels.get(t), "n_ideas": n}
              for (w, t), n in sorted(counts.items())]
    return {"topics": topics, "assignments": assignments, "segments": segments, "clusters": clusters,
            "near_duplicates": dups, "trends": trends}


def flat(rows: list[dict]) -> list[dict]:
    """Rows with nested values made printable (for CSV/XLSX)."""
    out = []
    for r in rows:
        o = {}
        for k, val in r.items():
            if isinstance(val, list):
                val = " | ".join(x.get("title", "") if isinstance(x, Mapping) else str(x) for x in val)
            o[k] = val
        out.append(o)
    return out
