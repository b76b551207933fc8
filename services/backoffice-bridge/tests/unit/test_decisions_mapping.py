"""Pure mapping of other services' decision events to Decision JSON (backoffice_bridge.decisions)."""
import pytest

from backoffice_bridge import decisions as dmap
from backoffice_bridge.schemas import load_decision

OPTS = {"public_url": "https://agora.example", "body": {"id": "council", "name": "Council"}}
TIME = "2026-03-04T21:30:00.123456Z"


def status(to="accepted", **extra):
    data = {"idea_id": "idea-1", "project_id": "p-1", "title": "Fietsstraat", "from": "under_review", "to": to,
            "decision": to in dmap.DECISION_STATUSES, "feedback": "Goed.", "feedback_language": "nl",
            "decided_by": "ada"}
    data.update(extra)
    return data


def test_decision_id_is_deterministic_per_tenant_and_event():
    a = dmap.decision_id_for("gent", "ev-1")
    assert a == dmap.decision_id_for("gent", "ev-1") and a.startswith("d-")
    assert a != dmap.decision_id_for("gent", "ev-2") and a != dmap.decision_id_for("leuven", "ev-1")
    assert dmap.recorded_event_id(a) == dmap.recorded_event_id(a)


def test_idea_status_maps_to_a_valid_decision():
    doc = dmap.from_event("IdeaStatusChanged", "gent", "ev-1", TIME, status(), **OPTS)
    d = load_decision(doc)
    assert d.id == dmap.decision_id_for("gent", "ev-1") and d.outcome == "accepted" and d.motivation == "Goed."
    assert d.subjects[0].url == "https://agora.example/api/v1/tenants/gent/ideas/idea-1"
    assert str(d.decided_on) == "2026-03-04" and d.language == "nl"


@pytest.mark.parametrize("to", ["under_review", "proposed", "merged", "withdrawn"])
def test_non_decision_statuses_are_ignored(to):
    assert dmap.from_event("IdeaStatusChanged", "gent", "ev-1", TIME, status(to), **OPTS) is None


def test_missing_optional_fields_and_bad_language():
    doc = dmap.from_event("IdeaStatusChanged", "gent", "e", TIME,
                          status("implemented", feedback="", feedback_language=None), **OPTS)
    assert doc["motivation"] is None and doc["language"] == "en"
    doc = dmap.from_event("IdeaStatusChanged", "gent", "e", TIME, status(feedback_language="not a tag!"), **OPTS)
    assert doc["language"] == "en"


def test_budget_outcome_variants():
    doc = dmap.from_event("OutcomeComputed", "gent", "e", TIME, {
        "round_id": "r1", "currency": "eur", "winners": [
            {"id": "p1", "name": "Speeltuin", "amount": 100.5, "idea_id": "i1"},
            {"project_id": "p2", "title": "Bank", "cost": "20"}, {"project_id": "p2", "title": "dup"},
            {"project_id": "p3", "title": "Geen bedrag"}]}, **OPTS)
    d = load_decision(doc)
    assert d.kind == "budget_outcome" and d.outcome == "allocated"
    assert [(s.id, s.amount and str(s.amount), s.currency) for s in d.subjects] == [
        ("p1", "100.5", "EUR"), ("p2", "20", "EUR"), ("p3", None, None)]
    assert d.subjects[0].url.endswith("/tenants/gent/ideas/i1")
    assert d.subjects[1].url.endswith("/tenants/gent/budgets/r1/projects/p2")
    bare = dmap.from_event("RoundClosed", "gent", "e2", TIME, {"round_id": "r1", "selected": ["a", "b"]}, **OPTS)
    assert [s["id"] for s in bare["subjects"]] == ["a", "b"]
    assert dmap.from_event("RoundClosed", "gent", "e3", TIME, {"round_id": "r1"}, **OPTS) is None
    assert dmap.from_event("OutcomeComputed", "gent", "e4", TIME, {"selected": []}, **OPTS) is None
    assert dmap.from_event("Unrelated", "gent", "e5", TIME, {}, **OPTS) is None


def test_budget_outcome_documented_shape_with_round_info():
    """The shape documented in services/budgets/budgets/domain.py: selected ids, costs in ``projects``; titles
    and currency from the round's RoundOpened / ProjectAdded events."""
    class Ev:
        def __init__(self, type, data):
            self.type, self.data = type, data
    round_events = [Ev("RoundOpened", {"round_id": "r1", "currency": "PLN", "budget": "1000"}),
                    Ev("ProjectAdded", {"round_id": "r1", "id": "p1", "cost": "600", "title": "Park",
                                        "attributes": {"idea_id": "idea-9"}}),
                    Ev("ProjectAdded", {"round_id": "r1", "id": "p2", "cost": "300", "title": "Ławki"}),
                    Ev("BallotCast", {"round_id": "r1", "voter_id": "v", "ballot": {"projects": ["p1"]}})]
    info = dmap.round_info_from(round_events)
    data = {"round_id": "r1", "rule": "mes", "tie_breaking": "cost", "selected": ["p1", "p2"], "total_cost": "900",
            "budget": "1000", "projects": [{"id": "p1", "cost": "600", "votes": 3, "selected": True},
                                           {"id": "p2", "cost": "300", "votes": 2, "selected": True},
                                           {"id": "p3", "cost": "500", "votes": 1, "selected": False}],
            "details": {}}
    d = load_decision(dmap.from_event("OutcomeComputed", "krakow", "e", TIME, data, round_info=info, **OPTS))
    assert [(s.id, s.title, str(s.amount), s.currency) for s in d.subjects] == [
        ("p1", "Park", "600", "PLN"), ("p2", "Ławki", "300", "PLN")]
    assert d.subjects[0].url.endswith("/tenants/krakow/ideas/idea-9")
    assert "900 PLN" in d.description and "1000 PLN" in d.description and "mes" in d.description
    assert dmap.from_event("RoundClosed", "krakow", "e2", TIME, {"round_id": "r1", "ballots": 3, "at": TIME},
                           **OPTS) is None


def test_extensions_and_formats():
    assert dmap.split_extension("d-1.akn.xml") == ("d-1", "akn")
    assert dmap.split_extension("d-1.popolo.json") == ("d-1", "popolo")
    assert dmap.split_extension("d.1.ttl") == ("d.1", "oslo-ttl")
    assert dmap.split_extension("d-1.json") == ("d-1", "json")
    assert dmap.split_extension("d-1") == ("d-1", None)
    assert dmap.split_extension(".ttl") == (".ttl", None)
    assert dmap.format_of("ttl") == "oslo-ttl" and dmap.format_of("akn") == "akn"
    assert dmap.format_of(".akn.xml") == "akn" and dmap.format_of("pdf") is None


def test_inbound_command_ids_are_recognisable_and_stable():
    a = dmap.inbound_command_id("gent", "dec-1", "idea-1", "accepted")
    assert a.startswith(dmap.INBOUND_PREFIX) and a == dmap.inbound_command_id("gent", "dec-1", "idea-1", "accepted")
    assert a != dmap.inbound_command_id("gent", "dec-1", "idea-1", "rejected")
