"""Akoma Ntoso 3.0 (OASIS LegalDocML): a decision as an AKN ``doc name="decision"``.

The FRBR identification follows the AKN naming convention::

    work          /akn/{country}/doc/decision/{tenant}/{decided_on}/{id}
    expression    {work}/{lang3}@
    manifestation {expression}/main.xml

``meta`` holds the identification, a lifecycle (decided / published events) and the TLC references; the
``mainBody`` has one ``hcontainer`` per part (description, motivation, decision with the outcome, the
subjects as a ``blockList`` with amounts, the vote). Texts are put in ``p`` elements verbatim (newlines kept).
"""
from __future__ import annotations

from typing import Optional
from urllib.parse import quote

from lxml import etree

from backoffice_bridge import domain
from backoffice_bridge.domain import Decision, IriMinter

AKN_NS = "http://docs.oasis-open.org/legaldocml/ns/akn/3.0"
_E = "{%s}" % AKN_NS


def _el(parent: Optional[etree._Element], tag: str, text: Optional[str] = None, **attrs: str) -> etree._Element:
    attrs = {k.rstrip("_"): v for k, v in attrs.items() if v is not None}
    node = etree.Element(_E + tag, attrs, nsmap={None: AKN_NS}) if parent is None else \
        etree.SubElement(parent, _E + tag, attrs)
    if text is not None:
        node.text = text
    return node


def frbr_uris(d: Decision, country: str = "be") -> dict[str, str]:
    work = "/akn/{}/doc/decision/{}/{}/{}".format(country, quote(d.tenant, safe=""), d.decided_on.isoformat(),
                                                 quote(d.id, safe=""))
    expression = f"{work}/{domain.eu_language_code(d.language).lower()}@"
    return {"work": work, "expression": expression, "manifestation": f"{expression}/main.xml"}


def decision_akn(d: Decision, *, base: str = domain.DEFAULT_BASE, country: str = "be") -> etree._Element:
    """The ``akomaNtoso`` element of ``d``."""
    m = IriMinter(base)
    uris = frbr_uris(d, country)
    lang3 = domain.eu_language_code(d.language).lower()
    published = d.published_on or d.decided_on
    author = "#" + "decider"

    root = _el(None, "akomaNtoso")
    doc = _el(root, "doc", name="decision")
    meta = _el(doc, "meta")
    ident = _el(meta, "identification", source="#agora")
    work = _el(ident, "FRBRWork")
    _el(work, "FRBRthis", value=uris["work"] + "/!main")
    _el(work, "FRBRuri", value=uris["work"])
    _el(work, "FRBRalias", value=m.besluit(d), name="oslo")
    _el(work, "FRBRdate", date=d.decided_on.isoformat(), name="decision")
    _el(work, "FRBRauthor", href=author, as_="#author")
    _el(work, "FRBRcountry", value=country)
    _el(work, "FRBRsubtype", value=d.kind)
    _el(work, "FRBRnumber", value=d.id)
    _el(work, "FRBRname", value=d.title)
    expr = _el(ident, "FRBRExpression")
    _el(expr, "FRBRthis", value=uris["expression"] + "/!main")
    _el(expr, "FRBRuri", value=uris["expression"])
    _el(expr, "FRBRdate", date=published.isoformat(), name="publication")
    _el(expr, "FRBRauthor", href=author, as_="#author")
    _el(expr, "FRBRlanguage", language=lang3)
    mani = _el(ident, "FRBRManifestation")
    _el(mani, "FRBRthis", value=uris["manifestation"])
    _el(mani, "FRBRuri", value=uris["manifestation"])
    _el(mani, "FRBRdate", date=published.isoformat(), name="generation")
    _el(mani, "FRBRauthor", href="#agora", as_="#editor")
    _el(mani, "FRBRformat", value="application/akn+xml")

    life = _el(meta, "lifecycle", source="#agora")
    _el(life, "eventRef", eId="evt_decided", date=d.decided_on.isoformat(), source="#original", type="generation",
        refersTo="#decided")
    if d.published_on is not None:
        _el(life, "eventRef", eId="evt_published", date=d.published_on.isoformat(), source="#original",
            type="amendment", refersTo="#published")

    refs = _el(meta, "references", source="#agora")
    _el(refs, "original", eId="original", href=uris["expression"], showAs=d.title)
    _el(refs, "TLCOrganization", eId="agora", href="/ontology/organization/agora", showAs="Agora")
    _el(refs, "TLCOrganization", eId="decider",
        href="/ontology/organization/{}/{}".format(quote(d.tenant, safe=""), quote(d.decided_by.id, safe="")),
        showAs=d.decided_by.name)
    _el(refs, "TLCRole", eId="author", href="/ontology/role/author", showAs="Author")
    _el(refs, "TLCRole", eId="editor", href="/ontology/role/editor", showAs="Editor")
    _el(refs, "TLCEvent", eId="decided", href="/ontology/event/decided", showAs="Decided")
    if d.published_on is not None:
        _el(refs, "TLCEvent", eId="published", href="/ontology/event/published", showAs="Published")
    _el(refs, "TLCConcept", eId="outcome", href=f"/ontology/concept/outcome/{d.outcome}",
        showAs=domain.outcome_label(d.outcome, domain.label_language(d.language)))
    if any(s.amount is not None for s in d.subjects):
        _el(refs, "TLCConcept", eId="amount", href="/ontology/concept/amount", showAs="Amount")
    if d.votes is not None:
        for option in ("for", "against", "abstain"):
            _el(refs, "TLCConcept", eId=f"votes_{option}", href=f"/ontology/concept/votes/{option}",
                showAs=f"Votes {option}")

    preface = _el(doc, "preface")
    p = _el(preface, "p")
    _el(p, "docTitle", d.title)
    p2 = _el(preface, "p")
    _el(p2, "docAuthority", d.decided_by.name)
    _el(p2, "docDate", d.decided_on.isoformat(), date=d.decided_on.isoformat())

    body = _el(doc, "mainBody")
    if d.description is not None:
        c = _el(_el(body, "hcontainer", eId="hcontainer_description", name="description"), "content")
        _el(c, "p", d.description)
    if d.motivation is not None:
        c = _el(_el(body, "hcontainer", eId="hcontainer_motivation", name="motivation"), "content")
        _el(c, "p", d.motivation)

    dec = _el(body, "hcontainer", eId="hcontainer_decision", name="decision")
    c = _el(dec, "content")
    bl = _el(c, "blockList", eId="hcontainer_decision__list_1")
    listintro = _el(bl, "listIntroduction")
    _el(listintro, "span", domain.outcome_label(d.outcome, domain.label_language(d.language)),
        class_=f"outcome {d.outcome}", refersTo="#outcome")
    for i, s in enumerate(d.subjects, start=1):
        item = _el(bl, "item", eId=f"hcontainer_decision__list_1__item_{i}")
        ip = _el(item, "p")
        ref = _el(ip, "ref", s.title, href=s.url, class_=s.type)
        if s.amount is not None:
            ref.tail = " "
            _el(ip, "quantity", f"{s.amount} {s.currency}", normalized=str(s.amount), class_=s.currency,
                refersTo="#amount")

    if d.votes is not None:
        v = d.votes
        c = _el(_el(body, "hcontainer", eId="hcontainer_votes", name="votes"), "content")
        vp = _el(c, "p", class_="secret" if v.secret else "public")
        for i, (name, value) in enumerate((("for", v.for_), ("against", v.against), ("abstain", v.abstain))):
            q = _el(vp, "quantity", str(value), normalized=str(value), class_=name, refersTo=f"#votes_{name}",
                    eId=f"hcontainer_votes__qty_{i + 1}")
            if i < 2:
                q.tail = " "
    return root


def render_akn(d: Decision, *, base: str = domain.DEFAULT_BASE, country: str = "be") -> str:
    """The decision as an Akoma Ntoso 3.0 XML document (UTF-8 with XML declaration)."""
    root = decision_akn(d, base=base, country=country)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True).decode("utf-8")
