"""Validators against the official artefacts (SHACL, XSD, JSON Schema), read from files the caller names.

The artefacts are not shipped with the package (they live in the read-only ``shared/standards`` folder or a
deployment volume); every loader takes their path. Nothing here touches the network: the AKN schema's
``xml.xsd`` import is resolved next to the main XSD, Popolo ``$ref``s through a local registry, and pyshacl
only sees the graphs it is given. Build each validator once and reuse it (loading is the slow part).

pyshacl is imported lazily (optional dependency ``backoffice-bridge[validate]``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Union

from rdflib import Graph, Literal, Namespace
from rdflib.namespace import XSD

SH = Namespace("http://www.w3.org/ns/shacl#")
PathLike = Union[str, Path]


# ---------------------------------------------------------------------------------------------------- SHACL
def normalise_shacl_counts(shapes: Graph) -> int:
    """Retype string-typed ``sh:minCount``/``sh:maxCount`` literals as xsd:integer, in place.

    The 2025-12-11 "erkende standaard" shapes type most of them as strings ("1"), which SHACL forbids and
    pyshacl refuses (``ConstraintLoadError``). Returns the number of literals fixed.
    """
    fixed = 0
    for prop in (SH.minCount, SH.maxCount):
        for s, o in list(shapes.subject_objects(prop)):
            if isinstance(o, Literal) and o.datatype != XSD.integer:
                shapes.remove((s, prop, o))
                shapes.add((s, prop, Literal(int(str(o)), datatype=XSD.integer)))
                fixed += 1
    return fixed


def load_shapes(path: PathLike, *, normalise: bool = True) -> Graph:
    shapes = Graph().parse(str(path), format="turtle")
    if normalise:
        normalise_shacl_counts(shapes)
    return shapes


@dataclass
class ShaclReport:
    conforms: bool
    text: str
    results: Graph

    def messages(self) -> list[str]:
        out = []
        for r in self.results.subjects(SH.resultSeverity, None):
            focus = self.results.value(r, SH.focusNode)
            path = self.results.value(r, SH.resultPath)
            msg = self.results.value(r, SH.resultMessage)
            out.append(f"{focus} {path}: {msg}")
        return sorted(out)


class ShaclValidator:
    """``ShaclValidator(shapes_graph)(data_graph) -> ShaclReport`` with RDFS inference (Besluit ⊑ …)."""

    def __init__(self, shapes: Graph, *, inference: str = "rdfs"):
        self.shapes = shapes
        self.inference = inference

    def __call__(self, data: Graph) -> ShaclReport:
        import pyshacl

        conforms, results, text = pyshacl.validate(data, shacl_graph=self.shapes, inference=self.inference,
                                                   abort_on_first=False, allow_warnings=False)
        return ShaclReport(bool(conforms), str(text), results)


# ---------------------------------------------------------------------------------------------- Akoma Ntoso
def load_akn_schema(xsd_path: PathLike):
    """lxml XMLSchema of Akoma Ntoso 3.0; its ``xml.xsd`` import (``./xml.xsd``) resolves next to it."""
    from lxml import etree

    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.parse(str(xsd_path), parser))


def akn_errors(schema: Any, xml_text: Union[str, bytes]) -> list[str]:
    from lxml import etree

    data = xml_text.encode("utf-8") if isinstance(xml_text, str) else xml_text
    doc = etree.fromstring(data, etree.XMLParser(no_network=True, resolve_entities=False))
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


# --------------------------------------------------------------------------------------------------- Popolo
POPOLO_PARTS = {"motion": "motion.json", "vote_event": "vote_event.json", "votes": "vote.json"}


class PopoloValidator:
    """Validates a ``{"motion", "vote_event", "votes"}`` document against the Popolo draft-03 schemas.

    All ``*.json`` schemas of ``schema_dir`` are registered under their ``id``
    (``http://www.popoloproject.com/schemas/….json#``) so ``$ref``s resolve locally.
    """

    def __init__(self, schema_dir: PathLike):
        from jsonschema import Draft3Validator
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT3

        schema_dir = Path(schema_dir)
        schemas = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(schema_dir.glob("*.json"))}
        resources = []
        for schema in schemas.values():
            resource = Resource.from_contents(schema, default_specification=DRAFT3)
            uri = schema["id"]
            resources.append((uri, resource))
            resources.append((uri.rstrip("#"), resource))
        registry = Registry().with_resources(resources)
        self.validators = {
            part: Draft3Validator(schemas[name], registry=registry, format_checker=Draft3Validator.FORMAT_CHECKER)
            for part, name in POPOLO_PARTS.items()
        }

    def errors(self, document: dict) -> list[str]:
        out: list[str] = []
        for part in POPOLO_PARTS:
            if part not in document:
                out.append(f"{part}: missing")
                continue
            items: Iterable[Any] = document[part] if part == "votes" else [document[part]]
            if part == "votes" and not isinstance(document[part], list):
                out.append("votes: must be a list")
                continue
            for i, item in enumerate(items):
                where = f"{part}[{i}]" if part == "votes" else part
                for err in self.validators[part].iter_errors(item):
                    loc = "/".join(str(p) for p in err.absolute_path)
                    out.append(f"{where}{'/' + loc if loc else ''}: {err.message}")
        return out


def load_context(path: PathLike) -> dict:
    """The JSON-LD context document at ``path`` (for :func:`backoffice_bridge.inbound.parse_inbound`)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))

