"""Analytics' reading of Pabulib ``.pb`` files (https://pabulib.org/format) — the file format itself is read by the
platform's one reader, :mod:`agora.pabulib`; this module only says what its rows mean for the analysis.

:func:`read_pb` (only ``PROJECTS`` is required) → :class:`agora.pabulib.PbFile`; :func:`pb_to_ideas` turns it into
the batch input records used by :mod:`analytics.domain`: one idea per project (``name`` + ``description`` as text,
``category`` kept — the first listed category is the project's primary category) with one support per vote
carrying the voter's demographics (``age``, ``sex`` → ``gender``, ``district``/``neighbourhood``,
``birthyear``/``birth_year``). Every project listed in a vote (approval, ordinal or cumulative ballots) counts as one
support. A malformed file raises :class:`agora.pabulib.PabulibError` (``line``, ``reason``).
"""
from __future__ import annotations

from pathlib import Path

from agora.pabulib import PabulibError, PbFile, read, split_list

__all__ = ["REQUIRED", "PabulibError", "read_pb", "vote_projects", "voter_demographics", "primary_category",
           "pb_to_ideas"]

#: the sections analytics needs (a file without votes still gives ideas)
REQUIRED = ("PROJECTS",)


def read_pb(path: str | Path) -> PbFile:
    return read(path, sections=REQUIRED)


def vote_projects(vote: dict[str, str]) -> list[str]:
    return split_list(vote.get("vote"))


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
    first = split_list(project.get("category"))
    return first[0] if first else None


def pb_to_ideas(pb: PbFile) -> list[dict]:
    """Batch input records ``{"id", "text", "category", "demographics": {}, "votes": [{"demographics"}]}``."""
    ideas = {}
    for proj in pb.projects:
        pid = proj["project_id"]
        text = " ".join(x for x in (proj.get("name", ""), proj.get("description", "")) if x)
        ideas[pid] = {"id": pid, "text": text, "category": primary_category(proj),
                      "categories": split_list(proj.get("category")), "demographics": {}, "votes": []}
    for vote in pb.votes:
        demo = voter_demographics(vote)
        for pid in vote_projects(vote):
            ideas[pid]["votes"].append({"demographics": demo, "voter_id": vote.get("voter_id")})
    return list(ideas.values())
