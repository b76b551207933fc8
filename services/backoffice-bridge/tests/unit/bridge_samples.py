"""Sample decisions used across the unit tests."""
from __future__ import annotations

import copy

IDEA_URL = "https://gent.agora.example/api/tenants/gent/ideas/idea-7"
PROJECT_URL = "https://gent.agora.example/api/tenants/gent/ideas/idea-8"

FULL = {
    "id": "dec-2024-001",
    "tenant": "gent",
    "kind": "idea_status",
    "title": "Fietsstraat in de Veldstraat",
    "description": "Het college beslist over het burgervoorstel voor een fietsstraat.",
    "motivation": "Het voorstel verhoogt de verkeersveiligheid en past in het mobiliteitsplan.",
    "language": "nl",
    "decided_by": {"id": "college", "name": "College van burgemeester en schepenen", "classification": "college"},
    "session": {
        "id": "zitting-2024-03-04",
        "planned_start": "2024-03-04T19:00:00+01:00",
        "started_at": "2024-03-04T19:05:00+01:00",
        "ended_at": "2024-03-04T22:30:00+01:00",
        "chair": {"id": "m-1", "name": "An Voorzitter"},
        "secretary": {"id": "m-2", "name": "Bert Secretaris"},
        "location": "Zaal 1B",
    },
    "decided_on": "2024-03-04",
    "published_on": "2024-03-06",
    "outcome": "accepted",
    "subjects": [{"type": "idea", "id": "idea-7", "title": "Maak van de Veldstraat een fietsstraat",
                  "url": IDEA_URL}],
    "votes": {"for": 7, "against": 2, "abstain": 1, "secret": False},
    "attendees": [{"id": "m-1", "name": "An Voorzitter"}, {"id": "m-3", "name": "Chris Raadslid"}],
}

BUDGET = {
    "id": "pb-2024-result",
    "tenant": "gent",
    "kind": "budget_outcome",
    "title": "Burgerbudget 2024: resultaat",
    "language": "nl-BE",
    "decided_by": {"id": "gemeenteraad", "name": "Gemeenteraad",
                   "administrative_unit": {"id": "gent", "name": "Stad Gent", "classification": "gemeente"}},
    "decided_on": "2024-06-30",
    "outcome": "allocated",
    "subjects": [
        {"type": "project", "id": "p-1", "title": "Speeltuin", "url": IDEA_URL, "amount": "12500.00",
         "currency": "EUR"},
        {"type": "project", "id": "p-2", "title": "Bankjes", "url": PROJECT_URL, "amount": 800, "currency": "EUR"},
    ],
}

MINIMAL = {
    "id": "d1",
    "tenant": "gent",
    "kind": "idea_status",
    "title": "Minimal",
    "language": "en",
    "decided_by": {"id": "council", "name": "Council"},
    "decided_on": "2024-01-01",
    "outcome": "rejected",
    "subjects": [{"type": "idea", "id": "idea-1", "title": "An idea",
                  "url": "https://x.example/tenants/gent/ideas/idea-1"}],
}

NASTY = "<&>\"' ]]> שלום עולם مرحبا \u202eRTL override\u202c 🚲🎉 e\u0301 \U0001F468\u200d\U0001F469\u200d\U0001F467 \\ \"\"\" '''\nline2\r\nline3\t tab"


def full(**changes):
    d = copy.deepcopy(FULL)
    d.update(changes)
    return d


def nasty(long: bool = False):
    """FULL with hostile text in every free-text field."""
    text = NASTY * (3000 if long else 1)
    d = full(title=NASTY, description=text, motivation=text, language="he")
    d["subjects"][0]["title"] = NASTY
    d["decided_by"]["name"] = NASTY
    d["attendees"][1]["name"] = NASTY
    return d
