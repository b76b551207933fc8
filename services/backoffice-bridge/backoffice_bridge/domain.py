"""The Decision model and the pure rules around it (no nameko / pymongo / pika imports).

A :class:`Decision` is what a back-office (a municipal council, a college, a budget committee) decided about
one or more Agora ideas or budget projects. It is built by :class:`backoffice_bridge.schemas.DecisionSchema`
(``DecisionSchema().load(json_dict)``) and consumed by the renderers in :mod:`backoffice_bridge.renderers`.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Optional
from urllib.parse import quote

from agora.errors import Conflict, Forbidden, ValidationFailed
from agora.events import NewEvent

KINDS = ("idea_status", "budget_outcome")
OUTCOMES = ("accepted", "rejected", "implemented", "allocated")
SUBJECT_TYPES = ("idea", "project")
#: outcome of a decision -> status of the idea it is about (what the ideas service understands)
OUTCOME_TO_STATUS = {
    "accepted": "accepted",
    "allocated": "accepted",  # a budget allocated to a project accepts the idea behind it
    "rejected": "rejected",
    "implemented": "implemented",
}
STATUSES = ("accepted", "rejected", "implemented")

#: ``.../tenants/{tenant}/ideas/{idea_id}`` (optionally with a trailing slash, query or fragment)
IDEA_URL_RE = re.compile(
    r"^https?://[^\s/]+(?:/[^\s?#]*)?/tenants/(?P<tenant>[^/?#\s]+)/ideas/(?P<idea_id>[^/?#\s]+)/?(?:[?#]\S*)?$"
)

#: ISO 639-1 primary language subtag -> code of the EU "language" authority table
#: (http://publications.europa.eu/resource/authority/language/…), also used (lower-cased) for AKN FRBRlanguage.
EU_LANGUAGE_CODES = {
    "bg": "BUL", "cs": "CES", "da": "DAN", "de": "DEU", "el": "ELL", "en": "ENG", "es": "SPA", "et": "EST",
    "fi": "FIN", "fr": "FRA", "ga": "GLE", "hr": "HRV", "hu": "HUN", "it": "ITA", "lt": "LIT", "lv": "LAV",
    "mt": "MLT", "nl": "NLD", "pl": "POL", "pt": "POR", "ro": "RON", "sk": "SLK", "sl": "SLV", "sv": "SWE",
    "ar": "ARA", "tr": "TUR", "ru": "RUS", "uk": "UKR", "he": "HEB", "fa": "FAS", "zh": "ZHO", "ja": "JPN",
    "ko": "KOR", "no": "NOR", "nb": "NOB", "nn": "NNO", "is": "ISL", "sq": "SQI", "sr": "SRP", "bs": "BOS",
    "mk": "MKD", "ca": "CAT", "eu": "EUS", "gl": "GLG", "lb": "LTZ", "fy": "FRY", "cy": "CYM", "hi": "HIN",
    "ur": "URD", "ber": "BER", "am": "AMH", "so": "SOM", "ti": "TIR", "ku": "KUR", "ps": "PUS", "hy": "HYE",
    "ka": "KAT", "az": "AZE", "ro-md": "RON",
}
EU_LANGUAGE_BASE = "http://publications.europa.eu/resource/authority/language/"

#: Localised labels of outcomes (used for besluit:gevolg and as the fallback motivation); English otherwise.
OUTCOME_LABELS = {
    "nl": {"accepted": "aanvaard", "rejected": "verworpen", "implemented": "uitgevoerd", "allocated": "toegekend"},
    "fr": {"accepted": "accepté", "rejected": "rejeté", "implemented": "réalisé", "allocated": "attribué"},
    "de": {"accepted": "angenommen", "rejected": "abgelehnt", "implemented": "umgesetzt", "allocated": "bewilligt"},
    "en": {"accepted": "accepted", "rejected": "rejected", "implemented": "implemented", "allocated": "allocated"},
}
FALLBACK_MOTIVATION = {
    "nl": "Geen motivering meegedeeld; beslissing: {label}.",
    "fr": "Aucune motivation communiquée ; décision : {label}.",
    "de": "Keine Begründung mitgeteilt; Entscheidung: {label}.",
    "en": "No motivation was communicated; decision: {label}.",
}


def primary_language(tag: str) -> str:
    return tag.split("-")[0].lower()


def eu_language_code(tag: str) -> str:
    """EU authority code for a BCP 47 tag (``nl-BE`` -> ``NLD``); ``MUL`` is never guessed: unknown -> ``UND``."""
    return EU_LANGUAGE_CODES.get(tag.lower()) or EU_LANGUAGE_CODES.get(primary_language(tag), "UND")


def outcome_label(outcome: str, language: str) -> str:
    return OUTCOME_LABELS.get(primary_language(language), OUTCOME_LABELS["en"])[outcome]


def label_language(language: str) -> str:
    """The language the generated labels are in: the decision's own when we have labels for it, else ``en``."""
    return language if primary_language(language) in OUTCOME_LABELS else "en"


def fallback_motivation(outcome: str, language: str) -> str:
    lang = primary_language(label_language(language))
    return FALLBACK_MOTIVATION[lang].format(label=outcome_label(outcome, lang))


# --------------------------------------------------------------------------------------------------- model
@dataclass(frozen=True)
class Person:
    """A mandatary (council member, chair, secretary…) as the back-office identifies them."""
    id: str
    name: Optional[str] = None


@dataclass(frozen=True)
class AdministrativeUnit:
    """The administrative unit (municipality…) the deciding body governs (OSLO besluit:Bestuurseenheid)."""
    id: str
    name: str
    classification: str = "municipality"


@dataclass(frozen=True)
class Body:
    """The deciding body (OSLO besluit:Bestuursorgaan): council, college, committee…"""
    id: str
    name: str
    classification: str = "council"
    administrative_unit: Optional[AdministrativeUnit] = None


@dataclass(frozen=True)
class Session:
    """The sitting in which the decision was taken (OSLO besluit:Zitting)."""
    id: str
    planned_start: dt.datetime
    started_at: dt.datetime
    ended_at: dt.datetime
    chair: Optional[Person] = None
    secretary: Optional[Person] = None
    location: Optional[str] = None


@dataclass(frozen=True)
class Subject:
    """What the decision is about: an Agora idea or a budget project, identified by its public URL."""
    type: str
    id: str
    title: str
    url: str
    amount: Optional[Decimal] = None
    currency: Optional[str] = None


@dataclass(frozen=True)
class Votes:
    for_: int
    against: int
    abstain: int
    secret: bool = False


@dataclass(frozen=True)
class Decision:
    id: str
    tenant: str
    kind: str
    title: str
    language: str
    decided_by: Body
    decided_on: dt.date
    outcome: str
    subjects: tuple[Subject, ...]
    description: Optional[str] = None
    motivation: Optional[str] = None
    session: Optional[Session] = None
    published_on: Optional[dt.date] = None
    votes: Optional[Votes] = None
    attendees: tuple[Person, ...] = field(default_factory=tuple)
    public: bool = True

    @property
    def status(self) -> str:
        """The idea status this decision sets (``allocated`` -> ``accepted``)."""
        return OUTCOME_TO_STATUS[self.outcome]

    @property
    def administrative_unit(self) -> AdministrativeUnit:
        """The governed unit; defaults to the tenant itself."""
        return self.decided_by.administrative_unit or AdministrativeUnit(id=self.tenant, name=self.tenant)


# --------------------------------------------------------------------------------------------------- IRIs
DEFAULT_BASE = "https://{tenant}.agora.example/id/"


class IriMinter:
    """Mints stable IRIs for everything a decision links to, from a base template.

    ``base`` may contain ``{tenant}``; it must end with ``/`` or ``#``. Every IRI is
    ``{base}{collection}/{quoted id}`` so the same decision always gets the same IRIs::

        IriMinter("https://{tenant}.agora.example/id/").besluit(d)
        # -> https://gent.agora.example/id/besluit/d-42
    """

    def __init__(self, base: str = DEFAULT_BASE):
        if not base.endswith(("/", "#")):
            raise ValueError(f"IRI base must end with '/' or '#': {base!r}")
        if not re.match(r"^https?://", base):
            raise ValueError(f"IRI base must be an http(s) IRI: {base!r}")
        self.base = base

    def _base(self, tenant: str) -> str:
        return self.base.replace("{tenant}", tenant)

    def mint(self, tenant: str, collection: str, *ids: str) -> str:
        return self._base(tenant) + collection + "".join("/" + quote(str(i), safe="") for i in ids)

    # the nodes of an OSLO Besluit publication
    def besluit(self, d: Decision) -> str:
        return self.mint(d.tenant, "besluit", d.id)

    def rechtsgrond(self, d: Decision) -> str:
        return self.mint(d.tenant, "rechtsgrond", d.id)

    def artikel(self, d: Decision, number: int = 1) -> str:
        return self.mint(d.tenant, "rechtsgrond", d.id, "artikel", str(number))

    def behandeling(self, d: Decision) -> str:
        return self.mint(d.tenant, "behandeling", d.id)

    def agendapunt(self, d: Decision) -> str:
        return self.mint(d.tenant, "agendapunt", d.id)

    def stemming(self, d: Decision) -> str:
        return self.mint(d.tenant, "stemming", d.id)

    def zitting(self, d: Decision) -> str:
        assert d.session is not None
        return self.mint(d.tenant, "zitting", d.session.id)

    def bestuursorgaan(self, d: Decision) -> str:
        return self.mint(d.tenant, "bestuursorgaan", d.decided_by.id)

    def bestuurseenheid(self, d: Decision) -> str:
        return self.mint(d.tenant, "bestuurseenheid", d.administrative_unit.id)

    def werkingsgebied(self, d: Decision) -> str:
        return self.mint(d.tenant, "werkingsgebied", d.administrative_unit.id)

    def mandataris(self, d: Decision, person: Person) -> str:
        return self.mint(d.tenant, "mandataris", person.id)

    def concept(self, d: Decision, scheme: str, code: str) -> str:
        """A concept of one of our own code lists, unless ``code`` is already an absolute IRI."""
        if re.match(r"^https?://", code):
            return code
        return self.mint(d.tenant, "concept", scheme, code)


# --------------------------------------------------------------------------------------------------- adapters
#: what a partner may register for itself (a drop folder writes on the platform's disks: staff only)
PARTNER_ADAPTER_TYPES = ("webhook", "pull")
ADAPTER_FIELDS = ("type", "format", "enabled", "url", "folder", "max_attempts", "backoff_base_s", "backoff_cap_s",
                  "timeout_s")


def adapter_from_events(events) -> Optional[dict]:
    """The adapter as its last ``DeliveryConfigured`` says (None: never configured)."""
    state = None
    for ev in events:
        if ev.type == "DeliveryConfigured":
            state = dict(ev.data)
    return state


def may_manage(adapter: Optional[dict], person: str, staff: bool) -> bool:
    """Staff manage every adapter of their tenant; a partner only the ones it registered."""
    return staff or (adapter is not None and adapter.get("owned_by") == person)


def configure_adapter(current: Optional[dict], adapter_id: str, spec: dict, *, person: str, staff: bool,
                      has_secret: bool):
    """``DeliveryConfigured`` for a create-or-change of an adapter, or a refusal (coded errors)."""
    if current is not None and not may_manage(current, person, staff):
        raise Conflict(f"the adapter id {adapter_id!r} is taken: choose another", reason="adapter_id_taken")
    if not staff and spec["type"] not in PARTNER_ADAPTER_TYPES:
        raise Forbidden(f"partners register {' or '.join(PARTNER_ADAPTER_TYPES)} adapters",
                        reason="adapter_type_not_allowed")
    if spec["type"] == "webhook" and not has_secret:
        raise ValidationFailed({"secret": ["a signing secret is required for a new webhook"]})
    data = {k: spec[k] for k in ADAPTER_FIELDS if k in spec}
    data.update(adapter_id=adapter_id, configured_by=person,
                owned_by=current.get("owned_by") if current is not None else (None if staff else person))
    return NewEvent("DeliveryConfigured", data)


REPLAYABLE = ("dead_lettered", "cancelled")


def check_replay(status: str, force: bool) -> None:
    """A dead-lettered or cancelled delivery may be replayed; a succeeded one only when forced."""
    allowed = REPLAYABLE + (("succeeded",) if force else ())
    if status not in allowed:
        raise Conflict(f"the delivery is {status}; replay applies to {' or '.join(allowed)}"
                       + ("" if force else " (force=true also replays a succeeded delivery)"),
                       reason="delivery_not_replayable")


def inbound_status(codes: list[int]) -> int:
    """The HTTP status of an inbound decision from its per-idea results: 200 all applied, the common status when
    all failed alike, 207 otherwise."""
    failed = [c for c in codes if c != 200]
    if not failed:
        return 200
    if len(failed) == len(codes) and len(set(failed)) == 1:
        return failed[0]
    return 207
