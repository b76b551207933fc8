import pytest
from lxml import etree

import bridge_samples as sample
from backoffice_bridge import validation
from backoffice_bridge.renderers.akn import AKN_NS, frbr_uris, render_akn
from backoffice_bridge.schemas import load_decision

NS = {"a": AKN_NS}


def _variants():
    bare = sample.full()
    for key in ("session", "votes", "motivation", "description", "published_on", "attendees"):
        del bare[key]
    return {"full": sample.full(), "budget": sample.BUDGET, "minimal": sample.MINIMAL, "bare": bare,
            "hostile": sample.nasty(), "long": sample.nasty(long=True)}


def test_the_schema_is_the_real_one(akn_schema):
    from agora.testing import shared_path
    assert validation.akn_errors(akn_schema, shared_path("standards/akn/sample-act-wet-tropics-1994.xml")
                                 .read_bytes()) == []
    assert validation.akn_errors(akn_schema, f'<akomaNtoso xmlns="{AKN_NS}"><doc name="x"/></akomaNtoso>')


@pytest.mark.parametrize("name", sorted(_variants()))
def test_valid_against_the_akoma_ntoso_xsd(name, akn_schema):
    xml = render_akn(load_decision(_variants()[name]))
    assert validation.akn_errors(akn_schema, xml) == []


def test_frbr_identification():
    d = load_decision(sample.FULL)
    root = etree.fromstring(render_akn(d, country="nl").encode())
    ident = root.find("a:doc/a:meta/a:identification", NS)
    uris = frbr_uris(d, "nl")
    assert uris["work"] == "/akn/nl/doc/decision/gent/2024-03-04/dec-2024-001"
    assert ident.find("a:FRBRWork/a:FRBRuri", NS).get("value") == uris["work"]
    assert ident.find("a:FRBRWork/a:FRBRthis", NS).get("value") == uris["work"] + "/!main"
    assert ident.find("a:FRBRWork/a:FRBRdate", NS).get("date") == "2024-03-04"
    assert ident.find("a:FRBRWork/a:FRBRcountry", NS).get("value") == "nl"
    assert ident.find("a:FRBRWork/a:FRBRauthor", NS).get("href") == "#decider"
    assert ident.find("a:FRBRExpression/a:FRBRuri", NS).get("value") == uris["expression"]
    assert ident.find("a:FRBRExpression/a:FRBRlanguage", NS).get("language") == "nld"
    assert ident.find("a:FRBRExpression/a:FRBRdate", NS).get("date") == "2024-03-06"
    assert ident.find("a:FRBRManifestation/a:FRBRthis", NS).get("value") == uris["manifestation"]
    assert ident.find("a:FRBRWork/a:FRBRalias", NS).get("value") == "https://gent.agora.example/id/besluit/dec-2024-001"


def test_texts_and_subjects_are_carried_exactly():
    data = sample.nasty(long=True)
    root = etree.fromstring(render_akn(load_decision(data)).encode())
    body = root.find("a:doc/a:mainBody", NS)
    assert root.find(".//a:docTitle", NS).text == data["title"]
    assert body.find("a:hcontainer[@name='description']/a:content/a:p", NS).text == data["description"]
    assert body.find("a:hcontainer[@name='motivation']/a:content/a:p", NS).text == data["motivation"]
    ref = body.find(".//a:item/a:p/a:ref", NS)
    assert (ref.text, ref.get("href")) == (sample.NASTY, sample.IDEA_URL)
    assert root.find(".//a:FRBRname", NS).get("value") == data["title"]  # attribute: \r \n \t kept too
    assert root.find(".//a:TLCOrganization[@eId='decider']", NS).get("showAs") == sample.NASTY


def test_votes_and_amounts():
    root = etree.fromstring(render_akn(load_decision(sample.FULL)).encode())
    quantities = root.iterfind(".//a:hcontainer[@name='votes']//a:quantity", NS)
    votes = {q.get("class"): q.get("normalized") for q in quantities}
    assert votes == {"for": "7", "against": "2", "abstain": "1"}
    root = etree.fromstring(render_akn(load_decision(sample.BUDGET)).encode())
    assert [q.get("normalized") for q in root.iterfind(".//a:item//a:quantity", NS)] == ["12500.00", "800"]
    assert root.find(".//a:hcontainer[@name='votes']", NS) is None
    assert root.find(".//a:hcontainer[@name='motivation']", NS) is None
