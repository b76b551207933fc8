import json

import pytest

import bridge_samples as sample
from backoffice_bridge.inbound import InboundError, commands_from_decision, parse_inbound
from backoffice_bridge.renderers import render
from backoffice_bridge.schemas import load_decision
from backoffice_bridge.vocab import OFFICIAL_CONTEXT_URL

EXPECTED_FULL = [{
    "tenant": "gent", "idea_id": "idea-7", "idea_url": sample.IDEA_URL, "status": "accepted",
    "feedback": {"text": sample.FULL["motivation"], "language": "nl"}, "decision_id": "dec-2024-001",
}]


def _with_source(source):
    return [dict(c, source=source) for c in EXPECTED_FULL]


@pytest.fixture(scope="module")
def contexts(oslo_context):
    return {OFFICIAL_CONTEXT_URL: oslo_context}


def test_our_json():
    assert parse_inbound(json.dumps(sample.FULL), "application/json; charset=utf-8") == _with_source("json")


@pytest.mark.parametrize("fmt, media", [("oslo-ttl", "text/turtle"), ("oslo-jsonld", "application/ld+json")])
@pytest.mark.parametrize("base", ["https://{tenant}.agora.example/id/", "http://localhost/ld/"])
def test_round_trip_of_our_own_oslo_output(fmt, media, base, contexts):
    body = render(load_decision(sample.FULL), fmt, base=base)
    assert parse_inbound(body.encode("utf-8"), media, contexts=contexts) == _with_source(fmt)


@pytest.mark.parametrize("fmt, media", [("oslo-ttl", "text/turtle"), ("oslo-jsonld", "application/ld+json")])
def test_round_trip_budget_many_ideas_and_generated_motivation(fmt, media, contexts):
    commands = parse_inbound(render(load_decision(sample.BUDGET), fmt), media, contexts=contexts)
    assert [(c["idea_id"], c["status"], c["feedback"]) for c in commands] == [("idea-7", "accepted", None),
                                                                              ("idea-8", "accepted", None)]
    assert commands == commands_from_decision(load_decision(sample.BUDGET), fmt)


@pytest.mark.parametrize("fmt, media", [("oslo-ttl", "text/turtle"), ("oslo-jsonld", "application/ld+json")])
def test_round_trip_hostile_long_feedback(fmt, media, contexts):
    data = sample.nasty(long=True)
    (command,) = parse_inbound(render(load_decision(data), fmt), media, contexts=contexts)
    assert command["feedback"] == {"text": data["motivation"], "language": "he"}


THIRD_PARTY = """
@prefix besluit: <http://data.vlaanderen.be/ns/besluit#> .
@prefix eli: <http://data.europa.eu/eli/ontology#> .
@prefix prov: <http://www.w3.org/ns/prov#> .
<http://erp.example/besluit/1> a besluit:Besluit ;
    besluit:motivering "Niet haalbaar binnen het budget."@nl ;
    eli:realizes <http://erp.example/rechtsgrond/1> ;
    prov:wasGeneratedBy <http://erp.example/behandeling/1> .
<http://erp.example/rechtsgrond/1> eli:related_to <https://agora.example/tenants/leuven/ideas/42> .
<http://erp.example/behandeling/1> besluit:heeftStemming [ besluit:gevolg "Het voorstel wordt verworpen."@nl ] .
"""


def test_third_party_turtle_with_related_to_and_gevolg_text():
    (command,) = parse_inbound(THIRD_PARTY, "text/turtle")
    assert command == {"tenant": "leuven", "idea_id": "42", "idea_url": "https://agora.example/tenants/leuven/ideas/42",
                       "status": "rejected", "feedback": {"text": "Niet haalbaar binnen het budget.", "language": "nl"},
                       "decision_id": "http://erp.example/besluit/1", "source": "oslo-ttl"}


@pytest.mark.parametrize("body, media, message", [
    ("{not json", "application/json", "malformed JSON"),
    (json.dumps({"id": "x"}), "application/json", "invalid decision"),
    (json.dumps(sample.full(subjects=[{"type": "idea", "id": "i", "title": "t", "url": "https://x.example/i"}])),
     "application/json", "no subject refers to an Agora idea URL"),
    (json.dumps(sample.full(subjects=[{"type": "idea", "id": "i", "title": "t",
                                       "url": "https://x.example/tenants/other/ideas/i"}])),
     "application/json", "tenant 'other'"),
    ("<a> <b> .", "text/turtle", "malformed Turtle"),
    ("", "text/turtle", "exactly one besluit:Besluit"),
    (THIRD_PARTY.replace("https://agora.example/tenants/leuven/ideas/42", "https://agora.example/x"), "text/turtle",
     "no Agora idea URL"),
    (THIRD_PARTY.replace("wordt verworpen", "is besproken"), "text/turtle", "cannot tell the outcome"),
    (THIRD_PARTY + "<http://erp.example/besluit/2> a besluit:Besluit .", "text/turtle", "found 2"),
    (THIRD_PARTY, "application/xml", "unsupported media type"),
    ("[1,", "application/ld+json", "malformed JSON-LD"),
])
def test_invalid_bodies_raise_a_clear_one_line_error(body, media, message):
    with pytest.raises(InboundError, match=message.replace("(", r"\(")) as exc:
        parse_inbound(body, media)
    assert "\n" not in str(exc.value)


def test_unknown_agora_outcome():
    body = THIRD_PARTY.replace("a besluit:Besluit ;", "a besluit:Besluit ; <https://agora.example/ns#outcome> "
                                                      "<https://agora.example/ns#postponed> ;")
    with pytest.raises(InboundError, match="unknown agora:outcome 'postponed'"):
        parse_inbound(body, "text/turtle")


def test_jsonld_works_out_of_the_box_with_the_packaged_terms(contexts):
    """No configuration: the official context URL resolves to the terms shipped with the package, and gives the
    same commands as the full official context."""
    body = render(load_decision(sample.FULL), "oslo-jsonld")
    assert parse_inbound(body, "application/ld+json") == parse_inbound(body, "application/ld+json", contexts=contexts)


def test_other_remote_contexts_are_never_fetched():
    body = render(load_decision(sample.FULL), "oslo-jsonld", context_url="https://example.org/ctx.jsonld")
    with pytest.raises(InboundError, match="never fetched"):
        parse_inbound(body, "application/ld+json")


def test_non_utf8_and_oversized_bodies():
    with pytest.raises(InboundError, match="not UTF-8"):
        parse_inbound(b"\xff\xfe", "text/turtle")
    with pytest.raises(InboundError, match="too large"):
        parse_inbound(b"x" * 101, "text/turtle", max_bytes=100)
