"""RDF namespaces and the slice of the official OSLO Besluit JSON-LD context that our output uses.

``CONTEXT_TERMS`` repeats, for the terms we emit, what the official 2025-12-11 "erkende standaard" context
(``besluit-publicatie_nl.jsonld``) says: type term -> (class IRI, {term: (property IRI, @type coercion)}).
It is not a copy of that file: the unit tests check every entry against the official artefact, so a drift
between the two fails the build.
"""
from __future__ import annotations

from rdflib import Namespace
from rdflib.namespace import DCTERMS, FOAF, ORG, PROV, RDF, RDFS, SKOS, XSD

BESLUIT = Namespace("http://data.vlaanderen.be/ns/besluit#")
MANDAAT = Namespace("http://data.vlaanderen.be/ns/mandaat#")
ELI = Namespace("http://data.europa.eu/eli/ontology#")
#: Agora's own (small) vocabulary for what OSLO has no property for: the machine-readable outcome.
AGORA = Namespace("https://agora.example/ns#")

PREFIXES = {
    "besluit": BESLUIT, "mandaat": MANDAAT, "eli": ELI, "prov": PROV, "dct": DCTERMS, "skos": SKOS,
    "org": ORG, "foaf": FOAF, "rdfs": RDFS, "xsd": XSD, "agora": AGORA,
}

#: where the official context is published (referenced by URL from our JSON-LD, never fetched by us)
OFFICIAL_CONTEXT_URL = (
    "https://data.vlaanderen.be/doc/applicatieprofiel/besluit-publicatie/erkendestandaard/2025-12-11/"
    "context/besluit-publicatie_nl.jsonld"
)

_S = str(XSD.string)
_B = str(XSD.boolean)
_I = str(XSD.integer)
_D = str(XSD.date)
_DT = str(XSD.dateTime)
_LS = str(RDF.langString)
_L = str(RDFS.Literal)

CONTEXT_TERMS: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "Besluit": (str(BESLUIT.Besluit), {
        "beschrijving": (str(ELI.description), _S),
        "motivering": (str(BESLUIT.motivering), _LS),
        "publicatiedatum": (str(ELI.date_publication), _D),
        "realiseert": (str(ELI.realizes), str(ELI.LegalResource)),
        "volgtUit": (str(PROV.wasGeneratedBy), str(BESLUIT.BehandelingVanAgendapunt)),
    }),
    "LegaleVerschijningsvorm": (str(ELI.LegalExpression), {
        "titel": (str(ELI.title), _S),
        "inhoud": (str(PROV.value), _L),
        "taal": (str(ELI.language), str(SKOS.Concept)),
    }),
    "Rechtsgrond": (str(ELI.LegalResource), {
        "inwerkingtreding": (str(ELI.first_date_entry_in_force), _D),
        "typeDocument": (str(ELI.type_document), str(ELI.ResourceType)),
    }),
    "Rechtsgrondonderdeel(Artikel)": (str(ELI.LegalResourceSubdivision), {
        "isDeelVan": (str(ELI.is_part_of), str(ELI.LegalResource)),
    }),
    "BehandelingVanAgendapunt": (str(BESLUIT.BehandelingVanAgendapunt), {
        "openbaar": (str(BESLUIT.openbaar), _B),
        "heeftOnderwerp": (str(DCTERMS.subject), str(BESLUIT.Agendapunt)),
        "geeftAanleidingTot": (str(PROV.generated), str(BESLUIT.Besluit)),
        "heeftAanwezige": (str(BESLUIT.heeftAanwezige), str(MANDAAT.Mandataris)),
        "heeftStemming": (str(BESLUIT.heeftStemming), str(BESLUIT.Stemming)),
    }),
    "Agendapunt": (str(BESLUIT.Agendapunt), {
        "titel": (str(DCTERMS.title), _S),
        "beschrijving": (str(DCTERMS.description), _S),
        "geplandOpenbaar": (str(BESLUIT.geplandOpenbaar), _B),
        "type": (str(BESLUIT["Agendapunt.type"]), str(SKOS.Concept)),
    }),
    "Zitting": (str(BESLUIT.Zitting), {
        "behandelt": (str(BESLUIT.behandelt), str(BESLUIT.Agendapunt)),
        "geplandeStart": (str(BESLUIT.geplandeStart), _DT),
        "gestartOpTijdstip": (str(PROV.startedAtTime), _DT),
        "geëIndigdOpTijdstip": (str(PROV.endedAtTime), _DT),
        "heeftAanwezigeBijStart": (str(BESLUIT.heeftAanwezigeBijStart), str(MANDAAT.Mandataris)),
        "heeftSecretaris": (str(BESLUIT.heeftSecretaris), str(MANDAAT.Mandataris)),
        "heeftVoorzitter": (str(BESLUIT.heeftVoorzitter), str(MANDAAT.Mandataris)),
        "isGehoudenDoor": (str(BESLUIT.isGehoudenDoor), str(BESLUIT.Bestuursorgaan)),
        "opLocatie": (str(PROV.atLocation), str(PROV.Location)),
    }),
    "Stemming": (str(BESLUIT.Stemming), {
        "aantalVoorstanders": (str(BESLUIT.aantalVoorstanders), _I),
        "aantalTegenstanders": (str(BESLUIT.aantalTegenstanders), _I),
        "aantalOnthouders": (str(BESLUIT.aantalOnthouders), _I),
        "geheim": (str(BESLUIT.geheim), _B),
        "gevolg": (str(BESLUIT.gevolg), _LS),
        "onderwerp": (str(BESLUIT.onderwerp), _LS),
        "heeftStemmer": (str(BESLUIT.heeftStemmer), str(MANDAAT.Mandataris)),
        "heeftAanwezige": (str(BESLUIT.heeftAanwezige), str(MANDAAT.Mandataris)),
    }),
    "Bestuursorgaan": (str(BESLUIT.Bestuursorgaan), {
        "naam": (str(SKOS.prefLabel), _L),
        "classificatie": (str(ORG.classification), str(SKOS.Concept)),
        "bestuurt": (str(BESLUIT.bestuurt), str(BESLUIT.Bestuurseenheid)),
    }),
    "Bestuurseenheid": (str(BESLUIT.Bestuurseenheid), {
        "naam": (str(SKOS.prefLabel), _L),
        "classificatie": (str(ORG.classification), str(SKOS.Concept)),
        "werkingsgebied": (str(BESLUIT.werkingsgebied), str(PROV.Location)),
    }),
    "Mandataris": (str(MANDAAT.Mandataris), {}),
}

#: class IRI -> the type term we use for it (one per class; see CONTEXT_TERMS)
TYPE_TERMS = {iri: term for term, (iri, _) in CONTEXT_TERMS.items()}
#: when a node has several types, the scope of the first one in this order is used for its terms
TYPE_PRIORITY = [
    str(BESLUIT.Besluit), str(ELI.LegalExpression), str(ELI.LegalResource), str(ELI.LegalResourceSubdivision),
    str(BESLUIT.BehandelingVanAgendapunt), str(BESLUIT.Agendapunt), str(BESLUIT.Zitting), str(BESLUIT.Stemming),
    str(BESLUIT.Bestuursorgaan), str(BESLUIT.Bestuurseenheid), str(MANDAAT.Mandataris),
]

#: the bridge's own JSON-LD context for the official context URL, shipped as package data (see README "Inbound")
PACKAGED_CONTEXT = "data/besluit-publicatie-terms.context.jsonld"


def context_document() -> dict:
    """A JSON-LD context with the terms of :data:`CONTEXT_TERMS`, in the official context's shape (one type term per
    class, its property terms in a type-scoped context). Written by us, term by term, from the table above — not a
    copy of the official file, which stays where it is published."""
    ctx: dict = {}
    for type_term, (class_iri, terms) in CONTEXT_TERMS.items():
        entry: dict = {"@id": class_iri}
        if terms:
            entry["@context"] = {t: {"@id": iri, "@type": coercion} for t, (iri, coercion) in sorted(terms.items())}
        ctx[type_term] = entry
    return {"@context": ctx}


def packaged_context() -> dict:
    """The shipped context document (:data:`PACKAGED_CONTEXT`)."""
    import json
    from importlib import resources
    return json.loads(resources.files("backoffice_bridge").joinpath(PACKAGED_CONTEXT).read_text(encoding="utf-8"))
