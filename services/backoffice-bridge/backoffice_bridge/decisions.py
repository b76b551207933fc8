"""Pure mapping: decision events of other services → Decision JSON (no nameko / pymongo / pika imports).

* ``IdeaStatusChanged`` (source ``ideas``) with ``decision: true`` (``to`` in accepted / rejected / implemented)
  → a Decision of kind ``idea_status``; ``feedback`` becomes the motivation, in ``feedback_language``.
* ``OutcomeComputed`` (source ``budgets``) → a Decision of kind ``budget_outcome`` with outcome ``allocated`` and
  one ``project`` subject per selected project, with its cost as amount. The shape is the contract in
  ``shared/agora/events/budgets.py``:
  ``OutcomeComputed {round_id, rule, tie_breaking, selected: [ids], total_cost, budget, projects: [{id, cost, votes,
  score, selected}], details}``; titles and currency are not in it but in the round's ``RoundOpened {…, currency,
  project_id}`` and ``ProjectAdded {round_id, id, cost, title, attributes}`` events, which the service reads from
  the round's stream and passes as ``round_info`` (costs too, when the outcome lists no ``projects``).
  ``RoundClosed {round_id, ballots, at}`` carries no outcome and maps to None. Variants are tolerated
  (``winners``/``selected_projects``, selected items as objects with
  ``project_id|id, idea_id, title|name, cost|amount|allocated``); an event without selected projects maps to None.

The decision id is derived from the source event id (``d-`` + UUID5), so recording the same source event twice
gives the same decision (idempotent), and the DecisionRecorded event id is derived from it as well.
"""
from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping, Optional

from backoffice_bridge.schemas import ID_RE, LANGUAGE_RE, dump_decision, load_decision

NAMESPACE = uuid.UUID("0c7d3c57-1f3e-4b7a-9a55-5b0e0c4f2d11")
DECISION_STATUSES = ("accepted", "rejected", "implemented")
BUDGET_TYPES = ("OutcomeComputed", "RoundClosed")
INBOUND_PREFIX = "bridge-inbound-"
_ID_OK = re.compile(ID_RE)
_LANG_OK = re.compile(LANGUAGE_RE)


def decision_id_for(tenant: str, source_event_id: str) -> str:
    return "d-" + str(uuid.uuid5(NAMESPACE, f"{tenant}:{source_event_id}"))


def recorded_event_id(decision_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"recorded:{decision_id}"))


def derived_id(*parts: Any) -> str:
    """Deterministic UUID5 of the parts (event ids of derived events: retried appends are no-ops)."""
    return str(uuid.uuid5(NAMESPACE, ":".join(str(p) for p in parts)))


def inbound_command_id(tenant: str, decision_id: str, idea_id: str, status: str) -> str:
    """Command id of an inbound status change (the ideas service stores it as the event id): re-posting the same
    decision replays the command instead of changing the status again."""
    return INBOUND_PREFIX + derived_id("inbound", tenant, decision_id, idea_id, status)


def inbound_marker(event) -> Optional[str]:
    """For an ``IdeaStatusChanged`` the bridge caused (an inbound decision): a reference to that command, else None.
    The ideas service records the bridge's service identity as who decided (``decided_by`` ``service:…``)."""
    cause = getattr(event, "causationid", None) or ""
    if cause.startswith(INBOUND_PREFIX):
        return cause
    by = str((getattr(event, "data", None) or {}).get("decided_by") or "")
    if by.startswith("service:backoffice"):
        return INBOUND_PREFIX + derived_id("via", getattr(event, "id", ""))
    return None


def delivery_id_for(decision_id: str, adapter_id: str) -> str:
    return f"{decision_id}.{adapter_id}"


def idea_url(public_url: str, tenant: str, idea_id: str) -> str:
    return f"{public_url.rstrip('/')}/api/v1/tenants/{tenant}/ideas/{idea_id}"


def _safe_id(value: Any, fallback: str) -> str:
    text = str(value) if value is not None else ""
    if _ID_OK.match(text):
        return text
    return fallback


def _language(value: Optional[str], default: str) -> str:
    if value and _LANG_OK.match(value):
        return value
    return default if _LANG_OK.match(default or "") else "und"


def _date(iso: str) -> str:
    text = iso.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return dt.datetime.fromisoformat(text).astimezone(dt.timezone.utc).date().isoformat()
    except ValueError:
        return dt.datetime.now(dt.timezone.utc).date().isoformat()


def _amount(value: Any) -> Optional[str]:
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return str(amount) if amount >= 0 else None


def from_idea_status(tenant: str, event_id: str, time: str, data: Mapping[str, Any], *, public_url: str,
                     body: Mapping[str, Any], default_language: str = "en") -> Optional[dict]:
    """Decision JSON for an ``IdeaStatusChanged`` event, or None when it is no decision."""
    to = data.get("to")
    if to not in DECISION_STATUSES or data.get("decision") is False:
        return None
    idea_id = str(data["idea_id"])
    decision_id = decision_id_for(tenant, event_id)
    feedback = data.get("feedback") or ""
    day = _date(time)
    doc = {
        "id": decision_id,
        "tenant": tenant,
        "kind": "idea_status",
        "title": data.get("title") or idea_id,
        "motivation": feedback if feedback.strip() else None,
        "language": _language(data.get("feedback_language"), default_language),
        "decided_by": dict(body),
        "decided_on": day,
        "published_on": day,
        "outcome": to,
        "subjects": [{"type": "idea", "id": _safe_id(idea_id, derived_id("idea", idea_id)),
                      "title": data.get("title") or idea_id, "url": idea_url(public_url, tenant, idea_id)}],
    }
    return dump_decision(load_decision(doc))  # validated, normalised


def selected_projects(data: Mapping[str, Any]) -> list:
    for key in ("selected", "winners", "selected_projects", "funded"):
        value = data.get(key)
        if isinstance(value, list):
            return value
    return []


def from_budget_outcome(tenant: str, event_id: str, time: str, data: Mapping[str, Any], *, public_url: str,
                        body: Mapping[str, Any], default_language: str = "en",
                        round_info: Optional[Mapping[str, Any]] = None) -> Optional[dict]:
    """Decision JSON for a budget round outcome, or None (no selected projects).

    ``round_info`` (optional): ``{"currency", "title", "titles": {project: title}, "ideas": {project: idea_id},
    "costs": {project: cost}}``
    gathered from the round's RoundOpened / ProjectAdded events."""
    selected = selected_projects(data)
    if not selected:
        return None
    info = round_info or {}
    titles = info.get("titles") or {}
    ideas = info.get("ideas") or {}
    costs = dict(info.get("costs") or {})
    costs.update({str(p.get("id")): p.get("cost") for p in (data.get("projects") or []) if isinstance(p, Mapping)})
    round_id = str(data.get("round_id") or data.get("id") or "round")
    currency = str(data.get("currency") or info.get("currency") or "EUR").upper()
    subjects, seen = [], set()
    for item in selected:
        if not isinstance(item, Mapping):
            item = {"project_id": item}
        pid = str(item.get("project_id") or item.get("id") or "")
        if not pid or pid in seen:
            continue
        seen.add(pid)
        idea = item.get("idea_id") or ideas.get(pid)
        url = item.get("url") or (idea_url(public_url, tenant, str(idea)) if idea else
                                  f"{public_url.rstrip('/')}/api/v1/tenants/{tenant}/budgets/{round_id}/projects/{pid}")
        subject = {"type": "project", "id": _safe_id(pid, derived_id("project", pid)),
                   "title": str(item.get("title") or item.get("name") or titles.get(pid) or pid), "url": url}
        raw = next((item[k] for k in ("allocated", "amount", "cost") if item.get(k) is not None), costs.get(pid))
        amount = _amount(raw)
        if amount is not None:
            subject["amount"] = amount
            subject["currency"] = str(item.get("currency") or currency).upper()
        subjects.append(subject)
    if not subjects:
        return None
    day = _date(time)
    title = data.get("title") or data.get("name") or info.get("title") or f"Participatory budget {round_id}: outcome"
    total = _amount(data.get("total_cost") or data.get("total") or data.get("spent"))
    description = data.get("description")
    if not description and total is not None:
        budget = _amount(data.get("budget"))
        description = (f"{len(subjects)} project(s) selected for a total of {total} {currency}"
                       + (f" out of a budget of {budget} {currency}" if budget is not None else "")
                       + (f" (rule: {data['rule']})" if data.get("rule") else "") + ".")
    doc = {
        "id": decision_id_for(tenant, event_id),
        "tenant": tenant,
        "kind": "budget_outcome",
        "title": str(title)[:2000],
        "description": description or None,
        "motivation": data.get("motivation") or None,
        "language": _language(data.get("language") or info.get("language"), default_language),
        "decided_by": dict(body),
        "decided_on": day,
        "published_on": day,
        "outcome": "allocated",
        "subjects": subjects,
    }
    return dump_decision(load_decision(doc))


def round_info_from(events) -> dict:
    """``round_info`` for :func:`from_budget_outcome` from a round's events (objects with ``.type``/``.data``)."""
    info: dict = {"titles": {}, "ideas": {}, "costs": {}}
    for ev in events:
        d = ev.data or {}
        if ev.type == "RoundOpened":
            info["currency"] = d.get("currency")
            if d.get("title"):
                info["title"] = d["title"]
        elif ev.type == "ProjectAdded" and d.get("id") is not None:
            pid = str(d["id"])
            if d.get("title"):
                info["titles"][pid] = d["title"]
            if d.get("cost") is not None:
                info["costs"][pid] = d["cost"]
            attrs = d.get("attributes") or {}
            if isinstance(attrs, Mapping) and attrs.get("idea_id"):
                info["ideas"][pid] = str(attrs["idea_id"])
    return info


def from_event(event_type: str, tenant: str, event_id: str, time: str, data: Mapping[str, Any],
               **options: Any) -> Optional[dict]:
    if event_type == "IdeaStatusChanged":
        return from_idea_status(tenant, event_id, time, data, **options)
    if event_type in BUDGET_TYPES:
        return from_budget_outcome(tenant, event_id, time, data, **options)
    return None


# ---------------------------------------------------------------------------------- rendering by extension
EXTENSION_FORMATS = {"ttl": "oslo-ttl", "jsonld": "oslo-jsonld", "akn.xml": "akn", "popolo.json": "popolo",
                     "csv": "csv", "json": "json"}


def split_extension(name: str) -> tuple[str, Optional[str]]:
    """``d-1.akn.xml`` → (``d-1``, ``akn``); no known extension → (name, None). Longest extension wins."""
    for ext in sorted(EXTENSION_FORMATS, key=len, reverse=True):
        if name.endswith("." + ext) and len(name) > len(ext) + 1:
            return name[: -len(ext) - 1], EXTENSION_FORMATS[ext]
    return name, None


def format_of(value: str) -> Optional[str]:
    """A ``?format=`` value: a format name (``oslo-ttl``) or an extension (``ttl``, ``akn.xml``)."""
    value = (value or "").strip().lower()
    if value in EXTENSION_FORMATS.values():
        return value
    return EXTENSION_FORMATS.get(value.lstrip("."))
