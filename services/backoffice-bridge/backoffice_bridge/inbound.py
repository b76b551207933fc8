"""Inbound: a back-office posts a decision; we turn it into idea "status change commands".

Accepted bodies (``parse_inbound(body, media_type)``):

* ``application/json`` — our Decision JSON (:mod:`backoffice_bridge.schemas`);
* ``text/turtle`` / ``application/ld+json`` — an OSLO Besluit publication (our own renderer's output
  round-trips). The decision must be the one ``besluit:Besluit`` of the document, and refer to the idea's URL
  (``https://…/tenants/{tenant}/ideas/{idea_id}``) with **``prov:used``** from the ``besluit:BehandelingVanAgendapunt``
  that generated it (the treatment used the citizen proposal as its input; PROV is part of the OSLO model) or
  with ``eli:related_to`` from the Besluit or the ``eli:LegalResource`` it realises. The outcome is read from
  ``agora:outcome`` (``https://agora.example/ns#accepted|rejected|implemented|allocated``) or, failing that,
  from the ``besluit:gevolg`` text of its Stemming (nl/fr/de/en words such as "aanvaard", "goedgekeurd",
  "verworpen", "rejected"…). Feedback is the ``besluit:motivering`` (with its language tag).

Each command (one per referenced idea)::

    {"tenant": "gent", "idea_id": "idea-7", "idea_url": "https://…/tenants/gent/ideas/idea-7",
     "status": "accepted", "feedback": {"text": "…", "language": "nl"} | None,
     "decision_id": "dec-2024-001", "source": "json" | "oslo-ttl" | "oslo-jsonld"}

JSON-LD ``@context`` URLs are never fetched. The official OSLO context URL resolves by default to the terms the
bridge ships as package data (:func:`backoffice_bridge.vocab.packaged_context`: every term our own output uses,
which is every term inbound reads); ``contexts={url: context_document}`` replaces it (e.g. the full official
context loaded with :func:`backoffice_bridge.validation.load_context`). An unknown remote context is an error.
Every failure raises :class:`InboundError` with a one-line reason.

:class:`InboundDecisions` is the use case behind ``POST /decisions/inbound``: validate, change each idea's status
through the ideas service (RPC with the bridge's own service identity), record ``InboundDecisionReceived``.
"""
from __future__ import annotations

import json
import re
from typing import Any, Mapping, Optional, Union

from agora.errors import AgoraError
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import PROV, RDF

from backoffice_bridge import domain
from backoffice_bridge.schemas import DecisionInvalid, load_decision
from backoffice_bridge.vocab import AGORA, BESLUIT, ELI

MAX_BODY = 10 * 1024 * 1024
MEDIA_TYPES = {
    "application/json": "json",
    "text/turtle": "oslo-ttl",
    "application/x-turtle": "oslo-ttl",
    "application/ld+json": "oslo-jsonld",
}
#: words in besluit:gevolg texts -> outcome (lower-cased, matched as whole words)
GEVOLG_WORDS = {
    "accepted": ["aanvaard", "aangenomen", "goedgekeurd", "approved", "accepted", "adopted", "accepté", "adopté",
                 "approuvé", "angenommen", "genehmigt"],
    "rejected": ["verworpen", "afgewezen", "afgekeurd", "rejected", "refused", "rejeté", "refusé", "abgelehnt"],
    "implemented": ["uitgevoerd", "implemented", "réalisé", "umgesetzt"],
    "allocated": ["toegekend", "allocated", "attribué", "bewilligt"],
}


class UnsupportedMediaType(AgoraError):
    status = 415
    code = "unsupported_media_type"


class UpstreamUnavailable(AgoraError):
    status = 503
    code = "upstream_unavailable"


class InboundError(ValueError):
    """The posted decision cannot be turned into status change commands (reason in ``str(exc)``)."""


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def media_kind(media_type: str) -> str:
    kind = MEDIA_TYPES.get(media_type.split(";")[0].strip().lower())
    if kind is None:
        raise InboundError(f"unsupported media type {media_type!r} (expected one of {', '.join(MEDIA_TYPES)})")
    return kind


def _command(url: str, status: str, feedback: Optional[dict], decision_id: str, source: str) -> dict:
    match = domain.IDEA_URL_RE.match(url)
    assert match is not None
    return {
        "tenant": match.group("tenant"),
        "idea_id": match.group("idea_id"),
        "idea_url": url,
        "status": status,
        "feedback": feedback,
        "decision_id": decision_id,
        "source": source,
    }


def commands_from_decision(d: domain.Decision, source: str = "json") -> list[dict]:
    """Status change commands of a validated Decision: one per subject whose URL is an Agora idea URL."""
    feedback = {"text": d.motivation, "language": d.language} if d.motivation is not None else None
    commands = []
    for s in d.subjects:
        match = domain.IDEA_URL_RE.match(s.url)
        if match is None:
            continue
        if match.group("tenant") != d.tenant:
            raise InboundError(f"subject {s.id!r} refers to tenant {match.group('tenant')!r}, "
                               f"the decision belongs to {d.tenant!r}")
        commands.append(_command(s.url, d.status, feedback, d.id, source))
    if not commands:
        raise InboundError("no subject refers to an Agora idea URL (…/tenants/{tenant}/ideas/{idea_id})")
    return commands


# -------------------------------------------------------------------------------------------------- RDF
def _outcome_from_gevolg(texts: list[str]) -> Optional[str]:
    found = set()
    for text in texts:
        words = set(re.findall(r"\w+", text.lower()))
        for outcome, vocab in GEVOLG_WORDS.items():
            if words & set(vocab):
                found.add(outcome)
    return found.pop() if len(found) == 1 else None


def commands_from_graph(g: Graph, source: str) -> list[dict]:
    besluiten = sorted(set(g.subjects(RDF.type, BESLUIT.Besluit)), key=str)
    if len(besluiten) != 1:
        raise InboundError(f"expected exactly one besluit:Besluit in the document, found {len(besluiten)}")
    besluit = besluiten[0]
    identifier = g.value(besluit, URIRef("http://purl.org/dc/terms/identifier"))
    decision_id = str(identifier) if identifier is not None else str(besluit)

    behandelingen = set(g.objects(besluit, PROV.wasGeneratedBy)) | set(g.subjects(PROV.generated, besluit))
    urls: set[str] = set()
    for b in behandelingen:
        urls |= {str(o) for o in g.objects(b, PROV.used) if isinstance(o, URIRef)}
    for node in [besluit, *g.objects(besluit, ELI.realizes)]:
        urls |= {str(o) for o in g.objects(node, ELI.related_to) if isinstance(o, URIRef)}
    idea_urls = sorted(u for u in urls if domain.IDEA_URL_RE.match(u))
    if not idea_urls:
        raise InboundError("the besluit:Besluit refers to no Agora idea URL (…/tenants/{tenant}/ideas/{idea_id}) "
                           "via prov:used (on its BehandelingVanAgendapunt) or eli:related_to")

    outcomes = {str(o)[len(str(AGORA)):] for o in g.objects(besluit, AGORA.outcome)}
    if len(outcomes) > 1:
        raise InboundError(f"conflicting agora:outcome values: {sorted(outcomes)}")
    if outcomes:
        outcome = outcomes.pop()
        if outcome not in domain.OUTCOME_TO_STATUS:
            raise InboundError(f"unknown agora:outcome {outcome!r} (expected one of {', '.join(domain.OUTCOMES)})")
    else:
        gevolg = [str(t) for b in behandelingen for st in g.objects(b, BESLUIT.heeftStemming)
                  for t in g.objects(st, BESLUIT.gevolg)]
        outcome = _outcome_from_gevolg(gevolg)
        if outcome is None:
            raise InboundError("cannot tell the outcome: no agora:outcome on the besluit:Besluit and no "
                               "recognisable besluit:gevolg on its Stemming")

    feedback = None
    generated = g.value(besluit, AGORA.motivationGenerated)
    if not (isinstance(generated, Literal) and generated.toPython() is True):
        motivations = sorted(g.objects(besluit, BESLUIT.motivering), key=lambda lit: (str(lit.language), str(lit)))
        if motivations:
            m = motivations[0]
            feedback = {"text": str(m), "language": getattr(m, "language", None)}
    status = domain.OUTCOME_TO_STATUS[outcome]
    return [_command(url, status, feedback, decision_id, source) for url in idea_urls]


def _inline_contexts(node: Any, contexts: Mapping[str, Any]) -> Any:
    """Replace every remote ``@context`` reference by the local document (never fetch)."""
    def resolve(ctx: Any) -> Any:
        if isinstance(ctx, str):
            if ctx not in contexts:
                raise InboundError(f"remote JSON-LD @context {ctx!r} is not configured locally (never fetched)")
            doc = contexts[ctx]
            return doc.get("@context", doc) if isinstance(doc, Mapping) else doc
        if isinstance(ctx, list):
            return [resolve(c) for c in ctx]
        if isinstance(ctx, Mapping) and "@import" in ctx:
            raise InboundError("JSON-LD @import in a context is not supported")
        return ctx

    if isinstance(node, list):
        return [_inline_contexts(n, contexts) for n in node]
    if isinstance(node, Mapping):
        return {k: (resolve(v) if k == "@context" else _inline_contexts(v, contexts)) for k, v in node.items()}
    return node


def default_contexts() -> dict:
    from backoffice_bridge.vocab import OFFICIAL_CONTEXT_URL, packaged_context
    return {OFFICIAL_CONTEXT_URL: packaged_context()}


def parse_inbound(body: Union[bytes, str], media_type: str, *,
                  contexts: Optional[Mapping[str, Any]] = None, max_bytes: int = MAX_BODY) -> list[dict]:
    """Parse and validate a posted decision -> list of status change commands (see module doc)."""
    kind = media_kind(media_type)
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if len(raw) > max_bytes:
        raise InboundError(f"body too large ({len(raw)} bytes > {max_bytes})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InboundError(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    if kind == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InboundError(f"malformed JSON: {exc.msg} (line {exc.lineno} column {exc.colno})") from None
        try:
            return commands_from_decision(load_decision(data), "json")
        except DecisionInvalid as exc:
            raise InboundError(_one_line(str(exc))) from None
    g = Graph()
    if kind == "oslo-ttl":
        try:
            g.parse(data=text, format="turtle")
        except Exception as exc:  # rdflib raises several unrelated types for bad Turtle
            raise InboundError(_one_line(f"malformed Turtle: {exc}")) from None
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InboundError(f"malformed JSON-LD: {exc.msg} (line {exc.lineno} column {exc.colno})") from None
        doc = _inline_contexts(doc, default_contexts() if contexts is None else contexts)
        try:
            g.parse(data=json.dumps(doc), format="json-ld")
        except Exception as exc:
            raise InboundError(_one_line(f"malformed JSON-LD: {exc}")) from None
    return commands_from_graph(g, kind)


# ================================================================== the use case
class InboundDecisions:
    """``apply(tenant, caller, raw, content_type, change_status)`` → (HTTP status, body).

    ``change_status(tenant, idea_id, status, feedback, feedback_language)`` is the ideas service's RPC
    ``change_status_from_decision`` (called with the bridge's service identity); it raises the ideas service's
    coded errors, nameko's ``RemoteError`` or :class:`UpstreamUnavailable`.

    Re-posting a decision whose ideas all changed answers the recorded receipt (no second status change); when some
    failed, a re-post retries those only and records a new receipt in the same stream."""

    ERROR_STATUS = {"ValidationFailed": 422, "ValidationError": 422, "NotFound": 404, "Conflict": 409,
                    "ConcurrencyError": 409, "Forbidden": 403, "Unauthorized": 401, "BadRequest": 400}

    def __init__(self, store, runner, settings):
        self.store = store
        self.runner = runner
        self.settings = settings
        self._contexts = None

    def contexts(self) -> dict:
        if self._contexts is None:
            contexts = default_contexts()
            if self.settings.oslo_context:
                from backoffice_bridge.validation import load_context
                from backoffice_bridge.vocab import OFFICIAL_CONTEXT_URL
                contexts[OFFICIAL_CONTEXT_URL] = load_context(self.settings.oslo_context)
            self._contexts = contexts
        return self._contexts

    def parse(self, tenant: str, raw: bytes, content_type: str) -> tuple[str, list[dict]]:
        from agora.errors import BadRequest, ValidationFailed
        from agora.events.ideas import FEEDBACK_MAX   # the IdeaStatusChanged contract: checked here, with reasons
        try:
            kind = media_kind(content_type or "")
        except InboundError as exc:
            raise UnsupportedMediaType(str(exc)) from None
        if len(raw) > MAX_BODY:
            raise BadRequest(f"body too large ({len(raw)} bytes > {MAX_BODY})")
        if kind == "json":
            try:
                data = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
                raise BadRequest(f"request body is not valid UTF-8 JSON: {exc}") from None
            try:
                decision = load_decision(data)
            except DecisionInvalid as exc:
                raise ValidationFailed(exc.fields, "invalid decision") from None
            try:
                commands = commands_from_decision(decision, "json")
            except InboundError as exc:
                raise ValidationFailed({"subjects": [str(exc)]}, str(exc)) from None
        else:
            try:
                commands = parse_inbound(raw, content_type, contexts=self.contexts())
            except InboundError as exc:
                msg = str(exc)
                if msg.startswith(("malformed", "body is not UTF-8", "remote JSON-LD", "JSON-LD @import")):
                    raise BadRequest(msg) from None
                raise ValidationFailed({"_schema": [msg]}, msg) from None
            except RecursionError:
                raise BadRequest("the document is nested too deeply") from None
        too_long = [c["idea_id"] for c in commands if len((c.get("feedback") or {}).get("text") or "") > FEEDBACK_MAX]
        if too_long:
            raise ValidationFailed({"motivation": [f"at most {FEEDBACK_MAX} characters: it becomes the ideas' "
                                                   "official feedback"]}, "motivation too long for idea feedback")
        wrong = sorted({c["tenant"] for c in commands if c["tenant"] != tenant})
        if wrong:
            raise ValidationFailed({"subjects": [f"refers to ideas of tenant(s) {wrong}, not {tenant!r}"]},
                                   "decision is about another tenant's ideas")
        return kind, commands

    def apply(self, tenant: str, person: str, raw: bytes, content_type: str, change_status) -> tuple[int, dict]:
        import hashlib
        from agora.events import NewEvent
        from backoffice_bridge import decisions as dmap
        from backoffice_bridge.domain import inbound_status

        kind, commands = self.parse(tenant, raw, content_type)
        decision_id = commands[0]["decision_id"]
        sha = hashlib.sha256(raw).hexdigest()
        stream = "inbound-" + dmap.derived_id("inbound", tenant, decision_id, sha)
        receipts = [e for e in self.store.read_stream(tenant, stream) if e.type == "InboundDecisionReceived"]
        done = {c["idea_id"]: c for c in (receipts[-1].data["commands"] if receipts else [])
                if c.get("result") == "applied"}
        if receipts and len(done) == len(commands):
            results = [dict(c, reply=None) for c in receipts[-1].data["commands"]]
            return 200, {"decision_id": decision_id, "source": kind, "results": results, "replayed": True}
        results, codes = [], []
        for c in commands:
            fb = c.get("feedback") or {}
            entry = {"idea_id": c["idea_id"], "status": c["status"], "feedback": fb.get("text"),
                     "feedback_language": fb.get("language"),
                     "command_id": dmap.inbound_command_id(tenant, c["decision_id"], c["idea_id"], c["status"])}
            if c["idea_id"] in done:
                entry.update(result="applied", error=None)
                codes.append(200)
                results.append(dict(entry, reply=None))
                continue
            try:
                reply = change_status(tenant, c["idea_id"], c["status"], fb.get("text") or "", fb.get("language"))
                entry.update(result="applied", error=None)
                codes.append(200)
                results.append(dict(entry, reply=reply if isinstance(reply, dict) else None))
            except UpstreamUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - nameko RemoteError carries the remote type
                etype = getattr(exc, "exc_type", None) or type(exc).__name__
                message = getattr(exc, "value", None) or str(exc)
                code = self.ERROR_STATUS.get(etype, 502)
                entry.update(result="failed", error=f"{etype}: {message}"[:2000])
                codes.append(code)
                results.append(dict(entry, http_status=code))
        receipt = {"decision_id": decision_id[:2000], "source": kind, "body_sha256": sha, "received_by": person,
                   "commands": [{k: r.get(k) for k in ("idea_id", "status", "feedback", "feedback_language",
                                                        "command_id", "result", "error")} for r in results]}
        self.runner.run(tenant, stream, lambda _events: NewEvent("InboundDecisionReceived", receipt))
        status = inbound_status(codes)
        body = {"decision_id": decision_id, "source": kind, "results": results}
        if status != 200:
            body.update(error="inbound_failed" if status != 207 else "partially_applied",
                        message="; ".join(r["error"] for r in results if r.get("error")))
        return status, body
