import json

import pytest

import bridge_samples as sample
from backoffice_bridge.renderers.popolo import popolo_document, render_popolo
from backoffice_bridge.schemas import load_decision


def _bare():
    d = sample.full()
    for key in ("session", "votes", "motivation", "description", "published_on", "attendees"):
        del d[key]
    return d


@pytest.mark.parametrize("data", [sample.FULL, sample.BUDGET, sample.MINIMAL, _bare(), sample.nasty()],
                         ids=["full", "budget", "minimal", "bare", "hostile"])
def test_each_part_is_valid_popolo(data, popolo_validator):
    doc = json.loads(render_popolo(load_decision(data)))
    assert set(doc) == {"motion", "vote_event", "votes"}
    assert popolo_validator.errors(doc) == []


def test_the_validator_really_validates(popolo_validator):
    doc = popolo_document(load_decision(sample.FULL))
    doc["vote_event"]["counts"][0]["value"] = "seven"
    doc["motion"]["sources"][0] = {"note": "no url"}  # link.json: url required (via $ref)
    doc["motion"]["date"] = "yesterday"  # format date-time
    errors = popolo_validator.errors(doc)
    assert any(e.startswith("vote_event/counts/0/value") for e in errors)
    assert any(e.startswith("motion/sources/0") and "url" in e for e in errors)
    assert any(e.startswith("motion/date") for e in errors)


def test_content():
    doc = popolo_document(load_decision(sample.FULL))
    m, ve = doc["motion"], doc["vote_event"]
    assert m["result"] == ve["result"] == "pass"
    assert ve["motion_id"] == m["id"] and m["organization_id"] == ve["organization_id"] == "gent/college"
    assert ve["counts"] == [{"option": "yes", "value": 7}, {"option": "no", "value": 2},
                            {"option": "abstain", "value": 1}]
    assert m["sources"] == [{"url": sample.IDEA_URL, "note": sample.FULL["subjects"][0]["title"]}]
    assert ve["start_date"] == "2024-03-04T19:05:00+01:00"
    assert doc["votes"] == []
    rejected = popolo_document(load_decision(sample.full(outcome="rejected")))
    assert rejected["motion"]["result"] == "fail"


def test_without_votes_or_session_there_are_no_counts_or_session_dates():
    doc = popolo_document(load_decision(_bare()))
    assert "counts" not in doc["vote_event"] and "start_date" not in doc["vote_event"]
    assert "legislative_session_id" not in doc["motion"]
    # the decision day is still the motion's date (a date-time, as the schema wants)
    assert doc["motion"]["date"] == f"{_bare()['decided_on']}T00:00:00+00:00"


def test_date_amounts_and_motivation_are_carried(popolo_validator):
    full = popolo_document(load_decision(sample.FULL))
    assert full["motion"]["date"] == "2024-03-04T19:00:00+01:00" or full["motion"]["date"].startswith("2024-03-04")
    assert full["motion"]["decided_on"] == sample.FULL["decided_on"]
    assert full["motion"]["motivation"] == sample.FULL["motivation"]
    budget = popolo_document(load_decision(sample.BUDGET))
    amounts = [(s["id"], s.get("amount"), s.get("currency")) for s in budget["motion"]["subjects"]]
    expected = [(s["id"], s.get("amount"), s.get("currency")) for s in sample.BUDGET["subjects"]]
    assert [a[1:] for a in amounts] == [(str(e[1]) if e[1] is not None else None, e[2]) for e in expected]
    assert any(s.get("amount") for s in budget["motion"]["subjects"])
    note = budget["motion"]["sources"][0]["note"]
    assert sample.BUDGET["subjects"][0]["currency"] in note
    assert popolo_validator.errors(full) == [] and popolo_validator.errors(budget) == []


def test_texts_are_carried_exactly():
    doc = json.loads(render_popolo(load_decision(sample.nasty())))
    assert doc["motion"]["text"] == sample.NASTY
    assert doc["motion"]["organization"]["name"] == sample.NASTY
