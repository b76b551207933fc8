"""Small self-contained reader for Pabulib ``.pb`` files (https://pabulib.org/format) — no third-party dependency.

A file has three sections, each introduced by a line ``META``, ``PROJECTS`` or ``VOTES`` followed by a ``;``-separated
header line and rows (CSV quoting allowed). ``META`` is ``key;value``; ``PROJECTS`` is keyed by ``project_id``;
``VOTES`` by ``voter_id`` with ``vote`` = comma-separated project ids (approval, ordinal or cumulative ballots —
every listed project counts as one support here; ``points``, if present, is kept in the raw row).

:func:`read_pb` → :class:`PBInstance`; :func:`pb_to_ideas` turns it into the batch input records used by
:mod:`analytics.domain`: one idea per project (``name`` + ``description`` as text, ``category`` kept — the first
listed category is the project's primary category) with one support per vote carrying the voter's demographics
(``age``, ``sex`` → ``gender``, ``district``/``neighbourhood``, ``birthyear``/``birth_year``).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

SECTIONS = ("META", "PROJECTS", "VOTES")


class PBFormatError(ValueError):
    """The file is not a readable Pabulib instance (message says where)."""


@dataclass
class PBInstance:
    meta: dict[str, str] = field(default_factory=dict)
    projects: dict[str, dict[str, str]] = field(default_factory=dict)
    votes: list[dict[str, str]] = field(default_factory=list)


def read_pb(path: str | Path) -> PBInstance:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise PBFormatError(f"{path}: not UTF-8 text ({exc.reason})") from None
    return parse_pb(text, str(path))


def parse_pb(text: str, name: str = "<pb>") -> PBInstance:
    inst = PBInstance()
    section = None
    header: list[str] | None = None
    seen: set[str] = set()
    for lineno, row in enumerate(csv.reader(io.StringIO(text), delimiter=";"), start=1):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        first = row[0].strip()
        if len(row) == 1 and first.upper() in SECTIONS:
            section = first.upper()
            seen.add(section)
            header = None
            continue
        if section is None:
            raise PBFormatError(f"{name}:{lineno}: data before any META/PROJECTS/VOTES section")
        if header is None:
            header = [h.strip() for h in row]
            if section == "PROJECTS" and "project_id" not in header:
                raise PBFormatError(f"{name}:{lineno}: PROJECTS header has no project_id column")
            if section == "VOTES" and ("voter_id" not in header or "vote" not in header):
                raise PBFormatError(f"{name}:{lineno}: VOTES header needs voter_id and vote columns")
            continue
        if len(row) != len(header):
            raise PBFormatError(f"{name}:{lineno}: {len(row)} fields, header has {len(header)}")
        rec = {h: v.strip() for h, v in zip(header, row)}
        if section == "META":
            inst.meta[rec.get("key", row[0])] = rec.get("value", row[-1])
        elif section == "PROJECTS":
            inst.projects[rec["project_id"]] = rec
        else:
            inst.votes.append(rec)
    missing = [s for s in ("PROJECTS",) if s not in seen]
    if missing:
        raise PBFormatError(f"{name}: no {'/'.join(missing)} section (is this a Pabulib file?)")
    for vote in inst.votes:
        for pid in vote_projects(vote):
            if pid not in inst.projects:
                raise PBFormatError(f"{name}: voter {vote.get('voter_id')} votes for unknown project {pid!r}")
    return inst


def vote_projects(vote: dict[str, str]) -> list[str]:
    return [p.strip() for p in (vote.get("vote") or "").split(",") if p.strip()]


def voter_demographics(vote: dict[str, str]) -> dict[str, str]:
    d: dict[str, str] = {}
    for src, dst in (("age", "age"), ("age_band", "age_band"), ("sex", "gender"), ("gender", "gender"),
                     ("district", "district"), ("neighborhood", "district"), ("neighbourhood", "district"),
                     ("birthyear", "birthyear"), ("birth_year", "birthyear")):
        value = vote.get(src)
        if value not in (None, "") and dst not in d:
            d[dst] = value
    return d


def primary_category(project: dict[str, str]) -> str | None:
    first = (project.get("category") or "").split(",")[0].strip()
    return first or None


def pb_to_ideas(inst: PBInstance) -> list[dict]:
    """Batch input records ``{"id", "text", "category", "demographics": {}, "votes": [{"demographics"}]}``."""
    ideas = {}
    for pid, proj in inst.projects.items():
        text = " ".join(x for x in (proj.get("name", ""), proj.get("description", "")) if x)
        ideas[pid] = {"id": pid, "text": text, "category": primary_category(proj),
                      "categories": [c.strip() for c in (proj.get("category") or "").split(",") if c.strip()],
                      "demographics": {}, "votes": []}
    for vote in inst.votes:
        demo = voter_demographics(vote)
        for pid in vote_projects(vote):
            ideas[pid]["votes"].append({"demographics": demo, "voter_id": vote.get("voter_id")})
    return list(ideas.values())
