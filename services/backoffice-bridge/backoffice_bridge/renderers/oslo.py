"""OSLO "Besluit publicatie" (Flemish decision publication) as RDF: Turtle and JSON-LD.

:func:`decision_graph` builds the whole linked graph of one decision::

    besluit:Besluit (also eli:LegalExpression) --eli:realizes--> eli:LegalResource --eli:has_part--> article
        --prov:wasGeneratedBy--> besluit:BehandelingVanAgendapunt --dct:subject--> besluit:Agendapunt
                                    --besluit:heeftStemming--> besluit:Stemming        (when votes are known)
                                    --prov:used--> <idea / project URL>               (what was decided on)
    besluit:Zitting --besluit:behandelt--> Agendapunt ; --besluit:isGehoudenDoor--> besluit:Bestuursorgaan
    Bestuursorgaan --besluit:bestuurt--> besluit:Bestuurseenheid --besluit:werkingsgebied--> prov:Location

It conforms to both official SHACL shapes (OSLO-Generated and the 2025-12-11 erkende standaard), which require
more than a Decision always knows. Documented fallbacks (see README):

* no ``motivation``: a generated, localised sentence stating that none was communicated + the outcome;
* no ``attendees`` / ``session.chair`` / ``session.secretary``: an existential blank node typed
  mandaat:Mandataris (RDF's "some mandatary", no invented identity);
* no ``session``: no Zitting is published (the shapes do not require one for a Besluit).

The subjects (ideas/projects) are linked with ``prov:used`` from the BehandelingVanAgendapunt (the activity
used the proposal as input) and ``eli:related_to`` from the LegalResource; the machine-readable outcome is
``agora:outcome agora:<outcome>`` on the Besluit (OSLO has no property for it; ``besluit:gevolg`` is prose).
"""
from __future__ import annotations

import json
from typing import Any, Optional

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, ORG, PROV, RDF, RDFS, SKOS, XSD

from backoffice_bridge import domain
from backoffice_bridge.domain import Decision, IriMinter, Person
from backoffice_bridge.vocab import (AGORA, BESLUIT, CONTEXT_TERMS, ELI, MANDAAT, OFFICIAL_CONTEXT_URL, PREFIXES,
                                     TYPE_PRIORITY, TYPE_TERMS)


def _s(text: str) -> Literal:
    """A string literal typed xsd:string explicitly (what the official JSON-LD context coerces strings to)."""
    return Literal(text, datatype=XSD.string)


def _bool(value: bool) -> Literal:
    return Literal("true" if value else "false", datatype=XSD.boolean)


def _int(value: int) -> Literal:
    return Literal(str(int(value)), datatype=XSD.integer)


def _date(value: Any) -> Literal:
    return Literal(value.isoformat(), datatype=XSD.date)


def _datetime(value: Any) -> Literal:
    return Literal(value.isoformat(), datatype=XSD.dateTime)


def bind_prefixes(g: Graph) -> Graph:
    for prefix, ns in PREFIXES.items():
        g.bind(prefix, ns, override=True, replace=True)
    return g


def decision_graph(d: Decision, minter: Optional[IriMinter] = None) -> Graph:
    """The OSLO Besluit publication graph of ``d`` (rdflib Graph, prefixes bound)."""
    m = minter or IriMinter()
    g = bind_prefixes(Graph())
    lang_label = domain.label_language(d.language)

    def concept(scheme: str, code: str, extra_type: Optional[URIRef] = None) -> URIRef:
        node = URIRef(m.concept(d, scheme, code))
        g.add((node, RDF.type, SKOS.Concept))
        if extra_type is not None:
            g.add((node, RDF.type, extra_type))
        if node != URIRef(code):  # our own code list: label it with the code
            g.add((node, SKOS.prefLabel, Literal(code)))
        return node

    def mandataris(person: Optional[Person], unknown: str) -> URIRef | BNode:
        if person is None:
            node: URIRef | BNode = BNode(unknown)
        else:
            node = URIRef(m.mandataris(d, person))
            if person.name:
                g.add((node, RDFS.label, Literal(person.name)))
        g.add((node, RDF.type, MANDAAT.Mandataris))
        return node

    def attendees(unknown: str) -> list:
        return [mandataris(p, unknown) for p in d.attendees] or [mandataris(None, unknown)]

    besluit = URIRef(m.besluit(d))
    rechtsgrond = URIRef(m.rechtsgrond(d))
    artikel = URIRef(m.artikel(d))
    behandeling = URIRef(m.behandeling(d))
    agendapunt = URIRef(m.agendapunt(d))
    orgaan = URIRef(m.bestuursorgaan(d))
    eenheid = URIRef(m.bestuurseenheid(d))
    gebied = URIRef(m.werkingsgebied(d))

    # --- the decision (besluit:Besluit ⊑ eli:LegalExpression, typed explicitly so no reasoner is needed)
    g.add((besluit, RDF.type, BESLUIT.Besluit))
    g.add((besluit, RDF.type, ELI.LegalExpression))
    g.add((besluit, DCTERMS.identifier, Literal(d.id)))
    g.add((besluit, ELI.title, _s(d.title)))
    if d.description is not None:
        g.add((besluit, ELI.description, _s(d.description)))
    g.add((besluit, PROV.value, Literal(d.description if d.description is not None else d.title)))
    language = URIRef(domain.EU_LANGUAGE_BASE + domain.eu_language_code(d.language))
    g.add((language, RDF.type, SKOS.Concept))
    g.add((besluit, ELI.language, language))
    if d.motivation is not None:
        g.add((besluit, BESLUIT.motivering, Literal(d.motivation, lang=d.language)))
    else:
        g.add((besluit, BESLUIT.motivering, Literal(domain.fallback_motivation(d.outcome, d.language),
                                                    lang=lang_label)))
        g.add((besluit, AGORA.motivationGenerated, _bool(True)))  # so inbound does not mistake it for feedback
    if d.published_on is not None:
        g.add((besluit, ELI.date_publication, _date(d.published_on)))
    g.add((besluit, ELI.realizes, rechtsgrond))
    g.add((besluit, PROV.wasGeneratedBy, behandeling))
    g.add((besluit, AGORA.outcome, AGORA[d.outcome]))
    g.add((besluit, AGORA.kind, AGORA[d.kind]))

    # --- the legal resource it realises, with its single article (the operative part)
    g.add((rechtsgrond, RDF.type, ELI.LegalResource))
    g.add((rechtsgrond, ELI.type_document, concept("besluittype", d.kind, ELI.ResourceType)))
    g.add((rechtsgrond, ELI.first_date_entry_in_force, _date(d.decided_on)))
    g.add((rechtsgrond, ELI.passed_by, orgaan))
    g.add((rechtsgrond, ELI.has_part, artikel))
    g.add((artikel, RDF.type, ELI.LegalResourceSubdivision))
    g.add((artikel, ELI.is_part_of, rechtsgrond))

    # --- the treatment of the agenda item that generated it
    g.add((behandeling, RDF.type, BESLUIT.BehandelingVanAgendapunt))
    g.add((behandeling, BESLUIT.openbaar, _bool(d.public)))
    g.add((behandeling, DCTERMS.subject, agendapunt))
    g.add((behandeling, PROV.generated, besluit))
    for node in attendees("onbekende-aanwezige"):
        g.add((behandeling, BESLUIT.heeftAanwezige, node))

    # --- what was decided on: Agora ideas / budget projects, by their public URL
    for subject in d.subjects:
        url = URIRef(subject.url)
        g.add((behandeling, PROV.used, url))
        g.add((rechtsgrond, ELI.related_to, url))
        g.add((url, DCTERMS.identifier, Literal(subject.id)))
        g.add((url, DCTERMS.title, _s(subject.title)))
        g.add((url, DCTERMS.type, AGORA[subject.type]))

    g.add((agendapunt, RDF.type, BESLUIT.Agendapunt))
    g.add((agendapunt, DCTERMS.title, _s(d.title)))
    if d.description is not None:
        g.add((agendapunt, DCTERMS.description, _s(d.description)))
    g.add((agendapunt, BESLUIT.geplandOpenbaar, _bool(d.public)))
    g.add((agendapunt, BESLUIT["Agendapunt.type"], concept("agendapunttype", d.kind)))

    # --- the vote, when the counts are known
    if d.votes is not None:
        stemming = URIRef(m.stemming(d))
        g.add((behandeling, BESLUIT.heeftStemming, stemming))
        g.add((stemming, RDF.type, BESLUIT.Stemming))
        g.add((stemming, BESLUIT.aantalVoorstanders, _int(d.votes.for_)))
        g.add((stemming, BESLUIT.aantalTegenstanders, _int(d.votes.against)))
        g.add((stemming, BESLUIT.aantalOnthouders, _int(d.votes.abstain)))
        g.add((stemming, BESLUIT.geheim, _bool(d.votes.secret)))
        g.add((stemming, BESLUIT.gevolg, Literal(domain.outcome_label(d.outcome, lang_label), lang=lang_label)))
        g.add((stemming, BESLUIT.onderwerp, Literal(d.title, lang=d.language)))
        for node in attendees("onbekende-stemmer"):
            g.add((stemming, BESLUIT.heeftStemmer, node))
            g.add((stemming, BESLUIT.heeftAanwezige, node))

    # --- the sitting, when known
    if d.session is not None:
        s = d.session
        zitting = URIRef(m.zitting(d))
        g.add((zitting, RDF.type, BESLUIT.Zitting))
        g.add((zitting, BESLUIT.isGehoudenDoor, orgaan))
        g.add((zitting, BESLUIT.behandelt, agendapunt))
        g.add((zitting, BESLUIT.geplandeStart, _datetime(s.planned_start)))
        g.add((zitting, PROV.startedAtTime, _datetime(s.started_at)))
        g.add((zitting, PROV.endedAtTime, _datetime(s.ended_at)))
        g.add((zitting, BESLUIT.heeftVoorzitter, mandataris(s.chair, "onbekende-voorzitter")))
        g.add((zitting, BESLUIT.heeftSecretaris, mandataris(s.secretary, "onbekende-secretaris")))
        for node in attendees("onbekende-aanwezige-bij-start"):
            g.add((zitting, BESLUIT.heeftAanwezigeBijStart, node))
        if s.location:
            place = BNode("locatie")
            g.add((zitting, PROV.atLocation, place))
            g.add((place, RDF.type, PROV.Location))
            g.add((place, RDFS.label, Literal(s.location)))

    # --- the deciding body and the unit it governs
    g.add((orgaan, RDF.type, BESLUIT.Bestuursorgaan))
    g.add((orgaan, SKOS.prefLabel, Literal(d.decided_by.name)))
    g.add((orgaan, ORG.classification, concept("bestuursorgaanclassificatie", d.decided_by.classification)))
    g.add((orgaan, BESLUIT.bestuurt, eenheid))
    unit = d.administrative_unit
    g.add((eenheid, RDF.type, BESLUIT.Bestuurseenheid))
    g.add((eenheid, SKOS.prefLabel, Literal(unit.name)))
    g.add((eenheid, ORG.classification, concept("bestuurseenheidclassificatie", unit.classification)))
    g.add((eenheid, BESLUIT.werkingsgebied, gebied))
    g.add((gebied, RDF.type, PROV.Location))
    g.add((gebied, RDFS.label, Literal(unit.name)))
    return g


def render_oslo_turtle(d: Decision, *, base: str = domain.DEFAULT_BASE) -> str:
    """The decision's OSLO graph as Turtle (UTF-8 text)."""
    return decision_graph(d, IriMinter(base)).serialize(format="turtle")


# ------------------------------------------------------------------------------------------------ JSON-LD
def _compact_iri(iri: str) -> str:
    for prefix, ns in PREFIXES.items():
        if iri.startswith(str(ns)) and len(iri) > len(str(ns)):
            local = iri[len(str(ns)):]
            if all(c.isalnum() or c in "_-." for c in local):
                return f"{prefix}:{local}"
    return iri


def _node_id(node: Any) -> str:
    return f"_:{node}" if isinstance(node, BNode) else str(node)


def _json_value(obj: Any, coercion: Optional[str]) -> Any:
    """JSON-LD value for ``obj`` under a term with ``coercion`` (None: a compact IRI key, no coercion)."""
    if isinstance(obj, (URIRef, BNode)):
        return {"@id": _node_id(obj)}
    assert isinstance(obj, Literal)
    lexical, datatype, lang = str(obj), obj.datatype, obj.language
    if lang:
        return {"@value": lexical, "@language": lang}
    if coercion is not None and datatype is not None and str(datatype) == coercion:
        if coercion == str(XSD.boolean):
            return lexical == "true"
        if coercion == str(XSD.integer):
            return int(lexical)
        return lexical
    if coercion is None and datatype is None:
        return lexical
    if datatype is None:  # plain literal under a coercing term: a value object escapes the coercion
        return {"@value": lexical}
    return {"@value": lexical, "@type": _compact_iri(str(datatype))}


def _primary_type(types: list[str]) -> Optional[str]:
    for iri in TYPE_PRIORITY:
        if iri in types:
            return iri
    return None


def decision_jsonld(d: Decision, *, base: str = domain.DEFAULT_BASE,
                    context_url: str = OFFICIAL_CONTEXT_URL) -> dict:
    """The decision's OSLO graph as a JSON-LD document (a dict) using the official context by reference.

    Every node is a flat entry of ``@graph``; properties use the official context's terms of the node's first
    ``@type`` (type-scoped contexts: processors that apply only one scope — rdflib — get the same graph),
    everything else a compact IRI from the local prefix context. References are always ``{"@id": …}``.
    """
    g = decision_graph(d, IriMinter(base))
    nodes = []
    subjects = sorted(set(g.subjects()), key=lambda n: (isinstance(n, BNode), str(n)))
    for subject in subjects:
        types = sorted(str(t) for t in g.objects(subject, RDF.type))
        primary = _primary_type(types)
        ordered = ([primary] if primary else []) + [t for t in types if t != primary]
        scope = CONTEXT_TERMS[TYPE_TERMS[primary]][1] if primary else {}
        by_iri = {iri: (term, coercion) for term, (iri, coercion) in scope.items()}
        node: dict[str, Any] = {"@id": _node_id(subject)}
        if ordered:
            node["@type"] = [TYPE_TERMS.get(t, _compact_iri(t)) for t in ordered]
        props: dict[str, list] = {}
        for p, o in sorted(g.predicate_objects(subject), key=lambda po: (str(po[0]), str(po[1]))):
            if p == RDF.type:
                continue
            term, coercion = by_iri.get(str(p), (None, None))
            key = term or _compact_iri(str(p))
            props.setdefault(key, []).append(_json_value(o, coercion))
        for key in sorted(props):
            values = props[key]
            node[key] = values[0] if len(values) == 1 else values
        nodes.append(node)
    local_context = {prefix: str(ns) for prefix, ns in PREFIXES.items()}
    return {"@context": [context_url, local_context], "@graph": nodes}


def render_oslo_jsonld(d: Decision, *, base: str = domain.DEFAULT_BASE,
                       context_url: str = OFFICIAL_CONTEXT_URL) -> str:
    """The decision's OSLO graph as JSON-LD text (UTF-8, non-ASCII kept as is)."""
    return json.dumps(decision_jsonld(d, base=base, context_url=context_url), ensure_ascii=False, indent=2) + "\n"
