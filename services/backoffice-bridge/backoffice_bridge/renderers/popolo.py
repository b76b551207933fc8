"""Popolo (https://www.popoloproject.com): a decision as a motion, its vote event and its votes.

``{"motion": {...}, "vote_event": {...}, "votes": [...]}``; each part is valid against the Popolo JSON Schemas
(draft-03). ``result`` uses Popolo's ``pass``/``fail``; ``counts`` use the options ``yes``/``no``/``abstain``
and are present only when the vote counts are known. ``votes`` (individual votes) is always an empty list:
Agora receives counts only, never who voted what. The subjects (ideas/projects) are the motion's ``sources``.

Where the schemas have a field, it is used: the decision date is the motion's ``date`` (the sitting's planned start
when known, else the decision day at 00:00 UTC: the schema wants a date-time). Where they have none, the schemas
allow further properties (no ``additionalProperties: false``), so the motion also carries ``decided_on`` (the ISO
date itself), ``description``, ``motivation`` (with ``language``) and ``subjects`` (id, type, title, url, and the
``amount`` as a decimal string with its ``currency``); a source's ``note`` names the amount too.
"""
from __future__ import annotations

import json
from typing import Any

from backoffice_bridge.domain import Decision, Subject

RESULTS = {"accepted": "pass", "allocated": "pass", "implemented": "pass", "rejected": "fail"}


def _note(s: Subject) -> str:
    return s.title if s.amount is None else f"{s.title} ({s.amount} {s.currency})"


def _subject(s: Subject) -> dict[str, Any]:
    out: dict[str, Any] = {"id": s.id, "type": s.type, "title": s.title, "url": s.url}
    if s.amount is not None:
        out.update(amount=str(s.amount), currency=s.currency)
    return out


def popolo_document(d: Decision) -> dict[str, Any]:
    org_id = f"{d.tenant}/{d.decided_by.id}"
    organization = {"id": org_id, "name": d.decided_by.name, "classification": d.decided_by.classification}
    motion_id = f"{d.tenant}/motion/{d.id}"
    vote_event_id = f"{d.tenant}/vote-event/{d.id}"
    session: dict[str, Any] = {}
    if d.session is not None:
        s = d.session
        session = {
            "legislative_session_id": f"{d.tenant}/session/{s.id}",
            "legislative_session": {
                "id": f"{d.tenant}/session/{s.id}",
                "name": s.id,
                "start_date": s.started_at.isoformat(),
                "end_date": s.ended_at.isoformat(),
                "organization_id": org_id,
                **({"location": s.location} if s.location else {}),
            },
        }
    motion: dict[str, Any] = {
        "id": motion_id,
        "organization_id": org_id,
        "organization": organization,
        **session,
        "text": d.title,
        "identifier": d.id,
        "classification": d.kind,
        "result": RESULTS[d.outcome],
        "sources": [{"url": s.url, "note": _note(s)} for s in d.subjects],
        "date": (d.session.planned_start.isoformat() if d.session is not None
                 else f"{d.decided_on.isoformat()}T00:00:00+00:00"),
        "decided_on": d.decided_on.isoformat(),
        "language": d.language,
        "subjects": [_subject(s) for s in d.subjects],
    }
    if d.description is not None:
        motion["description"] = d.description
    if d.motivation is not None:
        motion["motivation"] = d.motivation
    vote_event: dict[str, Any] = {
        "id": vote_event_id,
        "motion_id": motion_id,
        "organization_id": org_id,
        **({"legislative_session_id": session["legislative_session_id"]} if session else {}),
        "identifier": d.id,
        "result": RESULTS[d.outcome],
    }
    if d.session is not None:
        vote_event["start_date"] = d.session.started_at.isoformat()
        vote_event["end_date"] = d.session.ended_at.isoformat()
    if d.votes is not None:
        vote_event["classification"] = "secret" if d.votes.secret else "public"
        vote_event["counts"] = [
            {"option": "yes", "value": d.votes.for_},
            {"option": "no", "value": d.votes.against},
            {"option": "abstain", "value": d.votes.abstain},
        ]
    return {"motion": motion, "vote_event": vote_event, "votes": []}


def render_popolo(d: Decision) -> str:
    return json.dumps(popolo_document(d), ensure_ascii=False, indent=2) + "\n"
